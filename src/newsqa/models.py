"""The data that crosses module boundaries: articles, passages, citations, answers.

Offsets are always character offsets into ``Article.text`` (Python string
indices), so ``article.text[start:end]`` is the exact cited text.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date as _date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def content_id(text: str) -> str:
    """A stable 16-hex-digit id for a piece of text (the article id)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def date_to_int(iso: str | None) -> int:
    """``"2024-03-05"`` -> ``20240305``; ``0`` when there is no date.

    Chroma filters ``$gte``/``$lte`` only on numbers, so dates are stored as ints too.
    """
    if not iso:
        return 0
    return int(_date.fromisoformat(iso).strftime("%Y%m%d"))


@dataclass(frozen=True)
class Article:
    """One news article, parsed from a file or a record."""

    text: str
    title: str
    date: str | None  # ISO YYYY-MM-DD, or None when the source gives none
    source: str  # shown to users: file path, URL, a front-matter source, "path#record"
    id: str = ""  # derived from the text when empty
    # Where it was read from (file path, upload name, "path#record"): a new version
    # from the same origin replaces the old one. Not `source`, which two different
    # articles may share ("source: Reuters").
    origin: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", content_id(self.text))
        if not self.origin:
            object.__setattr__(self, "origin", self.source)

    @property
    def date_int(self) -> int:
        return date_to_int(self.date)


@dataclass(frozen=True)
class Span:
    """A sentence (or any span) of an article: ``article.text[start:end]``."""

    start: int
    end: int


@dataclass(frozen=True)
class DateSpan:
    """A relative date expression at ``article.text[start:end]`` ("on Monday") and the
    date it means (ISO), resolved against the article's date (:mod:`newsqa.dates`)."""

    start: int
    end: int
    date: str
    granularity: str = "day"  # "day" | "week" (date = its Monday) | "month" | "year"


@dataclass(frozen=True)
class Passage:
    """A chunk of an article: a run of whole sentences, with their offsets."""

    article_id: str
    index: int  # position of the passage in its article
    start: int
    end: int
    text: str  # == article.text[start:end]
    sentences: tuple[Span, ...]  # article offsets of the sentences inside this passage
    # Relative dates in this passage, resolved (article offsets; issue 13).
    dates: tuple[DateSpan, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        return f"{self.article_id}:{self.index:05d}"


@dataclass(frozen=True)
class Hit:
    """A passage returned by retrieval, with its article's metadata and its score."""

    passage: Passage
    title: str
    date: str | None
    source: str
    score: float  # fused retrieval score (higher is better)
    dense_score: float | None = None  # cosine similarity, when the dense side found it
    bm25_score: float | None = None
    # One unit vector per sentence of the passage (float32, shape
    # [len(passage.sentences), 384]), pooled from the passage's own encoding at
    # ingest; None when the store has none for it. A zero row: a sentence the
    # encoder's truncation cut off.
    sentence_vectors: np.ndarray | None = field(default=None, repr=False, compare=False)
    # The story the article belongs to (its wire copies share it; issue 13), and the
    # passages of other copies that retrieval folded into this one.
    story: str = ""
    copies: tuple[Hit, ...] = ()


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to a date range (inclusive, ISO dates) and/or some articles."""

    date_from: str | None = None
    date_to: str | None = None
    article_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Copy:
    """Another article of a cited article's story: "also reported by"."""

    article_id: str
    title: str
    outlet: str
    date: str | None


@dataclass
class Citation:
    """One cited sentence: where it is, and the exact text found there."""

    n: int
    article_id: str
    title: str
    date: str | None
    source: str
    text: str
    start: int
    end: int
    score: float
    passage_id: str = ""
    passage_start: int = 0
    passage_end: int = 0
    verified: bool = False
    # Resolved relative dates inside the cited sentence (article offsets), and the
    # other copies of the cited article's story (issue 13).
    dates: list[DateSpan] = field(default_factory=list)
    also_reported: list[Copy] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reported:
    """What one source reports where sources differ (issue 13): the value as the cited
    sentence ``[n]`` writes it, and who published it when."""

    value: str
    n: int  # the citation that holds it
    outlet: str
    date: str | None
    article_id: str
    title: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Answers below this confidence are shown marked: check their sources.
LOW_CONFIDENCE = 0.5


@dataclass
class Answer:
    """What ``ask`` returns: the answer text with ``[n]`` markers and its citations."""

    question: str
    text: str
    answerable: bool
    citations: list[Citation] = field(default_factory=list)
    standalone_question: str = ""  # the question after resolving follow-up references
    # Calibrated probability that the retrieved passages answer the question (None
    # when no model judged it, e.g. an empty library).
    confidence: float | None = None
    mode: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    # Generative mode only: the model, its raw draft, how many generated sentences the
    # checker kept/re-cited/dropped ("dropped_share"), and any fallback and its reason.
    generation: dict[str, Any] = field(default_factory=dict)
    # Different articles give different values for what is asked: each value, cited
    # (empty when the sources agree, or only one answers; :mod:`newsqa.disagreement`).
    disagreement: list[Reported] = field(default_factory=list)

    @property
    def low_confidence(self) -> bool:
        """An answer given, but more likely than not not supported by what was retrieved."""
        return self.answerable and self.confidence is not None and self.confidence < LOW_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "answerable": self.answerable,
            "citations": [c.to_dict() for c in self.citations],
            "standalone_question": self.standalone_question,
            "confidence": self.confidence,
            "low_confidence": self.low_confidence,
            "mode": self.mode,
            "timings": self.timings,
            "generation": self.generation,
            "disagreement": [r.to_dict() for r in self.disagreement],
        }


@dataclass
class FileResult:
    """The outcome of ingesting one file (or one record of a multi-record file)."""

    source: str
    status: str  # "added" | "unchanged" | "replaced" | "failed"
    article_id: str = ""
    title: str = ""
    passages: int = 0
    error: str = ""


@dataclass
class IngestReport:
    """Summary of an ingest run."""

    results: list[FileResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"added {self.count('added')}, unchanged {self.count('unchanged')}, "
            f"replaced {self.count('replaced')}, failed {self.count('failed')}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.count("added"),
            "unchanged": self.count("unchanged"),
            "replaced": self.count("replaced"),
            "failed": self.count("failed"),
            "results": [asdict(r) for r in self.results],
        }
