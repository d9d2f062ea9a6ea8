"""Show an :class:`EvalReport`: a terminal table, JSON, and a report folder
(Markdown summary, one PNG chart per metric group, JSON with every question)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from newsqa.evaluation.records import QuestionRecord
from newsqa.evaluation.runner import EvalReport
from newsqa.text import plural

LABELS: dict[str, str] = {
    "recall@1": "Recall@1",
    "recall@5": "Recall@5",
    "recall@10": "Recall@10",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
    "containment": "Answer containment",
    "exact_match": "Exact match (SQuAD)",
    "f1": "Token F1 (SQuAD)",
    "answer_chars": "Answer length, median chars",
    "precision": "Citation precision",
    "recall": "Citation recall",
    "evidence_cited": "Gold evidence cited",
    "doc_cited": "Gold document cited",
    "verified": "Citations verified verbatim",
    "refusal_accuracy": "Refused when unanswerable",
    "wrongly_refused": "Refused when answerable",
    "balanced_accuracy": "Balanced refusal accuracy",
    "p50_ms": "p50 ms per question",
    "p95_ms": "p95 ms per question",
}
GROUP_TITLES: dict[str, str] = {
    "retrieval": "Retrieval",
    "answers": "Answers",
    "citations": "Citations",
    "refusals": "Refusals",
    "latency": "Latency",
    "reliability": "Reliability of the confidence",
}


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric.endswith("_chars"):
        return f"{value:.0f}"
    return f"{value:.1f}" if metric.endswith("_ms") else f"{value:.3f}"


def _rows(report: EvalReport) -> list[tuple[str, str, list[str]]]:
    """(group, metric, formatted value per system) in display order."""
    if not report.runs:
        return []
    rows = []
    for group, metrics in report.runs[0].summary.items():
        for metric in metrics:
            values = [_value(metric, r.summary[group].get(metric)) for r in report.runs]
            rows.append((group, metric, values))
    return rows


def headline(report: EvalReport) -> str:
    """One line saying what was evaluated."""
    d = report.dataset
    counts = f"{d['questions']} questions"
    if not d["retrieval_only"]:
        counts += f" ({d['answerable']} answerable, {d['unanswerable']} unanswerable)"
    split = f", split {d['split']}" if d.get("split") else ""
    return f"{d['name']} [{d['format']}{split}]: {counts} over {plural(d['articles'], 'article')}"


def _notes(report: EvalReport) -> list[str]:
    d, c = report.dataset, report.config
    unit = "gold documents" if d["retrieval_level"] == "document" else "gold evidence sentences"
    answering = "retrieval only" if d["retrieval_only"] else f"answerer gets k={c['k']} passages"
    notes = [f"retrieval scored against {unit} (top {c['retrieval_depth']} passages); {answering}"]
    for run in report.runs:
        i = run.ingest
        failed = f", {i.failed} failed" if i.failed else ""
        notes.append(
            f"{run.name}: {plural(i.passages, 'passage')} from "
            f"{plural(i.articles, 'article')} in {i.seconds:.1f} s{failed}; "
            f"questions in {run.seconds:.1f} s"
        )
    if d["skipped"]:
        notes.append(f"{len(d['skipped'])} corpus files skipped: {d['skipped'][0]} ...")
    return notes


def format_table(report: EvalReport) -> str:
    """The metrics as a plain-text table, one column per system."""
    names = [r.name for r in report.runs]
    label_width = max(len(v) for v in LABELS.values()) + 2
    lines = [headline(report), ""]
    lines.append(" " * label_width + "".join(f"{n:>12}" for n in names))
    group = None
    for g, metric, values in _rows(report):
        if g != group:
            group = g
            lines.append(GROUP_TITLES.get(g, g))
        label = "  " + LABELS.get(metric, metric)
        lines.append(f"{label:<{label_width}}" + "".join(f"{v:>12}" for v in values))
    lines.append("")
    lines.extend(_notes(report))
    return "\n".join(lines)


def to_json(report: EvalReport, questions: bool = False) -> str:
    """The report as JSON (``questions`` adds every judged question)."""
    return json.dumps(report.to_dict(questions), indent=2, ensure_ascii=False)


def format_markdown(report: EvalReport, charts: dict[str, str] | None = None) -> str:
    """A Markdown summary: what ran, the metrics table, links to the charts."""
    names = [r.name for r in report.runs]
    lines = [f"# newsqa evaluation: {report.dataset['name']}", "", headline(report), ""]
    lines += [f"- {note}" for note in _notes(report)]
    lines += ["", "| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    group = None
    for g, metric, values in _rows(report):
        if g != group:
            group = g
            lines.append(f"| **{GROUP_TITLES.get(g, g)}** |" + " |" * len(names))
        lines.append(f"| {LABELS.get(metric, metric)} | " + " | ".join(values) + " |")
    lines += _by_type(report)
    for g, file in (charts or {}).items():
        lines += ["", f"![{GROUP_TITLES.get(g, g)}]({file})"]
    return "\n".join(lines) + "\n"


def _by_type(report: EvalReport) -> list[str]:
    """Markdown rows: per question type, the share handled right by each system."""
    if report.dataset["retrieval_only"] or not report.runs:
        return []
    types = sorted({r.type for r in report.runs[0].records if r.type})
    if not types:
        return []
    names = [r.name for r in report.runs]
    lines = [
        "",
        "Share of questions handled right, by type (answerable: gold evidence cited; "
        "unanswerable: refused):",
        "",
        "| type | n | " + " | ".join(names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for kind in types:
        cells = []
        for run in report.runs:
            of_type = [r for r in run.records if r.type == kind]
            cells.append(f"{sum(r.correct for r in of_type) / len(of_type):.2f}")
        n = sum(r.type == kind for r in report.runs[0].records)
        lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    return lines


def plot_group(report: EvalReport, group: str, path: Path) -> None:
    """One grouped bar chart: the group's metrics, one bar per system."""
    # The Agg canvas directly, not pyplot: no GUI backend and no global figure state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Shares and milliseconds only: a length in characters has a scale of its own.
    metrics = [m for m in report.runs[0].summary[group] if not m.endswith("_chars")]
    fig = Figure(figsize=(max(4.0, 1.4 * len(metrics) + 1.5), 3.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(report.runs)
    for i, run in enumerate(report.runs):
        values = [run.summary[group].get(m) for m in metrics]
        xs = [j + (i - (len(report.runs) - 1) / 2) * width for j in range(len(metrics))]
        bars = ax.bar(xs, [v or 0.0 for v in values], width, label=run.name)
        ax.bar_label(
            bars,
            labels=[_value(m, v) for m, v in zip(metrics, values, strict=True)],
            fontsize=7,
            padding=2,
        )
    ax.set_xticks(
        range(len(metrics)),
        [LABELS.get(m, m) for m in metrics],
        fontsize=8,
        rotation=20,
        ha="right",
    )
    # Head room above the tallest bar for its label and a legend that covers no bar.
    tallest = max(
        (v or 0.0 for r in report.runs for m in metrics if (v := r.summary[group].get(m))),
        default=0,
    )
    if group == "latency":
        ax.set_ylabel("milliseconds")
        ax.set_ylim(0, max(tallest, 1.0) * 1.35)
    else:
        ax.set_ylim(0, 1.35)
        ax.set_yticks([i / 5 for i in range(6)])  # shares: no tick above 1.0
    ax.set_title(f"{GROUP_TITLES.get(group, group)}: {report.dataset['name']}")
    ax.legend(fontsize=8, loc="upper left", ncol=len(report.runs), frameon=False)
    fig.tight_layout()
    fig.savefig(path)


RELIABILITY_BINS = 10


def answered_right(record: QuestionRecord) -> bool:
    """What ``Answer.confidence`` estimates: the question is answerable and what was
    retrieved holds its gold evidence (or gold document; answerable alone when the
    set names neither)."""
    if not record.answerable:
        return False
    return any(record.ranks) if record.targets else True


def reliability(records: Sequence[QuestionRecord]) -> list[tuple[float, float, int]]:
    """(mean confidence, observed share answered right, count) per confidence bin."""
    bins: list[list[QuestionRecord]] = [[] for _ in range(RELIABILITY_BINS)]
    for r in records:
        if r.confidence is not None:
            bins[min(int(r.confidence * RELIABILITY_BINS), RELIABILITY_BINS - 1)].append(r)
    return [
        (
            sum(r.confidence or 0.0 for r in b) / len(b),
            sum(answered_right(r) for r in b) / len(b),
            len(b),
        )
        for b in bins
        if b
    ]


def plot_reliability(records: Sequence[QuestionRecord], path: Path, title: str) -> bool:
    """A reliability diagram of ``Answer.confidence``; False when no record has one."""
    points = reliability(records)
    if not points:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 4.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    xs, ys, ns = zip(*points, strict=True)
    ax.plot(xs, ys, marker="o", label="newsqa")
    for x, y, n in points:
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    total = sum(ns)
    ece = sum(n * abs(x - y) for x, y, n in points) / total
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (calibrated probability)")
    ax.set_ylabel("share answerable from what was retrieved")
    ax.set_title(f"{title}: {total} questions, ECE {ece:.3f}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    return True


def write_report(report: EvalReport, folder: str | Path) -> list[Path]:
    """Write summary.md, report.json (with every question) and a PNG per metric group."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    charts: dict[str, str] = {}
    for group in report.runs[0].summary if report.runs else []:
        path = folder / f"{group}.png"
        plot_group(report, group, path)
        charts[group] = path.name
        written.append(path)
    ours = report.run("newsqa")
    if ours is not None:
        path = folder / "reliability.png"
        if plot_reliability(ours.records, path, report.dataset["name"]):
            charts["reliability"] = path.name
            written.append(path)
    summary = folder / "summary.md"
    summary.write_text(format_markdown(report, charts), encoding="utf-8")
    data = folder / "report.json"
    data.write_text(to_json(report, questions=True) + "\n", encoding="utf-8")
    return [summary, data, *written]
