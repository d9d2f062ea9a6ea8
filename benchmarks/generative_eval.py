"""Generative vs extractive, side by side, on a question set (``newsqa eval``'s judging).

    .venv/bin/python benchmarks/generative_eval.py tests/data/seed_test.jsonl \\
        --gguf "$(.venv/bin/python scripts/fetch_gguf.py qwen2.5-coder-0.5b)" --out benchmarks/out

For each system (extractive, then one generative run per ``--gguf``) it asks every
question through ``NewsQA.ask_stream`` in a fresh temporary store, judges the
outcomes with :mod:`newsqa.evaluation` (answer F1, citation precision, refusal
accuracy), and adds what only a streaming generative run shows: p50 time to the
first token and to the full answer, the share of generated sentences the checker
dropped, and how often it fell back to the extractive answer or the model refused.
Extractive mode streams nothing, so its first token is its full answer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from newsqa.evaluation.datasets import EvalQuestion, load_dataset
from newsqa.evaluation.metrics import CUTOFF
from newsqa.evaluation.records import Cited, Outcome, Retrieved
from newsqa.evaluation.runner import NewsQASystem, run_system
from newsqa.models import Answer
from newsqa.qa import QuestionError
from newsqa.settings import Settings


class StreamingSystem(NewsQASystem):
    """newsqa through ``ask_stream``, recording what the generative answerer did."""

    def __init__(self, settings: Settings, name: str, k: int | None = None) -> None:
        super().__init__(settings, k)
        self.name = name
        self.extra: list[dict[str, Any]] = []

    def run(self, question: EvalQuestion, depth: int, *, answer: bool) -> Outcome:
        t0 = time.perf_counter()
        first: float | None = None
        final: Answer | None = None
        try:
            for item in self.qa.ask_stream(question.question, list(question.history), k=self.k):
                if isinstance(item, str):
                    first = first if first is not None else time.perf_counter() - t0
                else:
                    final = item
        except QuestionError as exc:
            return Outcome(str(exc), True, [], [], time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        assert final is not None
        gen = final.generation
        self.extra.append(
            {
                "id": question.id,
                "first_token": first if first is not None else seconds,
                "total": seconds,
                "sentences": gen.get("sentences"),
                "dropped_share": gen.get("dropped_share"),
                "fallback": gen.get("fallback"),
                "model_refused": bool(gen.get("model_refused")),
                "gate_refused": gen.get("gate") == "refused",
                "answer": final.text,
                "draft": gen.get("draft"),
                "dropped": gen.get("dropped"),
            }
        )
        hits = self.qa.search.search(final.standalone_question or question.question, depth).hits
        return Outcome(
            final.text,
            not final.answerable,
            [Cited(c.article_id, c.text, c.start, c.end) for c in final.citations],
            [Retrieved(h.passage.article_id, h.passage.text) for h in hits],
            seconds,
        )


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def describe(system: StreamingSystem, summary: dict[str, Any]) -> dict[str, Any]:
    extra = system.extra
    generated = [e for e in extra if e["sentences"]]  # the model wrote sentences
    return {
        "system": system.name,
        "questions": len(extra),
        "answer_f1": summary["answers"]["f1"],
        "citation_precision": summary["citations"]["precision"],
        "citations_verified": summary["citations"]["verified"],
        "refusal_accuracy": summary["refusals"]["refusal_accuracy"],
        "wrongly_refused": summary["refusals"]["wrongly_refused"],
        # Sentences dropped / sentences generated, over every generated answer.
        "dropped_share": (
            round(
                sum(e["dropped_share"] * e["sentences"] for e in generated)
                / sum(e["sentences"] for e in generated),
                4,
            )
            if generated
            else None
        ),
        "fallbacks": sum(bool(e["fallback"]) for e in extra),
        "model_refused": sum(e["model_refused"] for e in extra),
        "gate_refused": sum(e["gate_refused"] for e in extra),
        "p50_first_token_s": p50([e["first_token"] for e in extra]),
        "p50_total_s": p50([e["total"] for e in extra]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--corpus", action="append", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument(
        "--every", type=int, default=1, help="ask every Nth question: a spread-out subset"
    )
    parser.add_argument("--gguf", action="append", default=[], type=Path)
    parser.add_argument("--no-extractive", action="store_true")
    parser.add_argument("--out", type=Path, help="folder for per-question JSON")
    args = parser.parse_args()

    evalset = load_dataset(args.path, corpus=args.corpus, limit=args.limit)
    evalset.questions = evalset.questions[:: args.every]
    depth = max(CUTOFF, Settings().top_k)
    systems: list[tuple[str, dict[str, Any]]] = []
    if not args.no_extractive:
        systems.append(("extractive", {"answer_mode": "extractive"}))
    for gguf in args.gguf:
        systems.append((gguf.name, {"answer_mode": "generative", "llm_gguf": gguf}))

    rows = []
    for name, overrides in systems:
        workdir = Path(tempfile.mkdtemp(prefix="newsqa-geneval-"))
        try:
            settings = Settings(data_dir=workdir, collection="eval", **overrides)
            system = StreamingSystem(settings, name)
            run = run_system(system, evalset, depth, progress=True)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        row = describe(system, run.summary)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            stem = f"{evalset.name}-{name}".replace("/", "_")
            (args.out / f"{stem}.json").write_text(
                json.dumps({"summary": row, "questions": system.extra}, indent=1)
            )
    keys = list(rows[0]) if rows else []
    print("\n| " + " | ".join(keys) + " |", file=sys.stderr)
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |", file=sys.stderr)


if __name__ == "__main__":
    main()
