"""Chroma, embedded or server, behind one small class.

Two collections:
- ``<name>_passages``: one record per passage (id ``article:index``), our MiniLM
  vectors, cosine space; searched through ``langchain_chroma.Chroma``.
- ``<name>_articles``: one record per article holding its full text (so every
  citation can be checked against the source) and the mean of its passage vectors.

An article's passages are written before its article record, and a removal deletes
the record before the passages, so an interrupted write (killed process, full disk)
leaves at worst passages without a record (*orphans*: not listed, and citations from
them fail verification), never a listed article with passages missing. Orphans are
cleaned up, never left to pile up:

- embedded: each write first notes the article ids it touches in the passages
  collection's metadata (``pending``); the next writer, under the lock, deletes the
  passages of any noted id that has no record, and a finished write clears the note;
- server (no lock, so no note): rerunning the ingest overwrites them (ids are
  deterministic), and ``delete_orphans`` sweeps them when the file changed.

Writes are upserts, so a retried write never duplicates anything.

Embedded Chroma is thread-safe but not process-safe, so every write holds an
exclusive file lock and reopens the client first (a stale in-memory index must
never be written back). Vectors are computed *before* taking the lock
(``prepare``), so the lock is held for the database write only. Each write stamps
a new *generation* on the passages collection; readers compare it before each
query and reopen when it changed, which is also how the BM25 side knows to
rebuild. A Chroma server needs no lock.

Every call goes through ``_call``: storage failures (disk full, read-only files, a
server that is down) become one :class:`StoreError` that names the data dir or the
URL. A failed call first reopens the client once and retries (all our calls are
reads or idempotent writes), so a long-running app survives a server restart, or a
stale embedded view, without being restarted itself.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import chromadb
import chromadb.errors
import httpx
import numpy as np
from chromadb.api.collection_configuration import CreateCollectionConfiguration
from filelock import FileLock
from langchain_chroma import Chroma

from newsqa.embeddings import MiniLMEmbeddings, pack_vectors
from newsqa.models import Article, Passage, Span
from newsqa.settings import Settings

# Chroma rejects larger add/upsert calls.
MAX_CHROMA_BATCH = 5_461
_COSINE: CreateCollectionConfiguration = {"hnsw": {"space": "cosine"}}

# Failures of the storage itself (as opposed to bugs in how we call it): these become
# StoreError. Chroma reports SQLite trouble ("database or disk is full", "attempt to
# write a readonly database") as InternalError; a server that is down as httpx errors.
_STORAGE_ERRORS: tuple[type[Exception], ...] = (
    chromadb.errors.ChromaError,
    httpx.HTTPError,
    sqlite3.Error,
    OSError,
)
# On a server these mean "the connection or the server went away": worth one reconnect.
# NotFoundError: a restarted server hands out new collection handles.
_RECONNECT_ON: tuple[type[Exception], ...] = (httpx.TransportError, chromadb.errors.NotFoundError)

T = TypeVar("T")


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


@dataclass
class PreparedBatch:
    """Articles and their passages with vectors computed, ready for one quick write."""

    passage_ids: list[str] = field(default_factory=list)
    passage_texts: list[str] = field(default_factory=list)
    passage_metadatas: list[dict[str, Any]] = field(default_factory=list)
    passage_vectors: list[list[float]] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)
    article_texts: list[str] = field(default_factory=list)
    article_metadatas: list[dict[str, Any]] = field(default_factory=list)
    article_vectors: list[list[float]] = field(default_factory=list)


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
        "sentence_vectors": passage.sentence_vectors,
        "title": article.title,
        "date": article.date or "",
        "date_int": article.date_int,
        "source": article.source,
        "origin": article.origin,
    }


def stored_passage(text: str, meta: dict[str, Any]) -> StoredPassage:
    passage = Passage(
        article_id=str(meta["article_id"]),
        index=int(meta["index"]),
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text,
        sentences=_decode_spans(str(meta["sentences"])),
        sentence_vectors=str(meta.get("sentence_vectors") or ""),
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


def _reason(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror  # "Not a directory", without repeating the path
    text = " ".join(str(exc).split()) or type(exc).__name__
    # Chroma wraps SQLite messages in layers of "Query error: Database error: ...".
    return text.rsplit("error returned from database: ", 1)[-1]


def _free_space(folder: Path) -> str:
    # Chroma reports a full disk as e.g. "Failed to apply logs to the metadata segment".
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f" Only {free / 1e6:.1f} MB are free on its disk." if free < 100_000_000 else ""


class Store:
    """The passage and article collections, embedded or on a Chroma server."""

    def __init__(self, settings: Settings, embeddings: MiniLMEmbeddings | None = None) -> None:
        self.settings = settings
        self.embeddings = embeddings or MiniLMEmbeddings(settings.batch_size)
        self.is_server = settings.chroma_url is not None
        if not self.is_server:
            try:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise self._failure("creating the data dir", "it is a file, not a folder") from None
            except OSError as exc:
                raise self._failure("creating the data dir", exc) from None
        self._lock = None if self.is_server else FileLock(str(settings.data_dir / "write.lock"))
        self._generation: str | None = None
        self._pending: list[str] = []  # article ids the current write touches
        # Under the lock: the first open of an empty store creates its collections.
        with self._locked():
            self._call("opening the store", self._open)

    # -- connection ----------------------------------------------------------------

    def _failure(self, what: str, exc: BaseException | str) -> StoreError:
        if self.is_server:
            return StoreError(
                f"the Chroma server at {self.settings.chroma_url} failed ({what}: "
                f"{_reason(exc)}). Is `chroma run` up? "
                "Unset NEWSQA_CHROMA_URL to use the local store."
            )
        return StoreError(
            f"cannot use the store in {self.settings.data_dir} ({what}: {_reason(exc)})."
            f"{_free_space(self.settings.data_dir)} newsqa needs a writable data dir with "
            "free space: set NEWSQA_DATA_DIR or --data-dir."
        )

    def _call(self, what: str, op: Callable[[], T]) -> T:
        """Run one store operation; storage failures become a StoreError saying ``what``.

        A failure worth it gets one reopen and retry (every call we make is a read or
        an idempotent upsert/delete, so repeating it is safe): on a server, a dropped
        connection; embedded, a Chroma error from a stale view (e.g. a reader that
        opened an empty store, after a writer was killed before its first flush:
        "Error creating hnsw segment reader: Nothing found on disk").
        """
        try:
            return op()
        except _STORAGE_ERRORS as exc:
            if not self._worth_reopening(exc):
                raise self._failure(what, exc) from exc
        try:
            with self._locked():
                self._open()
            return op()
        except _STORAGE_ERRORS as exc:
            raise self._failure(what, exc) from exc

    def call(self, what: str, op: Callable[[], T]) -> T:
        """``_call`` for modules that keep a collection of their own in the library
        (:mod:`newsqa.feeds`): the same errors, the same one reopen and retry."""
        return self._call(what, op)

    def _worth_reopening(self, exc: Exception) -> bool:
        if self.is_server:
            return isinstance(exc, _RECONNECT_ON)
        return isinstance(exc, chromadb.errors.ChromaError) and not isinstance(
            exc,
            chromadb.errors.InvalidArgumentError,  # a bug in the call, not the store
        )

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
                    f"cannot reach the Chroma server at {self.settings.chroma_url} "
                    f"({_reason(exc)}). Start one with `chroma run --path DIR --host "
                    f"{url.hostname} --port {url.port or 8000}`, "
                    "or unset NEWSQA_CHROMA_URL to use the local store."
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
        if not self.is_server:
            # Chroma applies log entries a killed writer left unapplied on the first read,
            # i.e. a read may write: do it here, where the caller holds the writer lock.
            self.passages_collection.count()
            self.articles_collection.count()
        self._generation = self._read_generation()

    @property
    def passages_collection(self) -> chromadb.Collection:
        return self.vectors._collection

    def _read_meta(self) -> dict[str, Any]:
        collection = self.client.get_collection(f"{self.settings.collection}_passages")
        return dict(collection.metadata or {})

    def _read_generation(self) -> str:
        return str(self._read_meta().get("generation", ""))

    def _write_meta(self, generation: str, pending: Sequence[str]) -> None:
        # modify() replaces the whole metadata, so both keys are always written together.
        meta = {"generation": generation, "pending": ",".join(pending)}
        self._call("updating the store", lambda: self.passages_collection.modify(metadata=meta))

    def generation(self) -> str:
        """Changes whenever any process writes; cheap enough to call per question."""
        return self._generation or ""

    def refresh(self) -> bool:
        """Reopen if another process (or machine) wrote since we looked. True if it did."""
        current = self._call("checking for changes", self._read_generation)
        if current == self._generation:
            return False
        if self.is_server:
            self._generation = current
        else:
            with self._locked():
                self._call("reopening the store", self._open)
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        try:
            self._lock.acquire()
        except OSError as exc:  # a read-only or vanished data dir
            raise self._failure("taking the writer lock", exc) from None
        try:
            yield
        finally:
            self._lock.release()

    def _stamp(self, pending: Sequence[str] = ()) -> None:
        new = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        self._write_meta(new, pending)
        self._generation = new

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock on a fresh view of the store; stamp a new generation after."""
        with self._locked():
            self._pending = []
            if not self.is_server:
                # Reopen only when another process wrote since our own last stamp:
                # reopening reloads the whole vector index, which grows with the
                # library and would make every batch of a long ingest slower.
                if self._call("checking for changes", self._read_generation) != self._generation:
                    self._call("reopening the store", self._open)
                self._recover()
            try:
                yield
            except BaseException:
                # Part of the write may have landed: readers must look again, and the
                # next writer must check what this one noted. If the stamp fails too
                # (disk still full), the note stays and the first error is the one to see.
                with contextlib.suppress(StoreError):
                    self._stamp(self._pending)
                raise
            self._stamp()

    def _note_pending(self, article_ids: Sequence[str]) -> None:
        """Note ids about to be written or removed, so a crash midway can be cleaned up.

        The note also stamps a new generation, so readers reopen even if this writer
        dies before its final stamp (a stale view can fail, not just miss data).
        """
        if self.is_server:  # without a lock, writers would overwrite each other's notes
            return
        self._pending += [i for i in article_ids if i not in self._pending]
        self._stamp(self._pending)

    def pending_writes(self) -> list[str]:
        """Article ids noted by a write that is in progress or was interrupted (embedded)."""
        meta = self._call("reading the store", self._read_meta)
        return [i for i in str(meta.get("pending") or "").split(",") if i]

    def _recover(self) -> None:
        """Delete the passages an interrupted write left without their article record."""
        pending = self.pending_writes()
        orphans = sorted(set(pending) - self.existing(pending))
        if orphans:
            where: Any = {"article_id": {"$in": orphans}}
            self._call(
                "removing orphan passages", lambda: self.passages_collection.delete(where=where)
            )

    # -- writes (call inside `writing()`) ------------------------------------------------

    def prepare(
        self,
        batch: Sequence[tuple[Article, Sequence[Passage]]],
        on_batch: Callable[[int], object] | None = None,
    ) -> PreparedBatch:
        """Embed passages and their sentences for ``put``; slow, so done outside the writer
        lock. ``on_batch(n)`` reports progress: ``n`` more passages embedded."""
        prepared = PreparedBatch()
        texts = [p.text for _, passages in batch for p in passages]
        spans = [
            [(s.start - p.start, s.end - p.start) for s in p.sentences]
            for _, passages in batch
            for p in passages
        ]
        vectors, sentence_vectors = self.embeddings.encode_passages(texts, spans, on_batch)
        sentences = iter(sentence_vectors)
        for article, passages in batch:
            for passage in passages:
                packed = replace(passage, sentence_vectors=pack_vectors(next(sentences)))
                prepared.passage_ids.append(passage.id)
                prepared.passage_texts.append(passage.text)
                prepared.passage_metadatas.append(passage_metadata(article, packed))
            prepared.article_ids.append(article.id)
            prepared.article_texts.append(article.text)
            prepared.article_metadatas.append(
                {
                    "title": article.title,
                    "date": article.date or "",
                    "date_int": article.date_int,
                    "source": article.source,
                    "origin": article.origin,
                    "passages": len(passages),
                    "chars": len(article.text),
                    "ingested_at": time.time(),
                }
            )
        prepared.passage_vectors = vectors.tolist()
        # An article's record needs a vector too: the mean of its passages' vectors
        # costs nothing, where embedding titles cost ~16% more model time at ingest.
        means, start = [], 0
        for article, passages in batch:
            part = vectors[start : start + len(passages)]
            start += len(passages)
            mean = part.mean(axis=0) if len(part) else self.embeddings.encode([article.title])[0]
            means.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        prepared.article_vectors = [m.tolist() for m in means]
        return prepared

    def put(self, batch: PreparedBatch | Sequence[tuple[Article, Sequence[Passage]]]) -> None:
        """Write articles and their passages: passages first, then the article records."""
        p = batch if isinstance(batch, PreparedBatch) else self.prepare(batch)
        self._note_pending(p.article_ids)
        self._upsert(
            "writing passages",
            lambda: self.passages_collection,
            p.passage_ids,
            p.passage_texts,
            p.passage_metadatas,
            p.passage_vectors,
        )
        self._upsert(
            "writing articles",
            lambda: self.articles_collection,
            p.article_ids,
            p.article_texts,
            p.article_metadatas,
            p.article_vectors,
        )

    def _upsert(
        self,
        what: str,
        collection: Callable[[], chromadb.Collection],
        ids: list[str],
        documents: list[str],
        metadatas: list[dict[str, Any]],
        vectors: list[list[float]],
    ) -> None:
        # `collection` is looked up per call: a reconnect replaces the handles.
        for i in range(0, len(ids), MAX_CHROMA_BATCH):

            def upsert(part: slice = slice(i, i + MAX_CHROMA_BATCH)) -> None:
                collection().upsert(
                    ids=ids[part],
                    documents=documents[part],
                    metadatas=metadatas[part],  # type: ignore[arg-type]
                    embeddings=vectors[part],  # type: ignore[arg-type]
                )

            self._call(what, upsert)

    def delete(self, article_ids: Sequence[str]) -> None:
        """Remove articles and all their passages (article record first)."""
        if not article_ids:
            return
        ids = list(article_ids)
        self._note_pending(ids)
        self._call("removing articles", lambda: self.articles_collection.delete(ids=ids))
        where: Any = {"article_id": {"$in": ids}}
        self._call("removing passages", lambda: self.passages_collection.delete(where=where))

    def delete_orphans(self, origins: Sequence[str]) -> None:
        """Remove passages from these origins whose article has no record.

        Such passages are left by an ingest killed between its passage and article
        writes; when the file changed before the rerun, nothing else overwrites them.
        """
        if not origins:
            return
        wanted: Any = {"origin": {"$in": list(origins)}}
        found = self._call(
            "finding articles", lambda: self.articles_collection.get(where=wanted, include=[])
        )
        keep = list(found["ids"])
        where: Any = wanted if not keep else {"$and": [wanted, {"article_id": {"$nin": keep}}]}
        self._call("removing orphan passages", lambda: self.passages_collection.delete(where=where))

    # -- reads ---------------------------------------------------------------------------

    def has_article(self, article_id: str) -> bool:
        return bool(self.existing([article_id]))

    def existing(self, article_ids: Sequence[str]) -> set[str]:
        """Those of ``article_ids`` that have an article record."""
        if not article_ids:
            return set()
        ids = list(article_ids)
        found = self._call(
            "reading articles", lambda: self.articles_collection.get(ids=ids, include=[])
        )
        return set(found["ids"])

    def ids_for_source(self, source: str) -> list[str]:
        found = self._call(
            "reading articles",
            lambda: self.articles_collection.get(where={"source": source}, include=[]),
        )
        return list(found["ids"])

    def article_origins(self) -> dict[str, str]:
        """Every stored article id with its origin (one call, for ingest planning)."""
        found = self._call(
            "reading articles", lambda: self.articles_collection.get(include=["metadatas"])
        )
        metas = found["metadatas"] or []
        return {
            i: str(m.get("origin") or m["source"]) for i, m in zip(found["ids"], metas, strict=True)
        }

    def article_text(self, article_id: str) -> str | None:
        found = self._call(
            "reading an article",
            lambda: self.articles_collection.get(ids=[article_id], include=["documents"]),
        )
        docs = found.get("documents") or []
        return docs[0] if docs else None

    def list_articles(self) -> list[ArticleInfo]:
        """Every article, newest date first."""
        found = self._call(
            "listing articles", lambda: self.articles_collection.get(include=["metadatas"])
        )
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
        return self._call("counting passages", lambda: self.passages_collection.count())

    def get_passages(self, passage_ids: Sequence[str]) -> list[StoredPassage]:
        """The passages with these ids (those that exist), in no particular order."""
        if not passage_ids:
            return []
        ids = list(passage_ids)
        found = self._call(
            "reading passages",
            lambda: self.passages_collection.get(ids=ids, include=["documents", "metadatas"]),
        )
        return [
            stored_passage(text, dict(meta))
            for text, meta in zip(found["documents"] or [], found["metadatas"] or [], strict=True)
        ]

    def iter_passages(self, page: int = 5_000) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """All (id, text, metadata) triples, a page at a time (for the BM25 index)."""
        offset = 0
        while True:

            def get_page(offset: int = offset) -> Any:
                return self.passages_collection.get(
                    include=["documents", "metadatas"], limit=page, offset=offset
                )

            found = self._call("reading passages", get_page)
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
        results = self._call(
            "searching passages",
            lambda: self.vectors.similarity_search_by_vector_with_relevance_scores(
                list(vector), k=k, filter=where
            ),
        )
        # langchain_chroma returns the cosine *distance* here.
        return [
            (stored_passage(doc.page_content, dict(doc.metadata)), 1.0 - float(distance))
            for doc, distance in results
        ]
