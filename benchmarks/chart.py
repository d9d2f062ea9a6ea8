"""Draw benchmarks/speed.png from the committed speed results in benchmarks/results/.

Left: ingest throughput (passages/s) against corpus size, one line per method.
Right: warm ``ask`` latency p50 (total and per stage) against corpus size.
Each point is a median from one run; under each group, its load average and the
commit it was measured at (from the file's provenance), so read ratios, not
absolute values. Only committed results (``benchmarks/results/speed-*.json``) are
drawn, so the picture can be traced like the tables.

How to run
    .venv/bin/python benchmarks/chart.py            # writes benchmarks/speed.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from common import RESULTS, ROOT

PNG = ROOT / "benchmarks" / "speed.png"


def results() -> list[dict[str, Any]]:
    found = []
    for path in sorted(RESULTS.glob("speed-*.json")):
        data = json.loads(path.read_text())
        if "query" in data:
            data["_file"] = path.name
            found.append(data)
    return found


def _commit(r: dict[str, Any]) -> str:
    commit = (r.get("provenance") or {}).get("commit") or "no commit"
    return commit[:7]


def _size(n: int) -> str:
    return f"{n / 1000:.0f}k" if n >= 1000 else str(n)


def main() -> None:
    runs = [r for r in results() if "-seed-" not in r["_file"]]
    if not runs:
        raise SystemExit(
            f"no speed-*.json in {RESULTS}: run benchmarks/speed.py, copy its JSON there"
        )
    runs.sort(key=lambda r: r.get("passages") or r["query"][next(iter(r["query"]))]["passages"])
    fig, (ax_in, ax_q) = plt.subplots(1, 2, figsize=(13, 5.2), width_ratios=[1, 1.4])

    # Ingest: one group of bars per run (corpus size, load), one bar per method.
    groups = [r for r in runs if "ingest" in r]
    methods = sorted({m for r in groups for m in r["ingest"]["methods"]})
    width = 0.8 / max(len(methods), 1)
    for j, method in enumerate(methods):
        xs, ys = [], []
        for i, r in enumerate(groups):
            if method in r["ingest"]["methods"]:
                xs.append(i + j * width)
                ys.append(r["ingest"]["methods"][method]["rate_median_round"])
        ax_in.bar(xs, ys, width, label=method)
    ax_in.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(groups))],
        [
            f"{_size(r['passages'])} news passages\nload {r['load_before'].split(' / ')[0]}"
            f", {_commit(r)}"
            + (
                f"\n(raw, plain: {r['ingest']['baseline_fraction']:.0%} samples)"
                if r["ingest"].get("baseline_fraction", 1.0) < 1.0
                else ""
            )
            for r in groups
        ],
    )
    ax_in.set(ylabel="passages / s (median of rounds)", title="Ingest throughput vs corpus size")
    ax_in.legend(fontsize=8)
    ax_in.grid(alpha=0.3, axis="y")

    # Warm ask: stacked p50 per stage, one bar per (library size, embedder, filter).
    stages = ("embed", "dense", "bm25", "fusion", "answer")
    bars: list[tuple[str, dict[str, float]]] = []
    for r in runs:
        where = "SciFact" if "store" in r else "news"
        for embedder, q in r["query"].items():
            for label, lat in q["latency"].items():
                if where == "SciFact" and label == "date filter":
                    continue  # SciFact has no dates: the filter empties the result
                # "minilm, int8 questions" on two lines: the labels sit side by side.
                lines = embedder.replace(", ", ",\n")
                name = (
                    f"{_size(q['passages'])} {where}\n{lines}"
                    f"{', date filter' if label == 'date filter' else ''}"
                    f"\nload {r['load_before'].split(' / ')[0]}, {_commit(r)}"
                )
                bars.append((name, {st: lat[st]["p50_ms"] for st in (*stages, "total")}))
    bottom = [0.0] * len(bars)
    for stage in stages:
        ys = [b[1][stage] for b in bars]
        ax_q.bar(range(len(bars)), ys, 0.6, bottom=bottom, label=stage)
        bottom = [a + b for a, b in zip(bottom, ys, strict=True)]
    ax_q.plot(range(len(bars)), [b[1]["total"] for b in bars], "k_", ms=20, label="total p50")
    ax_q.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=7, rotation=60, ha="right")
    ax_q.set(ylabel="ms (p50 per stage)", title="Warm ask latency by stage vs corpus size")
    ax_q.legend(fontsize=8)
    ax_q.grid(alpha=0.3, axis="y")
    fig.suptitle(
        "newsqa on 2 CPU cores (1-min load average before each run under its bars)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)
    print(f"wrote {Path(PNG).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
