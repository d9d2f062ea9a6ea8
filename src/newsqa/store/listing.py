"""The article list as a file beside Chroma, so that listing needs no Chroma at all.

``newsqa articles list`` in a fresh process spent most of its time importing
chromadb and opening the store (2.6 s at 10k passages). The list is small and
changes only when the library does, so the embedded store keeps a copy in
``data_dir/listing/<collection>.json`` with the generation it was read at.

The file is trusted only because of how it is kept: every write removes it, under
the writer lock, before it changes anything (:meth:`Journal.writing`), and it is
written only by a reader holding that lock, from what it read under it. So a file
that exists is the list as of the last write; after a write (or a crash midway)
there is none until the next listing reads Chroma and writes it again. A Chroma
server's library has no such file: other machines write to it without our lock.

Beside it, kept by the same protocol, ``<collection>.generation``: the generation
the last write stamped, written by that writer (still under the lock) as it
finishes. A reader checks it before every question (:meth:`Store.stale`) instead
of asking Chroma (a collection read, ~0.6 ms, three times a question). It only
ever proves "nothing changed": a missing file, or a different generation, is
confirmed with Chroma.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path

from newsqa.store.records import ArticleInfo

_FORMAT = 1


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a reader sees the old file or the new one);
    best effort: failing leaves no partial file."""
    part = path.with_suffix(f".{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_text(text, encoding="utf-8")
        part.replace(path)
    except OSError:
        part.unlink(missing_ok=True)


class Listing:
    """The listing file of one collection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp_path = path.with_suffix(".generation")
        # The last file parsed, by identity: a store asks for the generation and then
        # the list, and the app asks on every rerun; a replaced file is a new inode.
        self._parsed: tuple[tuple[int, int, int], str, tuple[ArticleInfo, ...]] | None = None

    def read(self) -> tuple[str, list[ArticleInfo]] | None:
        """(generation, articles) as of the last write, or None when there is no file."""
        try:
            stat = self.path.stat()
            key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if self._parsed is None or self._parsed[0] != key:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("format") != _FORMAT:
                    return None
                articles = tuple(ArticleInfo(*row) for row in data["articles"])
                self._parsed = (key, str(data["generation"]), articles)
            return self._parsed[1], list(self._parsed[2])
        except (OSError, ValueError, TypeError, KeyError):
            return None  # none yet, or unreadable: the store reads Chroma instead

    def write(self, generation: str, articles: Sequence[ArticleInfo]) -> None:
        """Replace the file (call it holding the writer lock). Best effort: a file that
        cannot be written only means the next listing reads Chroma again."""
        data = {
            "format": _FORMAT,
            "generation": generation,
            "articles": [astuple(a) for a in articles],
        }
        _replace(self.path, json.dumps(data, ensure_ascii=False))

    def remove(self) -> None:
        """Before a write changes anything (holding the writer lock)."""
        self.stamp_path.unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)

    def stamped(self, generation: str) -> None:
        """As a write finishes (holding the writer lock): the generation it stamped.
        Best effort, like :meth:`write`."""
        _replace(self.stamp_path, generation)

    def generation(self) -> str | None:
        """The generation the last write stamped, or None (a write since, or none yet)."""
        try:
            return self.stamp_path.read_text(encoding="utf-8") or None
        except (OSError, ValueError):
            return None
