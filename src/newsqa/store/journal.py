"""One writer at a time, a generation stamp for readers, and a note that outlives a crash.

Embedded Chroma is thread-safe but not process-safe, so every write holds an
exclusive file lock (``write.lock`` in the data dir) and works on a fresh view of
the store (a stale in-memory index must never be written back). Vectors are
computed before the lock is taken, so it is held for the database write only.
A Chroma server needs no lock. Each write also first removes the listing file
(:mod:`newsqa.store.listing`), so that file never outlives the state it lists,
and leaves its final generation beside it as it finishes.

Each write stamps a new *generation* on the passages collection's metadata;
readers compare it before each question and reopen when it changed, which is
also how the BM25 index and the sentence-vector cache know to catch up.

An article's passages are written before its article record, and a removal
deletes the record before the passages, so an interrupted write (killed
process, full disk) leaves at worst passages without a record (*orphans*: not
listed, and citations from them fail verification), never a listed article with
passages missing. Orphans are cleaned up, never left to pile up:

- embedded: each write first notes the article ids it touches (``pending``, next
  to the generation); the next writer, under the lock, removes what any noted id
  that has no record left behind, and a finished write clears the note;
- server (no lock, so no note): rerunning the ingest overwrites them (ids are
  deterministic), and ``Store.delete_orphans`` sweeps them when the file changed.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from filelock import FileLock, Timeout

from newsqa.errors import StoreError
from newsqa.settings import Settings
from newsqa.store.connection import Connection, failure
from newsqa.store.listing import Listing


class WriterLock:
    """The data dir's ``write.lock`` (embedded); on a server, no lock at all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = (
            None
            if settings.chroma_url is not None
            else FileLock(str(settings.data_dir / "write.lock"))
        )

    @contextmanager
    def held(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        try:
            self._lock.acquire()
        except OSError as exc:  # a read-only or vanished data dir
            raise failure(self.settings, "taking the writer lock", exc) from None
        try:
            yield
        finally:
            self._lock.release()

    @contextmanager
    def held_if_free(self) -> Iterator[bool]:
        """The lock if no one holds it (True), else nothing (False); never waits.
        False too where this thread holds it already: it is in the middle of a write."""
        if self._lock is None or self._lock.is_locked:
            yield False
            return
        try:
            self._lock.acquire(timeout=0)
        except (Timeout, OSError):
            yield False
            return
        try:
            yield True
        finally:
            self._lock.release()


class Journal:
    """The generation stamp and the note of pending writes, and the write protocol."""

    def __init__(self, conn: Connection, lock: WriterLock, listing: Listing | None) -> None:
        self.conn = conn
        self.lock = lock
        self.listing = listing
        self._pending: list[str] = []  # article ids the current write touches

    def stamp(self, pending: Sequence[str] = ()) -> None:
        """Write a new generation (and the pending note: both are always written)."""
        new = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        meta = {"generation": new, "pending": ",".join(pending)}
        self.conn.call("updating the store", lambda: self.conn.write_meta(meta))
        self.conn.generation = new

    def note(self, article_ids: Sequence[str]) -> None:
        """Note ids about to be written or removed, so a crash midway can be cleaned up.

        The note also stamps a new generation, so readers reopen even if this writer
        dies before its final stamp (a stale view can fail, not just miss data).
        """
        if self.conn.is_server:  # without a lock, writers would overwrite each other's notes
            return
        self._pending += [i for i in article_ids if i not in self._pending]
        self.stamp(self._pending)

    def noted(self) -> list[str]:
        """Article ids noted by a write that is in progress or was interrupted (embedded)."""
        meta = self.conn.call("reading the store", self.conn.read_meta)
        return [i for i in str(meta.get("pending") or "").split(",") if i]

    @contextmanager
    def writing(self, recover: Callable[[list[str]], None]) -> Iterator[None]:
        """Hold the lock on a fresh view; ``recover(noted ids)`` first; stamp after."""
        with self.lock.held():
            self._pending = []
            if self.listing is not None:
                try:
                    self.listing.remove()
                except OSError as exc:
                    raise failure(self.conn.settings, "updating the article list", exc) from None
            if not self.conn.is_server:
                # Reopen only when another process wrote since our own last stamp:
                # reopening reloads the whole vector index, which grows with the
                # library and would make every batch of a long ingest slower.
                current = self.conn.call("checking for changes", self.conn.read_generation)
                if current != self.conn.generation:
                    self.conn.call("reopening the store", self.conn.open)
                recover(self.noted())
            try:
                yield
            except BaseException:
                # Part of the write may have landed: readers must look again, and the
                # next writer must check what this one noted. If the stamp fails too
                # (disk still full), the note stays and the first error is the one to see.
                with contextlib.suppress(StoreError):
                    self.stamp(self._pending)
                raise
            self.stamp()
            if self.listing is not None:
                self.listing.stamped(self.conn.generation)

    def current(self) -> str:
        """The generation now: the last write's stamp file when it says ours (no
        Chroma call: every question asks), else what Chroma holds."""
        if self.listing is None:
            return self.conn.call("checking for changes", self.conn.read_generation)
        stamped = self.listing.generation()
        if stamped == self.conn.generation:
            return stamped
        with self.lock.held_if_free() as locked:
            # Under the lock, what Chroma holds is the last write's: file it for next
            # time where the file is missing (a library last written before it existed)
            # or says otherwise (written by hand, or by older code).
            current = self.conn.call("checking for changes", self.conn.read_generation)
            if locked and stamped != current:
                self.listing.stamped(current)
        return current
