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
- ``sidecar``: the embedded store's sentence vectors and article texts, beside Chroma;
- ``listing``: the article list as a file, so that listing needs no Chroma;
- ``side``: collections other modules keep in the library (followed feeds);
- ``rebuild``: recognising a vector index a crash left unreadable, for :meth:`Store.repair`.

What is stored:

- ``<name>_passages``: one record per passage (id ``article:index``), its MiniLM
  vector (cosine space), its offsets and sentences, and what filters select it by;
  no text (it is its article's text between its offsets);
- ``<name>_articles``: one record per article with its metadata and the mean of its
  passage vectors, and its full text (so every citation can be checked against the
  source): the record's document on a server, in the sidecar when embedded;
- the sentence vectors of each passage (:mod:`newsqa.store.sidecar`);
- ``<name>_feeds``: the feeds the library follows and the items it has seen
  (:mod:`newsqa.feeds`, through :mod:`newsqa.store.side`).

Libraries written by earlier versions (passage texts and article metadata on each
passage, article texts as Chroma documents) are read as they are, record by record.

Nothing connects to Chroma until a method needs it; listing the articles of an
embedded library usually does not (:mod:`newsqa.store.listing`).

Writes are upserts, so a retried write never duplicates anything. Embedding is
not the store's job: :mod:`newsqa.ingest` hands it vectors ready to write.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import numpy as np

from newsqa.errors import StoreError
from newsqa.models import Filters
from newsqa.settings import Settings
from newsqa.store import rebuild, records
from newsqa.store.connection import Connection
from newsqa.store.journal import Journal, WriterLock
from newsqa.store.listing import Listing
from newsqa.store.records import (
    ArticleInfo,
    ArticleRecord,
    ArticleView,
    EmbeddedArticle,
    StoredPassage,
)
from newsqa.store.side import SideCollection
from newsqa.store.sidecar import Sidecar

_PAGE = 5_000  # rows per read when reading the whole collection
_IN_LIMIT = 500  # values per ``$in`` or ids list in one read
# Articles whose text and metadata a Store keeps in memory (passage reads rebuild
# their text from them): the answers of a few questions' candidates, not a library.
_VIEWS = 2_000


class Store:
    """The passage and article collections, embedded or on a Chroma server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_server = settings.chroma_url is not None
        lock = WriterLock(settings)
        self._conn = Connection(settings, lock.held)
        self._sentences: Sidecar | None = None
        self._listing = (
            None
            if self.is_server
            else Listing(settings.data_dir / "listing" / f"{settings.collection}.json")
        )
        self._journal = Journal(self._conn, lock, self._listing)
        self._views: OrderedDict[str, ArticleView] = OrderedDict()
        self._views_generation = ""
        self._views_lock = threading.Lock()
        self._count: tuple[str, int] | None = None  # (generation, passages)
        if not self.is_server:
            try:
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise self._conn.failure(
                    "creating the data dir", "it is a file, not a folder"
                ) from None
            except OSError as exc:
                raise self._conn.failure("creating the data dir", exc) from None
            self._sentences = Sidecar(
                settings.data_dir / "sentences" / f"{settings.collection}.sqlite3"
            )

    # -- following other writers ---------------------------------------------------------

    def generation(self) -> str:
        """Changes whenever any process writes; cheap enough to call per question."""
        if not self._conn.opened:
            listed = self._listing.read() if self._listing is not None else None
            if listed is not None:
                return listed[0]
            self._conn.call("opening the store", lambda: None)
        return self._conn.generation

    def stale(self) -> bool:
        """True if another process (or machine) wrote since we looked (one metadata read).

        Unlike :meth:`refresh` it changes nothing, so many threads may ask at once.
        A store not opened yet has not looked: nothing it holds can be stale.
        """
        if not self._conn.opened:
            return False
        return self._journal.current() != self._conn.generation

    def refresh(self) -> bool:
        """Reopen if another process (or machine) wrote since we looked. True if it did."""
        if not self._conn.opened:
            return False
        current = self._journal.current()
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
        metas: list[dict[str, Any]] = []
        rows: list[tuple[str, str, bytes]] = []
        for e in batch:
            for passage, sentences in zip(e.passages, e.sentence_vectors, strict=True):
                ids.append(passage.id)
                # A server keeps them in the passage's metadata; embedded, in the sidecar.
                in_meta = sentences if self._sentences is None else None
                metas.append(records.passage_metadata(e.article, passage, in_meta))
                rows.append((passage.id, e.article.id, records.quantize(sentences)))
        texts: list[str] | None = [e.article.text for e in batch]
        if self._sentences is not None:
            sidecar, kept = self._sentences, [(e.article.id, e.article.text) for e in batch]
            self._conn.call("writing sentence vectors", lambda: sidecar.put(rows, kept))
            texts = None  # embedded: in the sidecar, not in Chroma (see records)
        vectors = np.concatenate([e.passage_vectors for e in batch]).astype(np.float32)
        self._upsert("writing passages", "passages", ids, None, metas, vectors)
        self._count = None  # (a count during the write may have seen part of it)
        self._upsert(
            "writing articles",
            "articles",
            [e.article.id for e in batch],
            texts,
            [records.article_metadata(e) for e in batch],
            np.stack([e.vector for e in batch]).astype(np.float32),
        )

    def _upsert(
        self,
        what: str,
        collection: str,
        ids: list[str],
        documents: list[str] | None,
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
                    documents=documents[part] if documents is not None else None,
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
        self._count = None
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

    def article_origins(self, article_ids: Sequence[str], origins: Sequence[str]) -> dict[str, str]:
        """Id -> origin of the stored articles that have one of these ids or come from
        one of these origins (for ingest planning: reading only these keeps an ingest
        into a large library from reading every record first)."""
        out: dict[str, str] = {}
        wanted = set(origins)
        ids, sources = list(dict.fromkeys(article_ids)), sorted(wanted)
        for start in range(0, max(len(ids), len(sources)), _IN_LIMIT):
            id_part, source_part = (
                ids[start : start + _IN_LIMIT],
                sources[start : start + _IN_LIMIT],
            )
            # Records written before ``origin`` existed name theirs in ``source``.
            where: Any = (
                {"$or": [{"origin": {"$in": source_part}}, {"source": {"$in": source_part}}]}
                if source_part
                else None
            )
            asked = set(id_part)
            reads = [{"ids": id_part}] if id_part else []
            reads += [{"where": where}] if where is not None else []
            for read in reads:

                def get(read: dict[str, Any] = read) -> Any:
                    return self._conn.articles.get(include=["metadatas"], **read)

                found = self._conn.call("reading articles", get)
                for i, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
                    origin = records.article_origin(dict(meta))
                    if i in asked or origin in wanted:
                        out[i] = origin
        return out

    def article_text(self, article_id: str) -> str | None:
        view = self._article_views([article_id]).get(article_id)
        return view.text if view is not None else None

    def _texts(self, found: Any) -> list[str]:
        """The texts of the articles of a Chroma ``get`` result, in its order: the
        documents, or (embedded libraries since the sidecar kept them) the sidecar's."""
        docs = [d or "" for d in found.get("documents") or [""] * len(found["ids"])]
        elsewhere = [i for i, d in zip(found["ids"], docs, strict=True) if not d]
        if elsewhere:
            kept = self._kept_texts(elsewhere)
            docs = [d or kept.get(i, "") for i, d in zip(found["ids"], docs, strict=True)]
        return docs

    def _kept_texts(self, article_ids: list[str]) -> dict[str, str]:
        """Those of these articles' texts that the sidecar keeps (none on a server)."""
        if self._sentences is None or not article_ids:
            return {}
        sidecar = self._sentences
        return self._conn.call("reading article texts", lambda: sidecar.texts(article_ids))

    def _article_views(self, article_ids: Sequence[str]) -> dict[str, ArticleView]:
        """The text and metadata of those of these articles that have a record; the
        last few thousand read are kept (until the next write anywhere)."""
        with self._views_lock:
            if self._views_generation != self._conn.generation:
                self._views.clear()
                self._views_generation = self._conn.generation
            out = {i: self._views[i] for i in article_ids if i in self._views}
        missing = sorted({i for i in article_ids if i not in out})
        if not missing:
            return out
        # The sidecar first: when it has every text (libraries written since it kept
        # them), Chroma is asked for the metadata alone, which is cheaper.
        kept = self._kept_texts(missing)
        include: Any = ["metadatas"] if len(kept) == len(missing) else ["documents", "metadatas"]
        found = self._conn.call(
            "reading articles", lambda: self._conn.articles.get(ids=missing, include=include)
        )
        docs = found.get("documents") or [None] * len(found["ids"])
        read = {
            i: records.article_view(i, kept.get(i) or doc or "", dict(meta))
            for i, doc, meta in zip(found["ids"], docs, found["metadatas"] or [], strict=True)
        }
        with self._views_lock:
            if self._views_generation == self._conn.generation:
                self._views.update(read)
                while len(self._views) > _VIEWS:
                    self._views.popitem(last=False)
        return out | read

    def list_articles(self) -> list[ArticleInfo]:
        """Every article, newest date first."""
        return self.catalogue()[1]

    def catalogue(self) -> tuple[str, list[ArticleInfo]]:
        """(the generation, every article newest date first): embedded, from the listing
        file when the last write has been listed already, without opening Chroma."""
        if self._listing is None:
            return self.generation(), self._read_articles()
        if not self._conn.opened:
            listed = self._listing.read()
            if listed is not None:
                return listed
        with self._journal.lock.held_if_free() as locked:
            # Under the lock no write can start, so what is read now is the list as of
            # this generation; without it (a writer is busy), read and keep no file.
            generation = self._conn.call("checking for changes", self._conn.read_generation)
            infos = self._read_articles()
            if locked:
                self._listing.write(generation, infos)
        return generation, infos

    def _read_articles(self) -> list[ArticleInfo]:
        found = self._conn.call(
            "listing articles", lambda: self._conn.articles.get(include=["metadatas"])
        )
        infos = [
            records.article_info(article_id, dict(meta))
            for article_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
        ]
        return sorted(infos, key=lambda a: (a.date or "", a.title), reverse=True)

    def side(self, suffix: str) -> SideCollection:
        """The library's ``<collection>_<suffix>`` collection, for a module's own records
        (:mod:`newsqa.feeds`); written inside :meth:`writing` like everything else."""
        return SideCollection(self._conn, f"{self.settings.collection}_{suffix}")

    # -- stories (newsqa.stories) --------------------------------------------------------

    def article_ids(self) -> list[str]:
        """Every article id (ids only: a cheap read)."""
        found = self._conn.call("listing articles", lambda: self._conn.articles.get(include=[]))
        return list(found["ids"])

    def article_records(
        self,
        article_ids: Sequence[str] | None = None,
        *,
        stories: Sequence[str] | None = None,
        texts: bool = True,
    ) -> dict[str, ArticleRecord]:
        """The records of these articles, or of every article of these stories (or
        both: those of ``article_ids`` in ``stories``); texts only when ``texts``."""
        if (article_ids is not None and not article_ids) or (stories is not None and not stories):
            return {}
        ids = list(article_ids) if article_ids is not None else None
        where: Any = records.by_stories(stories) if stories is not None else None
        include: Any = ["documents", "metadatas"] if texts else ["metadatas"]
        found = self._conn.call(
            "reading articles",
            lambda: self._conn.articles.get(ids=ids, where=where, include=include),
        )
        metas = found["metadatas"] or []
        docs = self._texts(found) if texts else [""] * len(metas)
        return {
            i: records.article_record(i, str(doc), dict(meta))
            for i, doc, meta in zip(found["ids"], docs, metas, strict=True)
        }

    def set_stories(self, labels: Mapping[str, str]) -> None:
        """Give these articles new story ids; inside :meth:`writing`. A metadata update
        changes only the keys it names. (Passages are read with their article's story:
        the ``story`` that older libraries also kept on each passage is not read.)"""
        if not labels:
            return
        ids = list(labels)
        self._conn.call(
            "updating articles",
            lambda: self._conn.articles.update(
                ids=ids, metadatas=[{"story": labels[i]} for i in ids]
            ),
        )

    # -- passages ------------------------------------------------------------------------

    def count_passages(self) -> int:
        """How many passages the store holds now. Chroma counts rows (~1.8 ms at 10k
        passages, twice a question), so the count is kept while the last write's stamp
        file (:mod:`newsqa.store.listing`) says nothing was written since."""
        counted = self._count
        if (
            counted is not None
            and self._listing is not None
            and counted[0] == self._conn.generation == self._listing.generation()
        ):
            return counted[1]

        def count() -> tuple[str, int]:
            return self._conn.generation, self._conn.passages.count()

        self._count = self._conn.call("counting passages", count)
        return self._count[1]

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
            out += self._passages(self._conn.call("reading passages", get))
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
            yield from self._passages(found)

    def _passages(self, found: Any) -> list[StoredPassage]:
        """StoredPassages from a Chroma ``get`` result (ids, documents, metadatas), in its
        order. A passage whose article has no record (left by an interrupted write, and
        about to be swept) is left out: it has no text to cite."""
        metas = [dict(m) for m in found["metadatas"] or []]
        docs = found.get("documents") or [None] * len(metas)
        views = self._article_views([str(m["article_id"]) for m in metas])
        return [
            records.stored_passage(meta, views[str(meta["article_id"])], doc)
            for doc, meta in zip(docs, metas, strict=True)
            if str(meta["article_id"]) in views
        ]

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
        rows = {
            "ids": got["ids"][0],
            "documents": (got["documents"] or [[]])[0],
            "metadatas": (got["metadatas"] or [[]])[0],
        }
        distances = dict(zip(rows["ids"], (got["distances"] or [[]])[0], strict=True))
        return [(sp, 1.0 - float(distances[sp.passage.id])) for sp in self._passages(rows)]

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

    def repair(
        self,
        encode: Callable[[list[str]], np.ndarray],
        on_progress: Callable[[int, int], object] | None = None,
        batch: int = 256,
    ) -> list[str]:
        """Rebuild each of the library's vector indexes that Chroma cannot read back
        (see :mod:`newsqa.store.rebuild`); returns the collections rebuilt, none when
        every index reads back whole. Embedded only: a server keeps its own.

        ``encode(texts)`` gives passage vectors as ingest wrote them (it holds the
        model; the store does not embed). ``on_progress(n, total)``: ``n`` more of
        ``total`` passages done. Safe to interrupt and rerun.
        """
        if self.is_server:
            return []
        note = rebuild.RebuildNote(self.settings.data_dir)
        prefix = f"{self.settings.collection}_"
        with self._journal.lock.held():
            due = note.read()
            self._conn.connect()
            folders = {
                name: folder
                for name, folder in rebuild.vector_folders(
                    self.settings.data_dir / "chroma"
                ).items()
                if name.startswith(prefix)
            }
            redo = [n for n in folders if n in due or "*" in due]
            damaged = [n for n in folders if n not in redo and self._conn.unreadable(n)]
            if not redo and not damaged:
                note.clear()
                if self._conn.opened:  # handles from the client connect() replaced
                    self._conn.call("reopening the store", self._conn.open)
                return []
            note.write(sorted(redo + damaged))
            rebuild.set_aside(self.settings.data_dir, {n: folders[n] for n in damaged}, keep=True)
            rebuild.set_aside(self.settings.data_dir, {n: folders[n] for n in redo}, keep=False)
            self._conn.rebuilding = True
            try:
                self._conn.call("reopening the store", self._conn.open)
                with self.writing():
                    self._rebuild(set(redo + damaged), encode, on_progress, batch)
                note.clear()
            finally:
                self._conn.rebuilding = False
        return sorted(redo + damaged)

    def _rebuild(
        self,
        names: set[str],
        encode: Callable[[list[str]], np.ndarray],
        on_progress: Callable[[int, int], object] | None,
        batch: int,
    ) -> None:
        """Write every record of these collections again, with its vector (inside
        :meth:`writing`, the damaged index folders set aside)."""
        prefix = self.settings.collection
        passages, articles = f"{prefix}_passages" in names, f"{prefix}_articles" in names
        sums: dict[str, np.ndarray] = {}  # article id -> sum of its passage vectors
        ids = self.passage_ids() if passages or articles else []
        orphans: set[str] = set()
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            # Passages rebuilt: from their texts; else only their vectors, for the means.
            include: Any = ["documents", "metadatas"] if passages else ["metadatas", "embeddings"]
            found = self._conn.call(
                "reading passages", self._on_passages("get", ids=chunk, include=include)
            )
            metas = [dict(m) for m in found["metadatas"] or []]
            owners = [str(m["article_id"]) for m in metas]
            if passages:
                views = self._article_views(owners)
                docs = list(found["documents"] or [None] * len(metas))
                orphans |= {a for a in owners if a not in views}
                rows = [i for i, a in enumerate(owners) if a in views]
                texts = [
                    records.stored_passage(metas[i], views[owners[i]], docs[i]).passage.text
                    for i in rows
                ]
                vectors = encode(texts).astype(np.float32) if texts else np.zeros((0, 0))
                self._rewrite(
                    "passages",
                    [found["ids"][i] for i in rows],
                    [docs[i] for i in rows],
                    [metas[i] for i in rows],
                    vectors,
                )
                owners = [owners[i] for i in rows]
            else:
                vectors = np.asarray(found["embeddings"], dtype=np.float32)
            for owner, vector in zip(owners, vectors, strict=True):
                sums[owner] = sums.get(owner, 0.0) + vector
            if on_progress is not None:
                on_progress(len(chunk), len(ids))
        if orphans:  # passages an interrupted write left without their article
            self._delete_passages("removing orphan passages", sorted(orphans))
        if articles:
            found = self._conn.call(
                "reading articles",
                lambda: self._conn.articles.get(include=["documents", "metadatas"]),
            )
            metas = [dict(m) for m in found["metadatas"] or []]
            means = []
            for article_id, meta in zip(found["ids"], metas, strict=True):
                total = sums.get(article_id)
                if total is None:  # as ingest does for an article without passages
                    total = encode([records.article_info(article_id, meta).title])[0]
                means.append(total / max(float(np.linalg.norm(total)), 1e-12))
            docs = list(found["documents"] or [None] * len(metas))
            self._rewrite(
                "articles", list(found["ids"]), docs, metas, np.asarray(means, dtype=np.float32)
            )
        for name in sorted(names - {f"{prefix}_passages", f"{prefix}_articles"}):
            side = self.side(name.removeprefix(f"{prefix}_"))
            side.upsert("rebuilding the index", side.records("reading records"))

    def _rewrite(
        self,
        collection: str,
        ids: list[str],
        documents: list[str | None],
        metadatas: list[dict[str, Any]],
        vectors: np.ndarray,
    ) -> None:
        """Upsert records as they were, with new vectors. Those with a document and those
        without go apart: Chroma takes documents for all records of a call or none."""
        what = f"rebuilding the {collection} index"
        for has_doc in (True, False):
            rows = [i for i, d in enumerate(documents) if bool(d) == has_doc]
            if rows:
                texts = [str(documents[i]) for i in rows] if has_doc else None
                self._upsert(
                    what,
                    collection,
                    [ids[i] for i in rows],
                    texts,
                    [metadatas[i] for i in rows],
                    vectors[rows],
                )


__all__ = [
    "ArticleInfo",
    "ArticleRecord",
    "EmbeddedArticle",
    "SideCollection",
    "Store",
    "StoreError",
    "StoredPassage",
]
