"""newsqa: ask questions about news articles and get answers that cite their sentences.

>>> from newsqa import ask, ingest
>>> ingest(["seeds/"])                      # doctest: +SKIP
>>> ask("What did Peskov say?").text        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from newsqa import settings as _settings  # noqa: F401  (offline switches first)
from newsqa.conversation import History
from newsqa.models import Answer, Article, Citation, IngestReport
from newsqa.qa import NewsQA, QuestionError
from newsqa.settings import Settings
from newsqa.store import ArticleInfo, StoreError

__version__ = "0.1.0"


@lru_cache(maxsize=1)
def default() -> NewsQA:
    """The process-wide instance built from the environment (``NEWSQA_*``)."""
    return NewsQA(Settings())


def ask(question: str, history: History | None = None, **options: Any) -> Answer:
    """Answer ``question`` from the default library; see :meth:`NewsQA.ask`."""
    return default().ask(question, history, **options)


def ingest(paths: Sequence[str | Path], *, progress: bool = False) -> IngestReport:
    """Ingest files and folders into the default library; see :meth:`NewsQA.ingest`."""
    return default().ingest(paths, progress=progress)


__all__ = [
    "Answer",
    "Article",
    "ArticleInfo",
    "Citation",
    "IngestReport",
    "NewsQA",
    "QuestionError",
    "Settings",
    "StoreError",
    "ask",
    "default",
    "ingest",
]
