"""A readers-writer gate: the one ``NewsQA`` that serves every app session.

Questions, article lists and article texts only read the store and the BM25
index, so any number of them may run at once. What changes that in-memory view
must run alone: reopening the store after another process wrote, rebuilding the
BM25 index, and this process's own ingests and removals. A plain lock would make
every reader wait for every other (issue 14: eight sessions queued behind one
lock); this lets readers overlap and gives a waiting writer priority, so a
steady stream of questions cannot starve an upload.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteGate:
    """Many readers at once, or one writer alone; a waiting writer goes before new readers.

    Re-entrant per thread: a thread that holds the gate passes through a nested
    ``shared()`` or ``exclusive()`` (so a public method may call another), except
    that a reader cannot become a writer (that would deadlock two such readers).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._held = threading.local()  # .mode: None, "shared" or "exclusive"

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the gate with other readers; waits while a writer holds or waits for it."""
        if getattr(self._held, "mode", None) is not None:
            yield
            return
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        self._held.mode = "shared"
        try:
            yield
        finally:
            self._held.mode = None
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the gate alone; waits for the readers inside to leave. Raises
        RuntimeError in a thread that holds it shared."""
        mode = getattr(self._held, "mode", None)
        if mode == "exclusive":
            yield
            return
        if mode == "shared":
            raise RuntimeError("a reader cannot take the exclusive gate (deadlock)")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writing or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writing = True
        self._held.mode = "exclusive"
        try:
            yield
        finally:
            self._held.mode = None
            with self._cond:
                self._writing = False
                self._cond.notify_all()
