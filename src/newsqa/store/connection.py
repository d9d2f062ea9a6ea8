"""The Chroma client and collections, and the one gate every call goes through.

:meth:`Connection.call` turns storage failures (disk full, read-only files, a
server that is down) into one :class:`StoreError` that names the data dir or the
URL. A failed call first reopens the client once and retries (every call newsqa
makes is a read or an idempotent write), so a long-running app survives a server
restart, or a stale embedded view, without being restarted itself.

Nothing connects until the first call, and chromadb itself is imported then: a
command that never reaches Chroma (``newsqa articles list`` answered from the
listing file, :mod:`newsqa.store.listing`) does not pay for importing it.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from newsqa.errors import StoreError
from newsqa.settings import Settings
from newsqa.store import rebuild

if TYPE_CHECKING:
    import chromadb

T = TypeVar("T")

# The embedded vector index writes itself to disk every this many records (Chroma's
# default is 1,000). Until then the records wait in Chroma's log (the
# ``embeddings_queue`` table, vectors and metadata), and every process that opens the
# store replays them into its in-memory index: at 1,000 that replay was most of a cold
# open (0.78 s of 0.80 s at 10k passages), and the log ~0.5 KB a passage on disk.
SYNC_THRESHOLD = 100


@cache
def _storage_errors() -> tuple[type[Exception], ...]:
    """Failures of the storage itself (as opposed to bugs in how we call it): these
    become StoreError. Chroma reports SQLite trouble ("database or disk is full",
    "attempt to write a readonly database") as InternalError; a server that is down
    as httpx errors."""
    import chromadb.errors
    import httpx

    return (chromadb.errors.ChromaError, httpx.HTTPError, sqlite3.Error, OSError)


@cache
def _reconnect_on() -> tuple[type[Exception], ...]:
    """On a server these mean "the connection or the server went away": worth one
    reconnect. NotFoundError: a restarted server hands out new collection handles."""
    import chromadb.errors
    import httpx

    return (httpx.TransportError, chromadb.errors.NotFoundError)


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


def failure(settings: Settings, what: str, exc: BaseException | str) -> StoreError:
    """The StoreError for ``what`` failing with ``exc``: where, why, what to do."""
    if settings.chroma_url is not None:
        return StoreError(
            f"the Chroma server at {settings.chroma_url} failed ({what}: "
            f"{_reason(exc)}). Is `chroma run` up? "
            "Unset NEWSQA_CHROMA_URL to use the local store."
        )
    return StoreError(
        f"cannot use the store in {settings.data_dir} ({what}: {_reason(exc)})."
        f"{_free_space(settings.data_dir)} newsqa needs a writable data dir with "
        "free space: set NEWSQA_DATA_DIR or --data-dir."
    )


class Connection:
    """An open view of the passages and articles collections, embedded or on a server.

    ``locked`` is the writer lock's context (a no-op on a server): an embedded reopen
    takes it, because the first read after a killed writer may apply its leftover log.
    """

    def __init__(
        self, settings: Settings, locked: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self.settings = settings
        self.is_server = settings.chroma_url is not None
        self._locked = locked
        self._opening = threading.Lock()
        self.opened = False
        self.generation = ""  # of this view: the stamp the store carried when read
        self.max_batch = 1
        # Set by Store.repair while it rebuilds: opening must not refuse the half-built index.
        self.rebuilding = False

    def failure(self, what: str, exc: BaseException | str) -> StoreError:
        return failure(self.settings, what, exc)

    def call(self, what: str, op: Callable[[], T]) -> T:
        """Run one store operation; storage failures become a StoreError saying ``what``.

        The first call connects (under the writer lock: the first open of an empty
        store creates its collections). A failure worth it gets one reopen and retry:
        on a server, a dropped connection; embedded, a Chroma error from a stale view
        (e.g. a reader that opened an empty store, after a writer was killed before
        its first flush: "Error creating hnsw segment reader: Nothing found on disk").
        """
        if not self.opened:
            with self._opening:
                if not self.opened:
                    with self._locked():
                        self._attempt("opening the store", self.open)
        return self._attempt(what, op)

    def _attempt(self, what: str, op: Callable[[], T]) -> T:
        try:
            return op()
        except _storage_errors() as exc:
            if not self._worth_reopening(exc):
                raise self.failure(what, exc) from exc
        try:
            with self._locked():
                self.open()
            return op()
        except _storage_errors() as exc:
            if not self.is_server and rebuild.is_damage(exc):
                raise self.damaged(exc) from exc
            raise self.failure(what, exc) from exc

    def damaged(self, exc: BaseException | str) -> StoreError:
        return rebuild.damaged_error(self.settings.data_dir, _reason(exc))

    def _worth_reopening(self, exc: Exception) -> bool:
        import chromadb.errors

        if self.is_server:
            return isinstance(exc, _reconnect_on())
        return isinstance(exc, chromadb.errors.ChromaError) and not isinstance(
            exc,
            chromadb.errors.InvalidArgumentError,  # a bug in the call, not the store
        )

    def _client(self) -> chromadb.ClientAPI:
        import chromadb

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

    def connect(self) -> None:
        """A fresh client, no collection opened yet; call it holding the lock."""
        import chromadb.api.client

        if not self.is_server:
            # The client caches one System per path; without clearing it a reopen
            # would hand back the same stale in-memory index.
            chromadb.api.client.SharedSystemClient.clear_system_cache()
        self.client = self._client()

    def open(self) -> None:
        """(Re)connect and fetch fresh collection handles; call it holding the lock."""
        self.connect()
        name = self.settings.collection
        self.passages = self._collection(f"{name}_passages")
        self.articles = self._collection(f"{name}_articles")
        if not self.is_server:
            due = rebuild.RebuildNote(self.settings.data_dir).read()
            if due and not self.rebuilding:
                raise self.damaged("a rebuild of it was interrupted")
            # Chroma applies log entries a killed writer left unapplied on the first read,
            # i.e. a read may write: do it here, where the caller holds the writer lock.
            try:
                self.passages.count()
                self.articles.count()
            except _storage_errors() as exc:
                if rebuild.is_damage(exc):
                    raise self.damaged(exc) from exc
                raise
        # Chroma's own limit on records per write (5,461 embedded; the server says its own).
        self.max_batch = self.client.get_max_batch_size()
        self.generation = self.read_generation()
        self.opened = True

    def unreadable(self, name: str, page: int = 5_000) -> str | None:
        """Why the collection ``name``'s vector index does not read back whole (every
        vector), or None if it does; after :meth:`connect`, holding the lock."""
        try:
            collection = self.client.get_collection(name)
            collection.count()
            offset = 0
            while found := collection.get(include=["embeddings"], limit=page, offset=offset)["ids"]:
                offset += len(found)
        except _storage_errors() as exc:
            if rebuild.is_damage(exc):
                return _reason(exc)
            raise self.failure(f"checking the index of {name}", exc) from exc
        return None

    def _collection(self, name: str) -> Any:
        """The collection ``name``, created if need be; embedded, with the index synced
        to disk every :data:`SYNC_THRESHOLD` records (older libraries are switched to
        it here: a setting of the collection, nothing is rewritten)."""
        hnsw: Any = {"space": "cosine"}
        if not self.is_server:
            hnsw["sync_threshold"] = SYNC_THRESHOLD
        collection = self.client.get_or_create_collection(
            name, configuration={"hnsw": hnsw}, embedding_function=None
        )
        if not self.is_server:
            current = (collection.configuration_json or {}).get("hnsw") or {}
            if current.get("sync_threshold", SYNC_THRESHOLD) != SYNC_THRESHOLD:
                collection.modify(configuration={"hnsw": {"sync_threshold": SYNC_THRESHOLD}})
        return collection

    def read_meta(self) -> dict[str, Any]:
        """The passages collection's own metadata, as stored now (not as opened)."""
        collection = self.client.get_collection(f"{self.settings.collection}_passages")
        return dict(collection.metadata or {})

    def read_generation(self) -> str:
        return str(self.read_meta().get("generation", ""))

    def write_meta(self, meta: dict[str, Any]) -> None:
        # modify() replaces the whole metadata: callers pass every key.
        self.passages.modify(metadata=meta)

    def pages(self, what: str, get: Callable[[int, int], Any], page: int = 5_000) -> Iterator[Any]:
        """``get(limit, offset)`` results, a page at a time, each read through :meth:`call`."""
        offset = 0
        while True:

            def read(offset: int = offset) -> Any:
                return get(page, offset)

            found = self.call(what, read)
            if not found["ids"]:
                return
            yield found
            offset += len(found["ids"])
