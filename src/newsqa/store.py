"""Chroma, embedded or server, behind one small class.

Two collections:
- ``<name>_passages``: one record per passage (id ``article:index``), our MiniLM
  vectors, cosine space; searched through ``langchain_chroma.Chroma``.
- ``<name>_articles``: one record per article holding its full text (so every
  citation can be checked against the source) and a title vector.

An article's passages are written before its article record, so an interrupted
ingest leaves at worst passages without a record, which the next ingest of the
same file overwrites (ids are deterministic).

Embedded Chroma is thread-safe but not process-safe, so every write holds an
exclusive file lock and reopens the client first (a stale in-memory index must
never be written back). Each write stamps a new *generation* on the passages
collection; readers compare it before each query and reopen when it changed,
which is also how the BM25 side knows to rebuild. A Chroma server needs no lock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api.collection_configuration import CreateCollectionConfiguration
from filelock import FileLock
from langchain_chroma import Chroma

from newsqa.embeddings import MiniLMEmbeddings
from newsqa.models import Article, Passage, Span
from newsqa.settings import Settings

# Chroma rejects larger add/upsert calls.
MAX_CHROMA_BATCH = 5_461
_COSINE: CreateCollectionConfiguration = {"hnsw": {"space": "cosine"}}


class StoreError(RuntimeError):
    """The store cannot be reached or written; the message says what to do."""


@dataclass(frozen=True)
class ArticleInfo:
    """An article as listed in the library (no text)."""

    id: str
    title: str
    date: str | None
    source: str
    passages: int
    chars: int


@dataclass(frozen=True)
class StoredPassage:
    """A passage read back from the store with its article's metadata."""

    passage: Passage
    title: str
    date: str | None
    source: str


def _encode_spans(spans: Sequence[Span]) -> str:
    # Metadata values must be scalars, so sentence offsets travel as "s-e;s-e".
    return ";".join(f"{s.start}-{s.end}" for s in spans)


def _decode_spans(value: str) -> tuple[Span, ...]:
    pairs = (item.split("-") for item in value.split(";") if item)
    return tuple(Span(int(a), int(b)) for a, b in pairs)


def passage_metadata(article: Article, passage: Passage) -> dict[str, Any]:
    return {
        "article_id": article.id,
        "index": passage.index,
        "start": passage.start,
        "end": passage.end,
        "sentences": _encode_spans(passage.sentences),
        "title": article.title,
        "date": article.date or "",
        "date_int": article.date_int,
        "source": article.source,
    }


def stored_passage(text: str, meta: dict[str, Any]) -> StoredPassage:
    passage = Passage(
        article_id=str(meta["article_id"]),
        index=int(meta["index"]),
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text,
        sentences=_decode_spans(str(meta["sentences"])),
    )
    return StoredPassage(
        passage, str(meta["title"]), str(meta["date"]) or None, str(meta["source"])
    )


