"""What a system under evaluation returns per question, and that outcome once judged.

A system (newsqa itself, or the baseline) only reports what it did: the answer,
what it cited, what it retrieved. Judging that against the gold data happens in
:mod:`newsqa.evaluation.metrics`, the same way for every system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from newsqa.evaluation.datasets import EvalQuestion
from newsqa.models import Article


@dataclass(frozen=True)
class Retrieved:
    """One retrieved passage, in rank order."""

    article_id: str
    text: str


@dataclass(frozen=True)
class Cited:
    """One citation: the text a system shows as its source, and where it claims it is."""

    article_id: str
    text: str
    start: int
    end: int


@dataclass
class Outcome:
    """What a system did with one question."""

    answer: str | None  # None: retrieval only (no answer asked for)
    refused: bool
    citations: list[Cited]
    retrieved: list[Retrieved]
    seconds: float  # time to answer (or to retrieve, when retrieval only)
    confidence: float | None = None  # the system's probability that it answered


@dataclass
class QuestionRecord:
    """One question's outcome, judged against its gold data.

    ``ranks`` holds, for each retrieved unit in order (a passage, or a document when
    gold documents are known), the gold targets it matches. ``cited`` holds, per
    citation, the gold evidence it supports and whether its text checks out verbatim.
    """

    id: str
    question: str
    answerable: bool
    answer: str | None
    refused: bool
    golds: tuple[str, ...]  # gold answers
    targets: dict[str, int]  # gold retrieval targets -> grade
    evidence: tuple[str, ...]  # gold evidence target ids ("e0", "e1", ...)
    ranks: list[frozenset[str]] = field(default_factory=list)
    cited: list[tuple[frozenset[str], bool]] = field(default_factory=list)
    seconds: float = 0.0
    type: str | None = None  # the question set's own label (who, quote, follow-up, ...)
    confidence: float | None = None
    answer_chars: int = 0  # length of the answer without its markers (0 when refused)
    doc_cited: bool | None = None  # some citation is in a gold document (None: none named)

    @property
    def correct(self) -> bool:
        """Answered with gold evidence cited, or refused when unanswerable."""
        if not self.answerable:
            return self.refused
        return not self.refused and any(supports for supports, _ in self.cited)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ranks"] = [sorted(r) for r in self.ranks[:10]]
        data["cited"] = [{"supports": sorted(s), "verified": v} for s, v in self.cited]
        return data


@dataclass
class IngestStats:
    """What building a system's store cost."""

    articles: int
    passages: int
    seconds: float
    failed: int = 0


class System(Protocol):
    """Anything that can be evaluated: build a store, then answer or retrieve."""

    name: str

    def ingest(self, articles: Sequence[Article], *, progress: bool) -> IngestStats: ...

    def run(self, question: EvalQuestion, depth: int, *, answer: bool) -> Outcome:
        """Answer ``question`` (unless ``answer`` is false) and retrieve ``depth`` passages."""
        ...
