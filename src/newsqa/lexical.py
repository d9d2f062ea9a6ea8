"""The BM25 side of hybrid retrieval (bm25s), kept in step with the store.

The index is built from the passages in Chroma and saved under the data dir,
tagged with the store's generation. A process that finds a saved index for the
current generation loads it instead of rebuilding; any write elsewhere changes
the generation and the next query rebuilds. With a Chroma server, every machine
keeps its own copy the same way.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import Tokenizer

from newsqa.store import Store

_META = "newsqa_meta.json"


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def new_tokenizer() -> Tokenizer:
    return Tokenizer(stemmer=_stemmer(), stopwords="en", lower=True)


@dataclass
class _Index:
    generation: str
    retriever: bm25s.BM25
    tokenizer: Tokenizer
    ids: list[str]
    date_ints: np.ndarray
    article_ids: np.ndarray


class LexicalIndex:
    """BM25 over every passage in the store, with date and article filters."""

    def __init__(self, store: Store, cache_dir: Path | None) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._index: _Index | None = None

    def _current(self) -> _Index | None:
        generation = self.store.generation()
        if self._index is not None and self._index.generation == generation:
            return self._index
        self._index = self._load(generation) or self._build(generation)
        return self._index

    def _build(self, generation: str) -> _Index | None:
        ids: list[str] = []
        texts: list[str] = []
        date_ints: list[int] = []
        article_ids: list[str] = []
        for passage_id, text, meta in self.store.iter_passages():
            ids.append(passage_id)
            # The title is part of what a passage is about ("Peskov" may only be there).
            texts.append(f"{meta.get('title', '')}\n{text}")
            date_ints.append(int(meta.get("date_int", 0)))
            article_ids.append(str(meta["article_id"]))
        if not ids:
            return None
        tokenizer = new_tokenizer()
        tokens = tokenizer.tokenize(texts, return_as="tuple", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        index = _Index(
            generation,
            retriever,
            tokenizer,
            ids,
            np.asarray(date_ints, dtype=np.int64),
            np.asarray(article_ids),
        )
        self._save(index)
        return index

    def _save(self, index: _Index) -> None:
        if self.cache_dir is None:
            return
        tmp = self.cache_dir.with_name(self.cache_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        index.retriever.save(str(tmp), show_progress=False)
        index.tokenizer.save_vocab(str(tmp))
        index.tokenizer.save_stopwords(str(tmp))
        meta = {
            "generation": index.generation,
            "ids": index.ids,
            "date_ints": index.date_ints.tolist(),
            "article_ids": index.article_ids.tolist(),
        }
        (tmp / _META).write_text(json.dumps(meta))
        # Swap in whole so a crash never leaves a half-written index behind.
        shutil.rmtree(self.cache_dir, ignore_errors=True)
        tmp.rename(self.cache_dir)

    def _load(self, generation: str) -> _Index | None:
        if self.cache_dir is None or not (self.cache_dir / _META).exists():
            return None
        try:
            meta = json.loads((self.cache_dir / _META).read_text())
            if meta["generation"] != generation:
                return None
            retriever = bm25s.BM25.load(str(self.cache_dir), show_progress=False)
            tokenizer = new_tokenizer()
            tokenizer.load_vocab(str(self.cache_dir))
            tokenizer.load_stopwords(str(self.cache_dir))
        except (OSError, ValueError, KeyError):
            return None  # unreadable cache: rebuild from the store
        return _Index(
            generation,
            retriever,
            tokenizer,
            list(meta["ids"]),
            np.asarray(meta["date_ints"], dtype=np.int64),
            np.asarray(meta["article_ids"]),
        )

    def search(
        self,
        query: str,
        k: int,
        date_from: int = 0,
        date_to: int = 0,
        article_ids: list[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Passage ids and BM25 scores, best first; only passages that match a term."""
        index = self._current()
        if index is None:
            return []
        mask = np.ones(len(index.ids), dtype=bool)
        if date_from:
            mask &= index.date_ints >= date_from
        if date_to:
            mask &= index.date_ints <= date_to
        if article_ids is not None:
            mask &= np.isin(index.article_ids, article_ids)
        if not mask.any():
            return []
        query_ids = index.tokenizer.tokenize(
            [query], update_vocab=False, return_as="ids", show_progress=False
        )
        k = min(k, len(index.ids))
        docs, scores = index.retriever.retrieve(
            query_ids, k=k, show_progress=False, weight_mask=mask.astype(np.float32), n_threads=1
        )
        return [
            (index.ids[int(doc)], float(score))
            for doc, score in zip(docs[0], scores[0], strict=True)
            if score > 0
        ]
