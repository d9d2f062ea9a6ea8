"""The embedded store's sentence vectors: int8 bytes in a SQLite file beside Chroma.

Each passage has one vector per sentence (pooled at ingest), which the answerer
scores against the question. Chroma can keep them only as string metadata, and it
indexes every metadata value in SQLite, so there they took ~4.6 KB per passage
(base64 twice over). Here a passage's vectors are one 384-bytes-per-sentence blob,
stored once: ``data_dir/sentences/<collection>.sqlite3``.

It is kept in step with Chroma by the store's write protocol: written under the
writer lock, noted in the journal before the write and removed with the passages
(or by the recovery of an interrupted write). A reader never creates the file: one
of a library that has none yet (empty, or written before it existed: see
``Store.migrate``) just finds no vectors here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from newsqa.store.records import dequantize

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sentence_vectors (
    passage_id TEXT PRIMARY KEY,
    article_id TEXT NOT NULL,
    vectors BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sentence_vectors_article ON sentence_vectors (article_id);
"""
_MAX_VARIABLES = 900  # SQLite's bound on parameters per statement, with margin


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _MAX_VARIABLES):
        yield items[i : i + _MAX_VARIABLES]


def _marks(items: Sequence[str]) -> str:
    return ",".join("?" * len(items))


class SentenceVectors:
    """Sentence vectors by passage id, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=60)) as db:
            db.executescript(_SCHEMA)
            with db:  # one transaction: all of it or nothing
                yield db

    def put(self, rows: Iterable[tuple[str, str, bytes]]) -> None:
        """Store (passage id, article id, int8 vectors) rows, replacing older ones."""
        with self._writer() as db:
            db.executemany("INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?)", list(rows))

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove the vectors of every passage of these articles."""
        if not article_ids or not self.path.exists():
            return
        with self._writer() as db:
            for part in _chunks(article_ids):
                db.execute(
                    f"DELETE FROM sentence_vectors WHERE article_id IN ({_marks(part)})", part
                )

    def get(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of those of ``passage_ids`` that have some (float32, unit rows)."""
        if not passage_ids or not self.path.exists():
            return {}
        found: dict[str, np.ndarray] = {}
        # mode=rw: never creates the file; falls back to reading on a read-only disk, and
        # unlike mode=ro can roll back what a killed writer left half done.
        with closing(sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=rw", uri=True)) as db:
            for part in _chunks(passage_ids):
                rows = db.execute(
                    "SELECT passage_id, vectors FROM sentence_vectors "
                    f"WHERE passage_id IN ({_marks(part)})",
                    part,
                )
                found.update((pid, dequantize(blob)) for pid, blob in rows)
        return found
