"""The library's storage: Chroma, embedded or on a server, behind one small class.

:class:`Store` is the only way in. Its methods take and return newsqa's own types
(articles, passages, vectors, filters), and every one of them goes through
:meth:`Connection.call`, which turns storage failures into one clear
:class:`StoreError` and reconnects when that can help. No module outside this
package touches a Chroma object.

The package, one job per module:

- ``connection``: the client, the collections, failures and retries;
- ``journal``: the writer lock, the generation stamp readers follow, and the note
  that lets the next writer clean up after a crash;
- ``records``: how articles and passages are encoded as Chroma records (the one
  place to add a stored field);
- ``sentences``: the embedded store's sentence vectors, beside Chroma.

What is stored:

- ``<name>_passages``: one record per passage (id ``article:index``), its MiniLM
  vector (cosine space), its text, and its article's metadata (for filters);
- ``<name>_articles``: one record per article with its full text (so every
  citation can be checked against the source) and the mean of its passage vectors;
- the sentence vectors of each passage (:mod:`newsqa.store.sentences`).

Writes are upserts, so a retried write never duplicates anything. Embedding is
not the store's job: :mod:`newsqa.ingest` hands it vectors ready to write.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import numpy as np

from newsqa.errors import StoreError
from newsqa.models import Filters
from newsqa.settings import Settings
from newsqa.store import records
from newsqa.store.connection import Connection
from newsqa.store.journal import Journal, WriterLock
from newsqa.store.records import ArticleInfo, EmbeddedArticle, StoredPassage
from newsqa.store.sentences import SentenceVectors

_PAGE = 5_000  # rows per read when reading the whole collection


class Store:
    """The passage and article collections, embedded or on a Chroma server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_server = settings.chroma_url is not None
        lock = WriterLock(settings)
        self._conn = Connection(settings, lock.held)
        self._journal = Journal(self._conn, lock)
        self._sentences: SentenceVectors | None = None
        if not self.is_server:
            try:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise self._conn.failure(
                    "creating the data dir", "it is a file, not a folder"
                ) from None
            except OSError as exc:
                raise self._conn.failure("creating the data dir", exc) from None
            self._sentences = SentenceVectors(
                settings.data_dir / "sentences" / f"{settings.collection}.sqlite3"
            )
        # Under the lock: the first open of an empty store creates its collections.
        with lock.held():
            self._conn.call("opening the store", self._conn.open)

    # -- following other writers ---------------------------------------------------------

    def generation(self) -> str:
        """Changes whenever any process writes; cheap enough to call per question."""
        return self._conn.generation

    def refresh(self) -> bool:
        """Reopen if another process (or machine) wrote since we looked. True if it did."""
        current = self._conn.call("checking for changes", self._conn.read_generation)
        if current == self._conn.generation:
            return False
        if self.is_server:  # server handles are live: nothing to reopen
            self._conn.generation = current
        else:
            with self._journal.lock.held():
                self._conn.call("reopening the store", self._conn.open)
        return True

    def pending_writes(self) -> list[str]:
        """Article ids noted by a write that is in progress or was interrupted (embedded)."""
        return self._journal.noted()

    # -- writes (inside `writing()`) -----------------------------------------------------

    def writing(self) -> AbstractContextManager[None]:
        """Hold the writer lock on a fresh view of the store; stamp a new generation after.

        Also removes what an interrupted write left behind before this one starts.
        """
        return self._journal.writing(self._recover)

    def _recover(self, noted: list[str]) -> None:
        """Delete the passages an interrupted write left without their article record."""
        orphans = sorted(set(noted) - self.existing(noted))
        if orphans:
            self._delete_passages("removing orphan passages", orphans)

    def put(self, batch: Sequence[EmbeddedArticle]) -> None:
        """Write articles and their passages: sentence vectors and passages first, then
        the article records (see :mod:`newsqa.store.journal` for why)."""
        if not batch:
            return
        self._journal.note([e.article.id for e in batch])
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        rows: list[tuple[str, str, bytes]] = []
        for e in batch:
            for passage, sentences in zip(e.passages, e.sentence_vectors, strict=True):
                ids.append(passage.id)
                texts.append(passage.text)
                # A server keeps them in the passage's metadata; embedded, in the sidecar.
                in_meta = sentences if self._sentences is None else None
                metas.append(records.passage_metadata(e.article, passage, in_meta))
                rows.append((passage.id, e.article.id, records.quantize(sentences)))
        if self._sentences is not None:
            sidecar = self._sentences
            self._conn.call("writing sentence vectors", lambda: sidecar.put(rows))
        vectors = np.concatenate([e.passage_vectors for e in batch]).astype(np.float32)
        self._upsert("writing passages", "passages", ids, texts, metas, vectors)
        self._upsert(
            "writing articles",
            "articles",
            [e.article.id for e in batch],
            [e.article.text for e in batch],
            [records.article_metadata(e.article, len(e.passages)) for e in batch],
            np.stack([e.vector for e in batch]).astype(np.float32),
        )

    def _upsert(
        self,
        what: str,
        collection: str,
        ids: list[str],
        documents: list[str],
        metadatas: list[dict[str, Any]],
        vectors: np.ndarray,
    ) -> None:
        start = 0
        while start < len(ids):
            # Looked up per call: a reconnect replaces the handles (and the limit).
            part = slice(start, start + self._conn.max_batch)

            def upsert(part: slice = part) -> None:
                getattr(self._conn, collection).upsert(
                    ids=ids[part],
                    documents=documents[part],
                    metadatas=metadatas[part],
                    embeddings=vectors[part],
                )

            self._conn.call(what, upsert)
            start = part.stop

    def delete(self, article_ids: Sequence[str]) -> None:
        """Remove articles and all their passages (article record first)."""
        if not article_ids:
            return
        ids = list(article_ids)
        self._journal.note(ids)
        self._conn.call("removing articles", lambda: self._conn.articles.delete(ids=ids))
        self._delete_passages("removing passages", ids)

    def _delete_passages(self, what: str, article_ids: list[str]) -> None:
        where: Any = records.by_articles(article_ids)
        self._conn.call(what, lambda: self._conn.passages.delete(where=where))
        if self._sentences is not None:
            sidecar = self._sentences
            self._conn.call(what, lambda: sidecar.delete_articles(article_ids))

    def delete_orphans(self, origins: Sequence[str]) -> None:
        """Remove passages from these origins whose article has no record.

        Such passages are left by an ingest killed between its passage and article
        writes; when the file changed before the rerun, nothing else overwrites them.
        """
        if not origins:
            return
        wanted: Any = {"origin": {"$in": list(origins)}}
        found = self._conn.call(
            "finding articles", lambda: self._conn.articles.get(where=wanted, include=[])
        )
        keep = set(found["ids"])
        orphaned = self._conn.call(
            "finding orphan passages",
            lambda: self._conn.passages.get(where=wanted, include=["metadatas"]),
        )
        articles = {str(m["article_id"]) for m in orphaned["metadatas"] or []} - keep
        if articles:
            self._delete_passages("removing orphan passages", sorted(articles))

    # -- articles ------------------------------------------------------------------------

    def has_article(self, article_id: str) -> bool:
        return bool(self.existing([article_id]))

    def existing(self, article_ids: Sequence[str]) -> set[str]:
        """Those of ``article_ids`` that have an article record."""
        if not article_ids:
            return set()
        ids = list(article_ids)
        found = self._conn.call(
            "reading articles", lambda: self._conn.articles.get(ids=ids, include=[])
        )
        return set(found["ids"])

    def article_origins(self) -> dict[str, str]:
        """Every stored article id with its origin (one call, for ingest planning)."""
        found = self._conn.call(
            "reading articles", lambda: self._conn.articles.get(include=["metadatas"])
        )
        metas = found["metadatas"] or []
        return {
            i: records.article_origin(dict(m)) for i, m in zip(found["ids"], metas, strict=True)
        }

    def article_text(self, article_id: str) -> str | None:
        found = self._conn.call(
            "reading an article",
            lambda: self._conn.articles.get(ids=[article_id], include=["documents"]),
        )
        docs = found.get("documents") or []
        return docs[0] if docs else None

    def list_articles(self) -> list[ArticleInfo]:
        """Every article, newest date first."""
        found = self._conn.call(
            "listing articles", lambda: self._conn.articles.get(include=["metadatas"])
        )
        infos = [
            records.article_info(article_id, dict(meta))
            for article_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
        ]
        return sorted(infos, key=lambda a: (a.date or "", a.title), reverse=True)

    # -- passages ------------------------------------------------------------------------

    def count_passages(self) -> int:
        return self._conn.call("counting passages", lambda: self._conn.passages.count())

    def passage_ids(self) -> list[str]:
        """Every passage id, in the store's order (ids only: a cheap read)."""
        ids: list[str] = []
        for found in self._conn.pages(
            "reading passage ids",
            lambda limit, offset: self._conn.passages.get(include=[], limit=limit, offset=offset),
            _PAGE,
        ):
            ids.extend(found["ids"])
        return ids

    def get_passages(self, passage_ids: Sequence[str]) -> list[StoredPassage]:
        """The passages with these ids (those that exist), in no particular order."""
        if not passage_ids:
            return []
        out: list[StoredPassage] = []
        for i in range(0, len(passage_ids), _PAGE):
            get = self._on_passages(
                "get", ids=list(passage_ids[i : i + _PAGE]), include=["documents", "metadatas"]
            )
            out += _passages(self._conn.call("reading passages", get))
        return out

    def _on_passages(self, method: str, **kwargs: Any) -> Callable[[], Any]:
        """A call of the passages collection's ``method``, for :meth:`Connection.call`:
        the collection is looked up when it runs, since a reconnect replaces it."""
        return lambda: getattr(self._conn.passages, method)(**kwargs)

    def iter_passages(self) -> Iterator[StoredPassage]:
        """Every passage, a page at a time (for the BM25 index); no sentence vectors."""
        for found in self._conn.pages(
            "reading passages",
            lambda limit, offset: self._conn.passages.get(
                include=["documents", "metadatas"], limit=limit, offset=offset
            ),
            _PAGE,
        ):
            yield from _passages(found)

    def with_sentence_vectors(self, passages: Sequence[StoredPassage]) -> list[StoredPassage]:
        """``passages``, each with its sentence vectors where the store has them."""
        wanted = [sp.passage.id for sp in passages if sp.sentence_vectors is None]
        if self._sentences is None or not wanted:
            return list(passages)
        sidecar = self._sentences
        found = self._conn.call("reading sentence vectors", lambda: sidecar.get(wanted))
        return [
            sp
            if sp.sentence_vectors is not None
            else records.with_vectors(sp, found.get(sp.passage.id))
            for sp in passages
        ]

    def passage_vectors(self, passage_ids: Sequence[str]) -> np.ndarray:
        """The stored MiniLM vectors of these passages, in order (float32 [n, 384])."""
        ids = list(passage_ids)
        found = self._conn.call(
            "reading vectors", lambda: self._conn.passages.get(ids=ids, include=["embeddings"])
        )
        row = {pid: i for i, pid in enumerate(found["ids"])}
        missing = [pid for pid in ids if pid not in row]
        if missing:
            raise KeyError(f"no passage {missing[0]!r} in the store")
        embeddings = np.asarray(found["embeddings"], dtype=np.float32)
        return embeddings[[row[pid] for pid in ids]] if ids else embeddings.reshape(0, -1)

    # -- search --------------------------------------------------------------------------

    def nearest(self, vector: np.ndarray, n: int) -> list[tuple[str, float]]:
        """The ``n`` nearest passage ids with their cosine similarity (no filter)."""
        query = np.asarray([vector], dtype=np.float32)
        got = self._conn.call(
            "searching passages",
            lambda: self._conn.passages.query(
                query_embeddings=query, n_results=n, include=["distances"]
            ),
        )
        distances = (got["distances"] or [[]])[0]
        return [(pid, 1.0 - float(d)) for pid, d in zip(got["ids"][0], distances, strict=True)]

    def dense_search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[StoredPassage, float]]:
        """The ``k`` nearest passages that pass ``filters``, with their cosine similarity."""
        k = min(k, max(self.count_passages(), 1))
        query = np.asarray([vector], dtype=np.float32)
        where: Any = records.where(filters)
        got = self._conn.call(
            "searching passages",
            lambda: self._conn.passages.query(
                query_embeddings=query,
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            ),
        )
        distances = (got["distances"] or [[]])[0]
        passages = _passages(
            {
                "documents": (got["documents"] or [[]])[0],
                "metadatas": (got["metadatas"] or [[]])[0],
            }
        )
        return [(sp, 1.0 - float(d)) for sp, d in zip(passages, distances, strict=True)]

    # -- upgrades ------------------------------------------------------------------------

    def legacy_sentence_vectors(self) -> int:
        """How many passages keep their sentence vectors in Chroma metadata, as libraries
        written by newsqa 0.1 do (embedded only; they still work, just bigger)."""
        if self._sentences is None:
            return 0
        return sum(
            records.SENTENCE_VECTORS in meta
            for found in self._conn.pages(
                "reading passages",
                lambda limit, offset: self._conn.passages.get(
                    include=["metadatas"], limit=limit, offset=offset
                ),
                _PAGE,
            )
            for meta in found["metadatas"] or []
        )

    def migrate(self, on_progress: Callable[[int], object] | None = None) -> int:
        """Move sentence vectors kept in Chroma metadata (newsqa 0.1) to the sidecar.

        Returns how many passages moved; ``on_progress(n)`` as each page of ``n`` is
        done. Idempotent and safe to interrupt: a passage's vectors are written to the
        sidecar before they leave its metadata, and readers take either.
        """
        if self._sentences is None:
            return 0
        sidecar = self._sentences
        moved = 0
        with self.writing():
            for found in self._conn.pages(
                "reading passages",
                lambda limit, offset: self._conn.passages.get(
                    include=["metadatas"], limit=limit, offset=offset
                ),
                _PAGE,
            ):
                legacy = [
                    (pid, dict(meta))
                    for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
                    if records.SENTENCE_VECTORS in meta
                ]
                if legacy:
                    rows = [
                        (
                            pid,
                            str(meta["article_id"]),
                            base64.b64decode(str(meta[records.SENTENCE_VECTORS])),
                        )
                        for pid, meta in legacy
                    ]
                    self._conn.call("writing sentence vectors", partial(sidecar.put, rows))
                    ids = [pid for pid, _ in legacy]
                    # None removes the key (paging by offset stays stable: no row moves).
                    cleared: Any = [{records.SENTENCE_VECTORS: None}] * len(ids)
                    self._conn.call(
                        "rewriting passage metadata",
                        self._on_passages("update", ids=ids, metadatas=cleared),
                    )
                    moved += len(ids)
                if on_progress is not None:
                    on_progress(len(found["ids"]))
        return moved


def _passages(found: Any) -> list[StoredPassage]:
    """StoredPassages from a Chroma ``get`` result (ids, documents, metadatas)."""
    return [
        records.stored_passage(text, dict(meta))
        for text, meta in zip(found["documents"] or [], found["metadatas"] or [], strict=True)
    ]


__all__ = ["ArticleInfo", "EmbeddedArticle", "Store", "StoreError", "StoredPassage"]
