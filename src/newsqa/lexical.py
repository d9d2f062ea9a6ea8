"""The BM25 side of hybrid retrieval (bm25s), kept in step with the store.

The index is built from the passages in Chroma and saved under the data dir,
tagged with the store's generation. A process that finds a saved index for the
current generation loads it instead of rebuilding; any write elsewhere changes
the generation and the next query brings the index up to date. With a Chroma
server, every machine keeps its own copy the same way.

Bringing it up to date is incremental: the saved index keeps every passage's
token ids, so an update reads only the ids of the stored passages, fetches and
tokenizes only the passages it has not seen, drops the removed ones, and
re-derives the BM25 matrix from the tokens (cheap next to reading and tokenizing
every passage again; see benchmarks/RESULTS.md). A passage id never changes
its text (ids derive from the article's content), so kept tokens stay valid.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized, Tokenizer

from newsqa.dates import mentioned_days, search_words
from newsqa.lexicon import stemmer
from newsqa.models import date_to_int
from newsqa.store import Store, StoredPassage
from newsqa.text import QUESTION_WORDS, WORD

_META = "newsqa_meta.json"
_TOKENS = "newsqa_tokens.npz"  # every passage's token ids, for incremental updates


def new_tokenizer() -> Tokenizer:
    return Tokenizer(stemmer=stemmer(), stopwords="en", lower=True)


def _row(sp: StoredPassage) -> tuple[str, int, str]:
    """What the index keeps of a passage: its BM25 text, date int and article id.

    The title is part of what a passage is about ("Peskov" may only be there), and
    so are its resolved relative dates: "on Monday" is found by "4 March 2024".
    """
    text = f"{sp.title}\n{sp.passage.text}\n{search_words(sp.passage.dates)}"
    return text, date_to_int(sp.date), sp.passage.article_id


@dataclass
class _Index:
    generation: str
    retriever: bm25s.BM25
    tokenizer: Tokenizer
    ids: list[str]
    date_ints: np.ndarray
    article_ids: np.ndarray
    rows: dict[str, int] | None = None  # passage id -> row, built on first use


class LexicalIndex:
    """BM25 over every passage in the store, with date and article filters."""

    def __init__(self, store: Store, cache_dir: Path | None) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._index: _Index | None = None

    def sync(self) -> None:
        """Bring the index up to date with the store now, rather than on the next query."""
        self._current()

    def _current(self) -> _Index | None:
        generation = self.store.generation()
        if self._index is not None and self._index.generation == generation:
            return self._index
        self._index = self._load(generation) or self._build(generation)
        return self._index

    def _fetch(self, ids: list[str]) -> dict[str, tuple[str, int, str]]:
        """(BM25 text, date int, article id) of the given passages."""
        return {sp.passage.id: _row(sp) for sp in self.store.get_passages(ids)}

    def _build(self, generation: str) -> _Index | None:
        """The index for the store as it is now, reusing the saved tokens where it can."""
        previous = self._load_tokens()
        if previous is None:
            return self._build_full(generation)
        tokenizer, old_tokens, old_dates, old_articles = previous
        ids = self.store.passage_ids()
        new_ids = [pid for pid in ids if pid not in old_tokens]
        fetched = self._fetch(new_ids)
        if not ids:
            return None
        ids = [pid for pid in ids if pid in old_tokens or pid in fetched]  # raced deletes
        new_tokens = tokenizer.tokenize(
            [fetched[pid][0] for pid in new_ids if pid in fetched],
            update_vocab=True,
            return_as="ids",
            show_progress=False,
        )
        token_of = dict(zip([pid for pid in new_ids if pid in fetched], new_tokens, strict=True))
        corpus: list[list[int]] = [
            old_tokens[pid].tolist() if pid in old_tokens else list(token_of[pid]) for pid in ids
        ]
        date_ints = [old_dates[pid] if pid in old_dates else fetched[pid][1] for pid in ids]
        article_ids = [old_articles[pid] if pid in old_articles else fetched[pid][2] for pid in ids]
        return self._finish(generation, tokenizer, ids, corpus, date_ints, article_ids)

    def _build_full(self, generation: str) -> _Index | None:
        ids: list[str] = []
        texts: list[str] = []
        date_ints: list[int] = []
        article_ids: list[str] = []
        for sp in self.store.iter_passages():
            text, date_int, article_id = _row(sp)
            ids.append(sp.passage.id)
            texts.append(text)
            date_ints.append(date_int)
            article_ids.append(article_id)
        if not ids:
            return None
        tokenizer = new_tokenizer()
        corpus = tokenizer.tokenize(texts, return_as="ids", show_progress=False)
        return self._finish(generation, tokenizer, ids, list(corpus), date_ints, article_ids)

    def _finish(
        self,
        generation: str,
        tokenizer: Tokenizer,
        ids: list[str],
        corpus: list[list[int]],
        date_ints: list[int],
        article_ids: list[str],
    ) -> _Index:
        retriever = bm25s.BM25()
        retriever.index(
            Tokenized(ids=corpus, vocab=tokenizer.get_vocab_dict()), show_progress=False
        )
        index = _Index(
            generation,
            retriever,
            tokenizer,
            ids,
            np.asarray(date_ints, dtype=np.int64),
            np.asarray(article_ids),
        )
        try:
            self._save(index, corpus)
        except OSError:
            # Only a cache (disk full, read-only dir): answer from memory, rebuild next start.
            if self.cache_dir is not None:
                shutil.rmtree(
                    self.cache_dir.with_name(self.cache_dir.name + ".tmp"), ignore_errors=True
                )
        return index

    def _save(self, index: _Index, corpus: list[list[int]]) -> None:
        if self.cache_dir is None:
            return
        tmp = self.cache_dir.with_name(self.cache_dir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        index.retriever.save(str(tmp), show_progress=False)
        lengths = np.fromiter((len(doc) for doc in corpus), dtype=np.int64, count=len(corpus))
        flat = np.fromiter(
            (t for doc in corpus for t in doc), dtype=np.int32, count=int(lengths.sum())
        )
        np.savez(tmp / _TOKENS, flat=flat, offsets=np.concatenate([[0], np.cumsum(lengths)]))
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

    def _load_tokens(
        self,
    ) -> tuple[Tokenizer, dict[str, np.ndarray], dict[str, int], dict[str, str]] | None:
        """The saved index's tokenizer and per-passage tokens, dates and articles (any
        generation), or None when there is none to start from."""
        if self.cache_dir is None or not (self.cache_dir / _TOKENS).exists():
            return None
        try:
            meta = json.loads((self.cache_dir / _META).read_text())
            with np.load(self.cache_dir / _TOKENS) as saved:
                flat, offsets = saved["flat"], saved["offsets"]
            tokenizer = new_tokenizer()
            tokenizer.load_vocab(str(self.cache_dir))
            tokenizer.load_stopwords(str(self.cache_dir))
            ids: list[str] = meta["ids"]
            if len(offsets) != len(ids) + 1:
                return None
        except (OSError, ValueError, KeyError):
            return None  # unreadable: rebuild from scratch
        tokens = {pid: flat[offsets[i] : offsets[i + 1]] for i, pid in enumerate(ids)}
        dates = dict(zip(ids, (int(d) for d in meta["date_ints"]), strict=True))
        articles = dict(zip(ids, (str(a) for a in meta["article_ids"]), strict=True))
        return tokenizer, tokens, dates, articles

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

    def allowed(
        self,
        passage_ids: list[str],
        date_from: int = 0,
        date_to: int = 0,
        article_ids: list[str] | None = None,
    ) -> list[bool] | None:
        """Which of these passages pass the filters, from the index's own metadata.

        None when the index does not know one of them (the caller should then ask
        the store); the index is brought up to date with the store first.
        """
        index = self._current()
        if index is None:
            return None
        if index.rows is None:
            index.rows = {pid: i for i, pid in enumerate(index.ids)}
        rows = [index.rows.get(pid, -1) for pid in passage_ids]
        if any(r < 0 for r in rows):
            return None
        ok = _passing(index, np.asarray(rows, dtype=np.int64), date_from, date_to, article_ids)
        return [bool(x) for x in ok]

    def share_allowed(
        self, date_from: int = 0, date_to: int = 0, article_ids: list[str] | None = None
    ) -> float | None:
        """The fraction of all passages that pass the filters (None: index unavailable)."""
        index = self._current()
        if index is None or not len(index.ids):
            return None
        every = np.arange(len(index.ids), dtype=np.int64)
        return float(_passing(index, every, date_from, date_to, article_ids).mean())

    def idf(self, terms: Sequence[str]) -> list[float]:
        """Global BM25 IDF of each of ``terms`` over every passage, as the index scores
        it (Lucene's ``log(1 + (N - df + 0.5) / (df + 0.5))``), after the index's own
        lower-casing and stemming. 0.0 for a stopword, or when the library is empty;
        a term no passage holds gets the highest IDF there is."""
        index = self._current()
        if index is None:
            return [0.0] * len(terms)
        n = len(index.ids)
        vocab: dict[str, int] = index.retriever.vocab_dict
        indptr = index.retriever.scores["indptr"]
        stop = set(index.tokenizer.stopwords or ())
        out = []
        for term in terms:
            word = term.lower()
            if not word or word in stop:
                out.append(0.0)
                continue
            token = vocab.get(stemmer().stemWord(word))
            df = 0 if token is None else int(indptr[token + 1] - indptr[token])
            out.append(math.log(1 + (n - df + 0.5) / (df + 0.5)))
        return out

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
        # A day the question names ("4 March 2024") also as the tokens its passages'
        # resolved dates carry ("2024-03-04 03-04"): "on Monday" then matches it.
        query = f"{query} {mentioned_days(query)}"
        query_ids = index.tokenizer.tokenize(
            [_content(query)], update_vocab=False, return_as="ids", show_progress=False
        )
        k = min(k, len(index.ids))
        # n_threads=0 scores in this thread; any other count starts a thread pool for
        # each call (0.9 against 0.2 ms a search over 10k passages, idle machine).
        docs, scores = index.retriever.retrieve(
            query_ids, k=k, show_progress=False, weight_mask=mask.astype(np.float32), n_threads=0
        )
        return [
            (index.ids[int(doc)], float(score))
            for doc, score in zip(docs[0], scores[0], strict=True)
            if score > 0
        ]


def _content(query: str) -> str:
    """The query without its question words: in "What did Sejerstad say?" only the name
    should count, and "what" and "did" match a tenth of the passages (BM25's stopword
    list is Lucene's 33 words). A query of question words alone is kept as it is."""
    kept = [w for w in WORD.findall(query) if w.lower() not in QUESTION_WORDS]
    return " ".join(kept) or query


def _passing(
    index: _Index, rows: np.ndarray, date_from: int, date_to: int, article_ids: list[str] | None
) -> np.ndarray:
    """Boolean mask: which of these index rows pass the date and article filters."""
    ok = np.ones(len(rows), dtype=bool)
    if date_from:
        ok &= index.date_ints[rows] >= date_from
    if date_to:
        ok &= index.date_ints[rows] <= date_to
    if article_ids is not None:
        ok &= np.isin(index.article_ids[rows], article_ids)
    return ok