def date_filter(
    date_from: str | None = None,
    date_to: str | None = None,
    article_ids: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """A Chroma ``where`` clause for a date range and/or a set of articles."""
    from newsqa.models import date_to_int

    clauses: list[dict[str, Any]] = []
    if date_from:
        clauses.append({"date_int": {"$gte": date_to_int(date_from)}})
    if date_to:
        clauses.append({"date_int": {"$lte": date_to_int(date_to)}})
    if article_ids is not None:
        clauses.append({"article_id": {"$in": list(article_ids)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class Store:
    """The passage and article collections, embedded or on a Chroma server."""

    def __init__(self, settings: Settings, embeddings: MiniLMEmbeddings | None = None) -> None:
        self.settings = settings
        self.embeddings = embeddings or MiniLMEmbeddings(settings.batch_size)
        self.is_server = settings.chroma_url is not None
        if not self.is_server:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = None if self.is_server else FileLock(str(settings.data_dir / "write.lock"))
        self._generation: str | None = None
        self._open()

    # -- connection ----------------------------------------------------------------

    def _client(self) -> chromadb.ClientAPI:
        chroma_settings = chromadb.Settings(anonymized_telemetry=False)
        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            try:
                return chromadb.HttpClient(
                    host=url.hostname or "127.0.0.1",
                    port=url.port or 8000,
                    ssl=url.scheme == "https",
                    settings=chroma_settings,
                )
            except Exception as exc:  # chromadb raises plain Exception/ValueError here
                raise StoreError(
                    f"cannot reach the Chroma server at {self.settings.chroma_url}: {exc}. "
                    "Is `chroma run` up? Unset NEWSQA_CHROMA_URL to use the local store."
                ) from exc
        return chromadb.PersistentClient(
            path=str(self.settings.data_dir / "chroma"), settings=chroma_settings
        )

    def _open(self) -> None:
        if not self.is_server:
            # The client caches one System per path; without clearing it a reopen
            # would hand back the same stale in-memory index.
            chromadb.api.client.SharedSystemClient.clear_system_cache()
        self.client = self._client()
        name = self.settings.collection
        self.vectors = Chroma(
            collection_name=f"{name}_passages",
            embedding_function=self.embeddings,
            client=self.client,
            collection_configuration=_COSINE,
        )
        self.articles_collection = self.client.get_or_create_collection(
            f"{name}_articles", configuration=_COSINE, embedding_function=None
        )
        self._generation = self._read_generation()

    @property
    def passages_collection(self) -> chromadb.Collection:
        return self.vectors._collection

    def _read_generation(self) -> str:
        collection = self.client.get_collection(f"{self.settings.collection}_passages")
        return str((collection.metadata or {}).get("generation", ""))

    def generation(self) -> str:
        """Changes whenever any process writes; cheap enough to call per question."""
        return self._generation or ""

    def refresh(self) -> bool:
        """Reopen if another process (or machine) wrote since we looked. True if it did."""
        current = self._read_generation()
        if current == self._generation:
            return False
        if self.is_server:
            self._generation = current
        else:
            with self._locked():
                self._open()
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock if self._lock is not None else nullcontext():
            yield

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock on a fresh view of the store; stamp a new generation after."""
        with self._locked():
            if not self.is_server:
                self._open()
            try:
                yield
            finally:
                new = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
                self.passages_collection.modify(metadata={"generation": new})
                self._generation = new

    # -- writes (call inside `writing()`) ------------------------------------------------

    def put(self, batch: Sequence[tuple[Article, Sequence[Passage]]]) -> None:
        """Write articles and their passages: passages first, then the article records."""
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        ids: list[str] = []
        for article, passages in batch:
            for passage in passages:
                texts.append(passage.text)
                metadatas.append(passage_metadata(article, passage))
                ids.append(passage.id)
        for i in range(0, len(texts), MAX_CHROMA_BATCH):
            self.vectors.add_texts(
                texts[i : i + MAX_CHROMA_BATCH],
                metadatas=metadatas[i : i + MAX_CHROMA_BATCH],
                ids=ids[i : i + MAX_CHROMA_BATCH],
            )
        articles = [article for article, _ in batch]
        titles = self.embeddings.encode([a.title or a.text[:200] for a in articles])
        self.articles_collection.upsert(
            ids=[a.id for a in articles],
            documents=[a.text for a in articles],
            embeddings=titles,
            metadatas=[
                {
                    "title": a.title,
                    "date": a.date or "",
                    "date_int": a.date_int,
                    "source": a.source,
                    "passages": len(passages),
                    "chars": len(a.text),
                    "ingested_at": time.time(),
                }
                for a, passages in batch
            ],
        )

    def delete(self, article_ids: Sequence[str]) -> None:
        """Remove articles and all their passages (article record first)."""
        if not article_ids:
            return
        self.articles_collection.delete(ids=list(article_ids))
        where: Any = {"article_id": {"$in": list(article_ids)}}
        self.passages_collection.delete(where=where)

    # -- reads ---------------------------------------------------------------------------

    def has_article(self, article_id: str) -> bool:
        return bool(self.articles_collection.get(ids=[article_id], include=[])["ids"])

    def ids_for_source(self, source: str) -> list[str]:
        found = self.articles_collection.get(where={"source": source}, include=[])
        return list(found["ids"])

    def article_sources(self) -> dict[str, str]:
        """Every stored article id with its source (one call, for ingest planning)."""
        found = self.articles_collection.get(include=["metadatas"])
        metas = found["metadatas"] or []
        return {i: str(m["source"]) for i, m in zip(found["ids"], metas, strict=True)}

    def article_text(self, article_id: str) -> str | None:
        found = self.articles_collection.get(ids=[article_id], include=["documents"])
        docs = found.get("documents") or []
        return docs[0] if docs else None

    def list_articles(self) -> list[ArticleInfo]:
        """Every article, newest date first."""
        found = self.articles_collection.get(include=["metadatas"])
        metas: list[dict[str, Any]] = [dict(m) for m in found["metadatas"] or []]
        infos = [
            ArticleInfo(
                id=article_id,
                title=str(meta["title"]),
                date=str(meta["date"]) or None,
                source=str(meta["source"]),
                passages=int(meta["passages"]),
                chars=int(meta["chars"]),
            )
            for article_id, meta in zip(found["ids"], metas, strict=True)
        ]
        return sorted(infos, key=lambda a: (a.date or "", a.title), reverse=True)

    def count_passages(self) -> int:
        return self.passages_collection.count()

    def iter_passages(self, page: int = 5_000) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """All (id, text, metadata) triples, a page at a time (for the BM25 index)."""
        offset = 0
        while True:
            found = self.passages_collection.get(
                include=["documents", "metadatas"], limit=page, offset=offset
            )
            ids = found["ids"]
            if not ids:
                return
            yield from zip(ids, found["documents"] or [], found["metadatas"] or [], strict=True)
            offset += len(ids)

    def dense_search(
        self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[StoredPassage, float]]:
        """The ``k`` nearest passages with their cosine similarity."""
        k = min(k, max(self.count_passages(), 1))
        results = self.vectors.similarity_search_by_vector_with_relevance_scores(
            list(vector), k=k, filter=where
        )
        # langchain_chroma returns the cosine *distance* here.
        return [
            (stored_passage(doc.page_content, dict(doc.metadata)), 1.0 - float(distance))
            for doc, distance in results
        ]
