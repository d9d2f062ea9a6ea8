"""Calibrate the refusal threshold (``NEWSQA_MIN_SUPPORT``) on the development set.

For every question of ``tests/data/seed_dev.jsonl`` it records the evidence score
of the best sentence (or that a named entity is missing, which refuses anyway),
then sweeps the threshold and prints the accuracy of the answer/refuse decision
and of the answers (gold evidence cited). The chosen value goes into
``Settings.min_support``; the held-out ``seed_test.jsonl`` is never used here.

    .venv/bin/python benchmarks/calibrate.py [--questions PATH] [--corpus seeds]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from newsqa import NewsQA, Settings
from newsqa.answering import missing_names
from newsqa.conversation import resolve

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/data/seed_dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=ROOT / "seeds")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        qa = NewsQA(Settings(data_dir=Path(tmp)))
        qa.ingest([args.corpus])
        answerer = qa.answerer("extractive")
        records = []
        for row in rows:
            resolved = resolve(row["question"], [tuple(h) for h in row["history"]])
            hits = qa.search.search(resolved.standalone, qa.settings.top_k).hits
            absent = missing_names(resolved.names, hits)
            ranked = answerer.score(resolved, hits)  # type: ignore[attr-defined]
            top = ranked[0].score if ranked and not absent else 0.0
            gold = set(row["evidence"])
            top_is_gold = bool(ranked) and any(
                g in ranked[0].text or ranked[0].text in g for g in gold
            )
            records.append((row, top, top_is_gold, resolved.standalone, ranked[:1]))

    answerable = np.array([r[0]["answerable"] for r in records])
    scores = np.array([r[1] for r in records])
    good = np.array([r[2] for r in records])
    print(f"{len(records)} questions, {answerable.sum()} answerable")
    print(f"{'threshold':>9} {'decision acc':>12} {'answered+gold':>13} {'refused ok':>10}")
    best = (0.0, 0.0)
    for t in np.arange(0.30, 0.71, 0.01):
        answered = scores >= t
        decision = np.mean(answered == answerable)
        answered_gold = np.mean((answered & good)[answerable])
        refused_ok = np.mean(~answered[~answerable])
        # Decision accuracy first; ties go to the lower threshold (fewer false refusals).
        if decision > best[1] + 1e-9:
            best = (float(t), float(decision))
        print(f"{t:9.2f} {decision:12.2%} {answered_gold:13.2%} {refused_ok:10.2%}")
    print(f"best threshold {best[0]:.2f} (decision accuracy {best[1]:.2%})")
    if args.verbose:
        for row, top, top_gold, standalone, ranked in records:
            flag = "A" if row["answerable"] else "U"
            text = ranked[0].text[:90] if ranked else ""
            print(
                f"{flag} {top:.3f} {'gold' if top_gold else '----'} {standalone[:60]!r} -> {text!r}"
            )


if __name__ == "__main__":
    main()
