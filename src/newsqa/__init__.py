"""newsqa: ask questions about news articles and get answers that cite their sentences.

>>> from newsqa import ask, ingest
>>> ingest(["seeds/"])                      # doctest: +SKIP
>>> ask("What did Peskov say?").text        # doctest: +SKIP

The names below load on first use, so ``import newsqa.cli`` (or any submodule)
costs only what that module needs. Importing newsqa changes no global state.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsqa.errors import (
    EmbedderSetupError,
    GenerativeSetupError,
    NewsQAError,
    QuestionError,
    SettingsError,
    StoreError,
)

if TYPE_CHECKING:
    from newsqa.conversation import History
    from newsqa.models import Answer, Article, Citation, IngestReport
    from newsqa.qa import NewsQA
    from newsqa.settings import Settings
    from newsqa.store import ArticleInfo

__version__ = "0.1.0"

# Public name -> the module that defines it.
_LAZY = {
    "Answer": "newsqa.models",
    "Article": "newsqa.models",
    "Citation": "newsqa.models",
    "IngestReport": "newsqa.models",
    "NewsQA": "newsqa.qa",
    "Settings": "newsqa.settings",
    "ArticleInfo": "newsqa.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'newsqa' has no attribute {name!r}")


@lru_cache(maxsize=1)
def default() -> NewsQA:
    """The process-wide instance built from the environment (``NEWSQA_*``)."""
    from newsqa.qa import NewsQA

    return NewsQA()


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
    "EmbedderSetupError",
    "GenerativeSetupError",
    "IngestReport",
    "NewsQA",
    "NewsQAError",
    "QuestionError",
    "Settings",
    "SettingsError",
    "StoreError",
    "ask",
    "default",
    "ingest",
]
