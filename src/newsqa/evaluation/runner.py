"""Run a question set through newsqa (and optionally the baseline) on a throwaway store.

Every run builds its stores in a fresh temporary folder and deletes it afterwards:
the user's library (``NEWSQA_DATA_DIR`` or a Chroma server) is never read or
written, whatever the environment says.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from newsqa.embeddings import MiniLMEmbeddings
from newsqa.evaluation.baseline import BaselineSystem
from newsqa.evaluation.datasets import EvalQuestion, EvalSet, Format, load_dataset
from newsqa.evaluation.metrics import CUTOFF, Summary, judge, summarize
from newsqa.evaluation.records import (
    Cited,
    IngestStats,
    Outcome,
    QuestionRecord,
    Retrieved,
    System,
)
from newsqa.ingest import ingest_parsed
from newsqa.models import Article
from newsqa.qa import NewsQA, QuestionError
from newsqa.retrieval import Filters
from newsqa.settings import Settings

# Passages retrieved when documents are ranked by their best passage: enough for
# ten distinct documents when each is split into a few passages.
DOCUMENT_DEPTH = 50


class NewsQASystem:
    """newsqa as users run it: the same ingest, ``ask`` and hybrid search."""

    name = "newsqa"

    def __init__(self, settings: Settings, k: int | None = None) -> None:
        self.qa = NewsQA(settings)
        self.k = k
        self._library: list[str] | None = None  # every article id, for held-out questions

    def allowed(self, question: EvalQuestion) -> list[str] | None:
        """The articles ``question`` may draw on: all but its held-out ones (None: all)."""
        if not question.excluded:
            return None
        if self._library is None:
            self._library = [a.id for a in self.qa.articles()]
        return [a for a in self._library if a not in question.excluded]

    def ingest(self, articles: Sequence[Article], *, progress: bool) -> IngestStats:
        t0 = time.perf_counter()
        # ingest_parsed splits every article before its own "Embedding" bar starts:
        # on thousands of articles that takes minutes, so it gets a bar of its own.
        planning = tqdm(
            articles, desc="Chunking", unit="article", disable=not progress, file=sys.stderr
        )
        report = ingest_parsed(
            self.qa.store,
            self.qa.ingest_embeddings,
            ((a.source, [a]) for a in planning),
            self.qa.settings,
            progress,
        )
        planning.close()
        # Build the BM25 index now, so it counts as ingest time rather than as the
        # first question's latency.
        self.qa.search.search("warm up", 1)
        return IngestStats(
            articles=report.count("added") + report.count("unchanged"),
            passages=self.qa.store.count_passages(),
            seconds=time.perf_counter() - t0,
            failed=len(report.failed),
        )

    def run(self, question: EvalQuestion, depth: int, *, answer: bool) -> Outcome:
        query = question.question
        text: str | None = None
        citations: list[Cited] = []
        refused, seconds, confidence = False, 0.0, None
        allowed = self.allowed(question)
        if answer:
            t0 = time.perf_counter()
            try:
                result = self.qa.ask(
                    question.question, list(question.history), k=self.k, article_ids=allowed
                )
            except QuestionError as exc:  # e.g. an empty question in the set
                return Outcome(str(exc), True, [], [], time.perf_counter() - t0)
            seconds = time.perf_counter() - t0
            refused, text = not result.answerable, result.text
            confidence = result.confidence
            citations = [Cited(c.article_id, c.text, c.start, c.end) for c in result.citations]
            # Retrieval is scored on the question ask actually searched (follow-ups resolved).
            query = result.standalone_question or query
        t0 = time.perf_counter()
        filters = Filters(article_ids=tuple(allowed)) if allowed is not None else None
        hits = self.qa.search.search(query, depth, filters).hits
        if not answer:
            seconds = time.perf_counter() - t0
        retrieved = [Retrieved(h.passage.article_id, h.passage.text) for h in hits]
        return Outcome(text, refused, citations, retrieved, seconds, confidence)


@dataclass
class SystemRun:
    """One system's results on a question set."""

    name: str
    ingest: IngestStats
    records: list[QuestionRecord]
    summary: Summary
    seconds: float  # asking all the questions

    def to_dict(self, questions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "metrics": self.summary,
            "ingest": vars(self.ingest),
            "questions_seconds": round(self.seconds, 3),
        }
        if questions:
            data["questions"] = [r.to_dict() for r in self.records]
        return data


