"""Collections other modules keep in the library, beside the articles.

:mod:`newsqa.feeds` keeps what a library follows in ``<name>_feeds``: in the
library rather than the data dir, so that with a Chroma server every machine
sharing the library sees it. Records are metadata only; Chroma wants a vector per
record, so each gets the same one-number vector, never searched. Every call goes
through :meth:`Connection.call`, like the store's own, and each looks the
collection up when it runs (a reconnect replaces the client).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from newsqa.store.connection import Connection


class SideCollection:
    """The records of one side collection (created on the first write)."""

    def __init__(self, conn: Connection, name: str) -> None:
        self._conn = conn
        self.name = name

    def get(self, what: str, where: dict[str, Any]) -> list[dict[str, Any]]:
        """The metadata of the records ``where`` selects; none before the first write."""

        def read() -> list[dict[str, Any]]:
            import chromadb.errors

            try:
                collection = self._conn.client.get_collection(self.name)
            except chromadb.errors.NotFoundError:
                return []
            found = collection.get(where=where, include=["metadatas"])
            return [dict(m) for m in found["metadatas"] or []]

        return self._conn.call(what, read)

    def records(self, what: str) -> list[tuple[str, dict[str, Any]]]:
        """Every ``(id, metadata)`` record (for rebuilding the index: see Store.repair)."""

        def read() -> list[tuple[str, dict[str, Any]]]:
            found = self._collection().get(include=["metadatas"])
            return [
                (i, dict(m)) for i, m in zip(found["ids"], found["metadatas"] or [], strict=True)
            ]

        return self._conn.call(what, read)

    def upsert(self, what: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Write ``(id, metadata)`` records (inside the store's ``writing()``)."""
        for start in range(0, len(records), self._conn.max_batch):
            part = records[start : start + self._conn.max_batch]

            def upsert(part: Sequence[tuple[str, dict[str, Any]]] = part) -> None:
                vectors = [[1.0] for _ in part]  # Chroma wants lists (or arrays)
                self._collection().upsert(
                    ids=[i for i, _ in part],
                    metadatas=[m for _, m in part],
                    embeddings=vectors,
                )

            self._conn.call(what, upsert)

    def delete(
        self, what: str, *, ids: Sequence[str] = (), where: dict[str, Any] | None = None
    ) -> None:
        """Delete records by id and/or by ``where`` (inside the store's ``writing()``)."""

        def delete() -> None:
            collection = self._collection()
            if ids:
                collection.delete(ids=list(ids))
            if where is not None:
                collection.delete(where=where)

        self._conn.call(what, delete)

    def _collection(self) -> Any:
        return self._conn.client.get_or_create_collection(self.name, embedding_function=None)
