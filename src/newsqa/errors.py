"""The exceptions newsqa raises for things a user can fix.

Every one derives from :class:`NewsQAError`, whose message is one line that says
what went wrong and what to do. Entry points (the CLI, the app, ``ingest/``) catch
``NewsQAError`` and show that line, never a traceback; anything else is a bug.
"""

from __future__ import annotations


class NewsQAError(Exception):
    """Base class: an expected failure whose message is meant for the user."""


class SettingsError(NewsQAError, ValueError):
    """A setting (``NEWSQA_*`` variable, CLI option or keyword) has a bad value."""


class StoreError(NewsQAError, RuntimeError):
    """The store cannot be reached or written; the message says what to do."""


class DamagedIndexError(StoreError):
    """A vector index Chroma cannot read (a process was killed while it was saved);
    ``newsqa repair`` rebuilds it from the records, which are intact."""


class QuestionError(NewsQAError, ValueError):
    """A question that cannot be asked (empty, too long); the message says why."""


class EmbedderSetupError(NewsQAError, RuntimeError):
    """The embedding model named by the settings cannot be loaded."""


class GenerativeSetupError(NewsQAError, RuntimeError):
    """Generative mode cannot start: no model configured, a missing file or extra."""


__all__ = [
    "DamagedIndexError",
    "EmbedderSetupError",
    "GenerativeSetupError",
    "NewsQAError",
    "QuestionError",
    "SettingsError",
    "StoreError",
]
