"""The embedded store's sidecar: sentence vectors and article texts in one SQLite file.

Chroma keeps what it is given several times over: every string metadata value in
its table and again in an index, and every document also in a full-text index and
in its write log. Two things newsqa stores need none of that:

- the sentence vectors of each passage (pooled at ingest; the answerer scores them
  against the question): one int8 blob per passage, 384 bytes a sentence (as
  base64 metadata they took ~4.6 KB a passage);
- the full text of each article (every citation is checked against it, and a
  passage's text is its article's text between the passage's offsets): zlib
  compressed, once (as Chroma documents, article and passage texts took ~5.4 KB a
  passage at 10k passages).

The file is ``data_dir/sentences/<collection>.sqlite3`` (named for what it first
held). It is kept in step with Chroma by the store's write protocol: written under
the writer lock, noted in the journal before the write, removed with the article's
passages (or by the recovery of an interrupted write). A reader never creates the
file: one of a library that has none yet (empty, or written before it existed)
just finds nothing here, and the store reads what Chroma holds instead.
"""

from __future__ import annotations

import sqlite3
import threading
import zlib
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
CREATE TABLE IF NOT EXISTS article_texts (
    article_id TEXT PRIMARY KEY,
    text BLOB NOT NULL
);
"""
_MAX_VARIABLES = 900  # SQLite's bound on parameters per statement, with margin


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _MAX_VARIABLES):
        yield items[i : i + _MAX_VARIABLES]


def _marks(items: Sequence[str]) -> str:
    return ",".join("?" * len(items))


class Sidecar:
    """Sentence vectors by passage id and article texts by article id, in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=60)) as db:
            db.executescript(_SCHEMA)
            with db:  # one transaction: all of it or nothing
                yield db

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """This thread's reading connection, kept open (connecting costs ~0.2 ms, and a
        question reads here two or three times); a new one if the file was replaced."""
        inode = self.path.stat().st_ino
        kept: tuple[int, sqlite3.Connection] | None = getattr(self._local, "reader", None)
        if kept is None or kept[0] != inode:
            if kept is not None:
                kept[1].close()
            # mode=rw: never creates the file; falls back to reading on a read-only disk,
            # and unlike mode=ro can roll back what a killed writer left half done.
            uri = f"{self.path.resolve().as_uri()}?mode=rw"
            kept = (inode, sqlite3.connect(uri, uri=True))
            self._local.reader = kept
        try:
            yield kept[1]
        except sqlite3.Error:
            self._local.reader = None  # the next read starts afresh
            kept[1].close()
            raise

    def put(
        self, vectors: Iterable[tuple[str, str, bytes]], texts: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Store (passage id, article id, int8 vectors) rows and (article id, text) pairs,
        replacing older ones, in one transaction."""
        with self._writer() as db:
            db.executemany(
                "INSERT OR REPLACE INTO sentence_vectors VALUES (?, ?, ?)", list(vectors)
            )
            db.executemany(
                "INSERT OR REPLACE INTO article_texts VALUES (?, ?)",
                [(i, zlib.compress(t.encode("utf-8"))) for i, t in texts],
            )

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove these articles' texts and the vectors of all their passages."""
        if not article_ids or not self.path.exists():
            return
        with self._writer() as db:
            for part in _chunks(article_ids):
                for table in ("sentence_vectors", "article_texts"):
                    db.execute(f"DELETE FROM {table} WHERE article_id IN ({_marks(part)})", part)

    def get(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The vectors of those of ``passage_ids`` that have some (float32, unit rows)."""
        if not passage_ids or not self.path.exists():
            return {}
        found: dict[str, np.ndarray] = {}
        with self._reader() as db:
            for part in _chunks(passage_ids):
                rows = db.execute(
                    "SELECT passage_id, vectors FROM sentence_vectors "
                    f"WHERE passage_id IN ({_marks(part)})",
                    part,
                )
                found.update((pid, dequantize(blob)) for pid, blob in rows)
        return found

    def texts(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The texts of those of ``article_ids`` that are kept here."""
        if not article_ids or not self.path.exists():
            return {}
        found: dict[str, str] = {}
        with self._reader() as db:
            # (A sidecar written before article texts moved here has no such table.)
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'article_texts'").fetchone():
                for part in _chunks(article_ids):
                    rows = db.execute(
                        "SELECT article_id, text FROM article_texts "
                        f"WHERE article_id IN ({_marks(part)})",
                        part,
                    )
                    found.update((i, zlib.decompress(blob).decode("utf-8")) for i, blob in rows)
        return found