@dataclass
class EvalReport:
    """Everything one ``newsqa eval`` produced: what was run, and each system's figures."""

    dataset: dict[str, Any]
    config: dict[str, Any]
    runs: list[SystemRun] = field(default_factory=list)

    def run(self, name: str) -> SystemRun | None:
        return next((r for r in self.runs if r.name == name), None)

    def to_dict(self, questions: bool = False) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "config": self.config,
            "systems": {r.name: r.to_dict(questions) for r in self.runs},
        }


def _describe(evalset: EvalSet) -> dict[str, Any]:
    return {
        "name": evalset.name,
        "format": evalset.format,
        "path": str(evalset.path),
        "corpus": [str(p) for p in evalset.corpus],
        "split": evalset.split,
        "articles": len(evalset.articles),
        "skipped": evalset.skipped,
        "questions": len(evalset.questions),
        "answerable": sum(q.answerable for q in evalset.questions),
        "unanswerable": sum(not q.answerable for q in evalset.questions),
        "retrieval_level": evalset.retrieval_level,
        "retrieval_only": evalset.retrieval_only,
    }


def run_system(system: System, evalset: EvalSet, depth: int, *, progress: bool = True) -> SystemRun:
    """Ingest the corpus into ``system``, ask every question, judge every outcome."""
    stats = system.ingest(evalset.articles, progress=progress)
    texts = evalset.texts()
    records: list[QuestionRecord] = []
    t0 = time.perf_counter()
    for question in tqdm(
        evalset.questions,
        desc=f"Questions ({system.name})",
        unit="q",
        disable=not progress,
        file=sys.stderr,
        # A log file gets a line every few seconds, not one per question.
        mininterval=0.5 if sys.stderr.isatty() else 15,
    ):
        outcome = system.run(question, depth, answer=not evalset.retrieval_only)
        records.append(judge(question, outcome, texts))
    seconds = time.perf_counter() - t0
    summary = summarize(records, retrieval_only=evalset.retrieval_only)
    return SystemRun(system.name, stats, records, summary, seconds)


def evaluate(
    evalset: EvalSet,
    *,
    settings: Settings | None = None,
    k: int | None = None,
    baseline: bool = False,
    progress: bool = True,
) -> EvalReport:
    """Evaluate newsqa (and the baseline) on ``evalset`` in a temporary store.

    ``settings`` tune the system under test (top_k, min_confidence, ...); where its
    store lives is always overridden. ``k`` is the passages given to the answerer.
    """
    base = settings or Settings()
    depth = DOCUMENT_DEPTH if evalset.retrieval_level == "document" else max(CUTOFF, k or 0)
    report = EvalReport(
        dataset=_describe(evalset),
        config={
            "k": k or base.top_k,
            "retrieval_depth": depth,
            "chunk_chars": base.chunk_chars,
            "candidates": base.candidates,
            "min_confidence": base.min_confidence,
            "answer_mode": base.answer_mode,
            "baseline": baseline,
        },
    )
    workdir = Path(tempfile.mkdtemp(prefix="newsqa-eval-"))
    try:
        isolated = base.model_copy(
            update={"data_dir": workdir / "newsqa", "chroma_url": None, "collection": "eval"}
        )
        report.runs.append(run_system(NewsQASystem(isolated, k), evalset, depth, progress=progress))
        if baseline:
            # Its own Chroma folder: the two systems share nothing but the model.
            system = BaselineSystem(workdir / "baseline", MiniLMEmbeddings(base.batch_size))
            report.runs.append(run_system(system, evalset, depth, progress=progress))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def evaluate_path(
    path: str | Path,
    format: Format | None = None,
    *,
    corpus: Sequence[str | Path] | None = None,
    split: str | None = None,
    limit: int | None = None,
    settings: Settings | None = None,
    k: int | None = None,
    baseline: bool = False,
    progress: bool = True,
) -> EvalReport:
    """Load a question set (format detected from the path) and evaluate it."""
    evalset = load_dataset(path, format, corpus=corpus, split=split, limit=limit)
    report = evaluate(evalset, settings=settings, k=k, baseline=baseline, progress=progress)
    report.config["limit"] = limit
    return report
