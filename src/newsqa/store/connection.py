"""The Chroma client and collections, and the one gate every call goes through.

:meth:`Connection.call` turns storage failures (disk full, read-only files, a
server that is down) into one :class:`StoreError` that names the data dir or the
URL. A failed call first reopens the client once and retries (every call newsqa
makes is a read or an idempotent write), so a long-running app survives a server
restart, or a stale embedded view, without being restarted itself.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import chromadb
import chromadb.errors
import httpx
from chromadb.api.collection_configuration import CreateCollectionConfiguration

from newsqa.errors import StoreError
from newsqa.settings import Settings

T = TypeVar("T")

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
        self.generation = ""  # of this view: the stamp the store carried when read
        self.max_batch = 1

    def failure(self, what: str, exc: BaseException | str) -> StoreError:
        return failure(self.settings, what, exc)

    def call(self, what: str, op: Callable[[], T]) -> T:
        """Run one store operation; storage failures become a StoreError saying ``what``.

        A failure worth it gets one reopen and retry: on a server, a dropped
        connection; embedded, a Chroma error from a stale view (e.g. a reader that
        opened an empty store, after a writer was killed before its first flush:
        "Error creating hnsw segment reader: Nothing found on disk").
        """
        try:
            return op()
        except _STORAGE_ERRORS as exc:
            if not self._worth_reopening(exc):
                raise self.failure(what, exc) from exc
        try:
            with self._locked():
                self.open()
            return op()
        except _STORAGE_ERRORS as exc:
            raise self.failure(what, exc) from exc

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

    def open(self) -> None:
        """(Re)connect and fetch fresh collection handles; call it holding the lock."""
        if not self.is_server:
            # The client caches one System per path; without clearing it a reopen
            # would hand back the same stale in-memory index.
            chromadb.api.client.SharedSystemClient.clear_system_cache()
        self.client = self._client()
        name = self.settings.collection
        self.passages = self.client.get_or_create_collection(
            f"{name}_passages", configuration=_COSINE, embedding_function=None
        )
        self.articles = self.client.get_or_create_collection(
            f"{name}_articles", configuration=_COSINE, embedding_function=None
        )
        if not self.is_server:
            # Chroma applies log entries a killed writer left unapplied on the first read,
            # i.e. a read may write: do it here, where the caller holds the writer lock.
            self.passages.count()
            self.articles.count()
        # Chroma's own limit on records per write (5,461 embedded; the server says its own).
        self.max_batch = self.client.get_max_batch_size()
        self.generation = self.read_generation()

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
