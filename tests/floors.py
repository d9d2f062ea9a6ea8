"""The measured answer-quality figures the tests hold newsqa to: the one place to re-set them.

Each table was measured at the commit named above it, by the command given (the
tests run the same thing). A test fails when a figure falls more than
``SLACK_QUESTIONS`` questions' worth below its measured value (or, for a
ceiling, rises that much above it): tight enough to catch a regression of a
couple of questions, loose enough for float noise between CPUs.

To re-set after a change that moves the figures on purpose: run the command,
copy the new values here with the commit, and say why in the commit message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SLACK_QUESTIONS = 2


@dataclass(frozen=True)
class Figure:
    """A measured metric, averaged over ``over`` questions: "answerable", "answered"
    (answerable and not refused: citation precision), "unanswerable" or "questions";
    ``ceiling``: lower is better (a floor otherwise)."""

    value: float
    over: str = "answerable"
    ceiling: bool = False


# `newsqa eval tests/data/seed_test.jsonl --baseline --json` (57 questions, 46
# answerable) at commit 834fce8: benchmarks/results/eval-seed_test.json.
SEED_TEST = {
    "retrieval.recall@5": Figure(0.978),
    "retrieval.ndcg@10": Figure(0.884),
    "answers.containment": Figure(0.783),
    "citations.precision": Figure(0.893, over="answered"),
    "citations.recall": Figure(0.797),
    "citations.evidence_cited": Figure(0.826),
    "refusals.refusal_accuracy": Figure(0.455, over="unanswerable"),
    "refusals.wrongly_refused": Figure(0.087, ceiling=True),
}

# tests/test_eval_datasets.py: `newsqa eval` on small slices of ../shared/data, cut by
# that file, at commit 834fce8.
# RealTime QA: 24 news-quiz questions over their 24 snippets, and 6 left unanswerable.
# (It wrongly refuses 11 of the 24: quiz items are often statements, not questions.)
REALTIMEQA_SLICE = {
    "retrieval.recall@5": Figure(0.958),
    "retrieval.ndcg@10": Figure(0.972),
    "answers.containment": Figure(0.333),
    "citations.precision": Figure(0.769, over="answered"),
    "citations.recall": Figure(0.417),
    "citations.evidence_cited": Figure(0.417),
    "refusals.refusal_accuracy": Figure(1.0, over="unanswerable"),
    "refusals.wrongly_refused": Figure(0.458, ceiling=True),
}
# XQuAD: 31 questions on 10 paragraphs (retrieval is saturated at this size).
XQUAD_SLICE = {
    "retrieval.ndcg@10": Figure(1.0),
    "answers.containment": Figure(0.774),
    "citations.precision": Figure(0.783, over="answered"),
    "citations.recall": Figure(0.774),
    "citations.evidence_cited": Figure(0.774),
    "refusals.wrongly_refused": Figure(0.032, ceiling=True),
}
# SciFact: 15 train queries over 57 abstracts (their relevant ones and 45 others).
SCIFACT_SLICE = {
    "retrieval.recall@5": Figure(1.0, over="questions"),
    "retrieval.ndcg@10": Figure(0.885, over="questions"),
    "retrieval.mrr@10": Figure(0.847, over="questions"),
}


def misses(
    figures: dict[str, Figure], metrics: dict[str, Any], dataset: dict[str, Any]
) -> list[str]:
    """Every figure that moved more than the slack the wrong way, with the measured value.

    ``metrics`` is one system's ``metrics`` and ``dataset`` the ``dataset`` block of
    ``newsqa eval --json``: they give how many questions each figure stands for.
    """
    answerable = int(dataset.get("answerable", 0))
    refused = metrics.get("refusals", {}).get("wrongly_refused") or 0.0
    counts = {
        "answerable": answerable,
        "answered": round(answerable * (1 - refused)),
        "unanswerable": int(dataset.get("unanswerable", 0)),
        "questions": int(dataset["questions"]),
    }
    out = []
    for name, figure in figures.items():
        group, metric = name.split(".", 1)
        got = float(metrics[group][metric])
        slack = SLACK_QUESTIONS / max(counts[figure.over], 1)
        if figure.ceiling and got > figure.value + slack:
            out.append(f"{name} = {got:.3f} > {figure.value:.3f} + {slack:.3f}")
        elif not figure.ceiling and got < figure.value - slack:
            out.append(f"{name} = {got:.3f} < {figure.value:.3f} - {slack:.3f}")
    return out
