"""A damaged vector index: how it is recognised, and the note that a rebuild is due.

Embedded Chroma keeps each collection's records in SQLite and its vectors in an HNSW
index folder beside it (``chroma/<segment id>/``), which it rewrites every
:data:`~newsqa.store.connection.SYNC_THRESHOLD` records. It does not write that
folder atomically. A process killed while Chroma saves it (an ingest, or even a
reader: in chromadb 1.x the first read after a write saves the index too) can leave
a file there empty or cut short. From then on every read of that collection fails,
for instance with "Error creating hnsw segment reader: Error deserializing pickle
file", and Chroma's log no longer holds the vectors (it drops what it has saved).

The records themselves are intact in SQLite, and newsqa can compute every vector
again: a passage's from its text, an article's as the mean of its passages'
(:meth:`newsqa.store.Store.repair`). The rebuild moves the damaged folders to
``damaged/`` in the data dir (kept, never deleted), and notes what it rebuilds in
``rebuild.json`` until it is done: a rebuild that is interrupted (a kill, Ctrl-C, a
full disk) leaves an index with vectors missing, and until the note is gone, opening
the store says a rebuild is due rather than answer from half an index.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

from newsqa.errors import DamagedIndexError

# What Chroma says when an index folder cannot be read back (a file empty or cut
# short), or when the index lacks vectors its records have (a rebuild cut short).
_DAMAGE = (
    "Error creating hnsw segment reader: Error deserializing",
    "Error creating hnsw segment reader: Error loading hnsw index",
    "Error finding id",
    "Error getting embedding",
)


def is_damage(exc: BaseException) -> bool:
    """True if ``exc`` is Chroma failing to read a vector index (see the module doc).

    Not "Nothing found on disk": that is an index not saved yet, which Chroma fills
    from its log on the next open.
    """
    text = " ".join(str(exc).split())
    return any(marker in text for marker in _DAMAGE)


def damaged_error(data_dir: Path, reason: str) -> DamagedIndexError:
    return DamagedIndexError(
        f"the vector index of the library in {data_dir} is damaged ({reason}); "
        "its articles and passages are intact. Run `newsqa repair` to rebuild it "
        "(every passage is embedded again), or `newsqa ingest` again, which does that first."
    )


class RebuildNote:
    """``rebuild.json`` in the data dir: the collections whose index is being rebuilt."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "rebuild.json"

    def read(self) -> list[str]:
        try:
            names = json.loads(self.path.read_text(encoding="utf-8"))["collections"]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError):
            # Unreadable (cut short itself): rebuild everything rather than guess.
            return ["*"]
        return [str(n) for n in names]

    def write(self, names: list[str]) -> None:
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps({"collections": names}), encoding="utf-8")
        os.replace(partial, self.path)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def vector_folders(chroma_dir: Path) -> dict[str, Path]:
    """Each collection's name -> its vector index folder (which may not exist yet).

    Read from Chroma's own SQLite catalogue: the client has no call that names a
    collection's segments.
    """
    database = chroma_dir / "chroma.sqlite3"
    if not database.exists():
        return {}
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT c.name, s.id FROM segments s JOIN collections c ON s.collection = c.id"
            " WHERE s.scope = 'VECTOR'"
        ).fetchall()
    finally:
        connection.close()
    return {str(name): chroma_dir / str(segment) for name, segment in rows}


def set_aside(data_dir: Path, folders: dict[str, Path], keep: bool) -> None:
    """Move these index folders out of Chroma's way, to ``damaged/<time>/`` when
    ``keep`` (a damaged index), else delete them (our own half-done rebuild)."""
    target = data_dir / "damaged" / time.strftime("%Y%m%d-%H%M%S")
    for name, folder in folders.items():
        if not folder.exists():
            continue
        if keep:
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), str(target / f"{name}-{folder.name}"))
        else:
            shutil.rmtree(folder)
