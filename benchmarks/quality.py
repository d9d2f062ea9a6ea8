"""Answer quality on external question sets, newsqa beside the plain LangChain recipe.

    .venv/bin/python benchmarks/quality.py                     # validation split, all sets
    .venv/bin/python benchmarks/quality.py --sets news,quail --limit 300
    .venv/bin/python benchmarks/quality.py --split test --sets seed   # the held-out seed test
    .venv/bin/python benchmarks/quality.py --report reports/quality  # + per-question JSON, PNGs
    .venv/bin/python benchmarks/quality.py --before reports/old  # + a column: an earlier
                                                       # run's --report folder

The sets, their libraries, the split by unit and the negative-rejection twins are
described in ``suite.py``. Both systems answer every question of the chosen split
against the same library (stores are built once under ``benchmarks/out/quality/``;
the first run embeds about 40k passages, roughly an hour on two cores). The table
gives each figure with the number of questions it is over. The baseline is the
plain recipe of ``newsqa.evaluation.baseline`` (1000/200 character chunks, dense
top chunk as the answer, never refuses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import suite
from common import log, machine, save_json, table

from newsqa.evaluation.baseline import BaselineSystem
from newsqa.evaluation.datasets import EvalQuestion
from newsqa.evaluation.metrics import contains_answer, judge, ndcg_at_k, strip_markers
from newsqa.evaluation.records import Outcome, QuestionRecord
from newsqa.evaluation.report import plot_reliability
from newsqa.evaluation.runner import NewsQASystem
from newsqa.settings import Settings

DEPTH = 10  # passages retrieved for the retrieval figures

Records = list[QuestionRecord]


def baseline_for(lib: suite.Library, qa_settings: Settings) -> BaselineSystem:
    """The plain recipe over the same library, embedded once and reused."""
    folder = suite.STORES / f"{lib.name}-{lib.fingerprint(qa_settings)}-baseline"
    system = BaselineSystem(folder)
    done = folder / "ingested.json"
    if not done.exists():
        log(f"{lib.name}: embedding the baseline's chunks")
        stats = system.ingest(lib.articles, progress=True)
        done.write_text(json.dumps(vars(stats)))
    return system


def run_set(
    name: str,
    run: Callable[[EvalQuestion], Outcome],
    questions: Sequence[EvalQuestion],
    texts: dict[str, str],
) -> Records:
    records = []
    t0 = time.perf_counter()
    for i, q in enumerate(questions, start=1):
        records.append(judge(q, run(q), texts))
        if i % 200 == 0 or i == len(questions):
            log(f"  {name}: {i}/{len(questions)} ({time.perf_counter() - t0:.0f} s)")
    return records


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def figures(set_name: str, records: Records) -> list[tuple[str, float | None, int]]:
    """(figure, value, count) rows for one set; the figures the issue's table asks for."""
    pos = [r for r in records if r.answerable]
    unans = [r for r in records if not r.answerable and r.type not in ("negative",)]
    neg = [r for r in records if r.type == "negative"]
    answered = [r for r in pos if not r.refused]
    with_golds = [r for r in pos if r.golds]
    with_evidence = [r for r in pos if r.evidence]
    rows: list[tuple[str, float | None, int]] = []

    def add(label: str, values: Sequence[float]) -> None:
        rows.append((label, _mean(values), len(values)))

    if set_name == "scifact":
        add("retrieval nDCG@10", [ndcg_at_k(r.ranks, r.targets, 10) for r in pos])
    if any(r.doc_cited is not None for r in pos):
        add("answer cites the gold article", [float(bool(r.doc_cited)) for r in pos])
    if set_name != "scifact":
        if with_golds:
            add(
                "gold answer in the answer",
                [
                    contains_answer(strip_markers(r.answer or "") if not r.refused else "", r.golds)
                    for r in with_golds
                ],
            )
        if with_evidence:
            add(
                "gold sentence cited",
                [float(any(s for s, _ in r.cited)) for r in with_evidence],
            )
        chars = sorted(r.answer_chars for r in answered)
        rows.append(
            ("answer length, median chars", chars[len(chars) // 2] if chars else None, len(chars))
        )
    add("answerable refused", [float(r.refused) for r in pos])
    if unans:
        add("unanswerable refused", [float(r.refused) for r in unans])
        refused_unans = _mean([float(r.refused) for r in unans]) or 0.0
        answered_pos = 1.0 - (_mean([float(r.refused) for r in pos]) or 0.0)
        rows.append(
            ("balanced accuracy", (refused_unans + answered_pos) / 2, len(pos) + len(unans))
        )
    if neg:
        add("negative rejection: refused", [float(r.refused) for r in neg])
    cites = [v for r in records for _, v in r.cited]
    if cites:
        add("citations verified", [float(v) for v in cites])
    return rows


def earlier(folder: Path | None, set_name: str, ids: Sequence[str]) -> dict[str, float | None]:
    """The figures of an earlier run's report (``--report``) over the same questions."""
    path = folder / f"{set_name}.jsonl" if folder else None
    if path is None or not path.exists():
        return {}
    by_id = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        d["golds"], d["evidence"] = tuple(d["golds"]), tuple(d["evidence"])
        d["ranks"] = [frozenset(r) for r in d["ranks"]]
        d["cited"] = [(frozenset(c["supports"]), c["verified"]) for c in d["cited"]]
        by_id[d["id"]] = QuestionRecord(**d)
    if not all(i in by_id for i in ids):
        log(f"{path} does not hold every question asked now; not compared")
        return {}
    return {label: value for label, value, _ in figures(set_name, [by_id[i] for i in ids])}


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value > 1.5 else f"{value:.3f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(suite.SETS), help="comma-separated libraries")
    parser.add_argument("--split", default="val", choices=["train", "val", "test"])
    parser.add_argument("--limit", type=int, help="at most N questions per set (seeded sample)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--report", type=Path, help="folder for per-question JSON and PNGs")
    parser.add_argument(
        "--before", type=Path, help="an earlier run's --report folder: its figures as a column"
    )
    args = parser.parse_args(argv)

    settings = Settings()
    results: dict[str, dict[str, Any]] = {}
    every: dict[str, Records] = {}
    lines = []
    for lib_name in args.sets.split(","):
        lib = suite.load_library(lib_name)
        qa_system = NewsQASystem(settings)
        qa_system.qa = suite.open_library(lib, settings)
        base = None if args.no_baseline else baseline_for(lib, settings)
        texts = lib.texts()
        for set_name in lib.questions:
            questions = [q for _, q in suite.iter_questions(lib, [args.split], [set_name])]
            if args.limit and len(questions) > args.limit:
                questions = suite.sample(questions, args.limit)
            if not questions:
                continue
            log(f"{set_name}: {len(questions)} questions ({args.split})")

            def ours(q: EvalQuestion, system: NewsQASystem = qa_system) -> Outcome:
                return system.run(q, DEPTH, answer=True)

            mine = run_set(f"{set_name} newsqa", ours, questions, texts)
            every[set_name] = mine
            theirs: Records = []
            if base is not None:

                def plain(q: EvalQuestion, system: BaselineSystem = base) -> Outcome:
                    return system.run(q, DEPTH, answer=True)

                theirs = run_set(f"{set_name} baseline", plain, questions, texts)
            ours_rows = figures(set_name, mine)
            base_rows = dict((label, v) for label, v, _ in figures(set_name, theirs))
            latency = sorted(r.seconds for r in mine)
            old = earlier(args.before, set_name, [q.id for q in questions])
            for label, value, count in ours_rows:
                row = [set_name, label, count, _cell(value), _cell(base_rows.get(label))]
                lines.append([*row, _cell(old.get(label))] if args.before else row)
            lines.append(
                [
                    set_name,
                    "ask p50 ms",
                    len(latency),
                    _cell(latency[len(latency) // 2] * 1000),
                    "-",
                    *(["-"] if args.before else []),
                ]
            )
            results[set_name] = {
                "newsqa": {label: v for label, v, _ in ours_rows},
                "baseline": base_rows,
                "counts": {label: n for label, _, n in ours_rows},
            }
            if args.report:
                args.report.mkdir(parents=True, exist_ok=True)
                with (args.report / f"{set_name}.jsonl").open("w", encoding="utf-8") as f:
                    for r in mine:
                        f.write(json.dumps(r.to_dict(), default=sorted) + "\n")
    columns = ["set", "figure", "n", "newsqa", "plain recipe"]
    if args.before:
        columns.append("newsqa before")
    print(table(columns, lines))
    path = save_json(
        f"quality-{args.split}.json",
        {"split": args.split, "sets": results, "machine": machine(), "limit": args.limit},
    )
    print(f"\nsaved {path}", file=sys.stderr)
    if args.report:
        for set_name, records in every.items():
            plot_reliability(records, args.report / f"reliability-{set_name}.png", set_name)
        pooled = [r for records in every.values() for r in records]
        if plot_reliability(pooled, args.report / "reliability.png", f"all sets ({args.split})"):
            log(f"reliability diagrams in {args.report}")


if __name__ == "__main__":
    main()
