"""Ingest's memory as the library grows: one malloc heap (newsqa's setup) or glibc's default.

What it measures
    Ingests N news passages (BBC News, the 2017 news articles and Reuters-21578,
    interleaved, as ``speed.py`` takes them) into a fresh library, in rounds, and
    reports the process's RSS after each round, its peak, and how much RSS each
    stored passage adds (from the second round to the last). Two processes, one per
    variant: ``newsqa``, with the process setup newsqa's entry points run with
    (``configure_process``: one malloc heap), and ``default``, glibc's default (a
    heap per thread, up to 8 per core). Stand-in unit vectors replace the model's,
    so what grows is what newsqa keeps for the library (Chroma, the sidecar, the
    story index), not the model's activations: ``speed.py`` measures those, against
    the raw encoder. glibc only.

How to run
    .venv/bin/python benchmarks/ingest_memory.py                  # 10,000 passages
    .venv/bin/python benchmarks/ingest_memory.py --passages 30000 --rounds 15
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import load_str, log, save_json, table

VARIANTS = ("newsqa", "default")


def _status() -> dict[str, int]:
    """RSS, its peak, and its anonymous part, MiB."""
    wanted = {"VmRSS": "rss", "VmHWM": "peak", "RssAnon": "anon"}
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in wanted:
            out[wanted[key]] = int(value.split()[0]) // 1024
    return out


def child(variant: str, passages: int, n_rounds: int, data_dir: Path) -> None:
    """Ingest in rounds, printing one JSON line per round (runs in its own process)."""
    if variant == "newsqa":
        from newsqa.runtime import configure_process

        configure_process()  # first: the heap limit holds only if no thread started yet
    import numpy as np
    from speed import rounds, take

    from newsqa.embeddings import get_embeddings
    from newsqa.runtime import malloc_heaps
    from newsqa.settings import Settings
    from newsqa.store import Store

    ingest = importlib.import_module("newsqa.ingest")  # (also a function in newsqa)
    settings = Settings(data_dir=data_dir)
    articles, texts = take("news", passages, settings.chunk_chars, settings.chunk_overlap_sentences)
    embeddings = get_embeddings("minilm")
    rng = np.random.default_rng(0)

    def unit(n: int) -> np.ndarray:
        v = rng.standard_normal((n, 384)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def stand_in(texts: Any, spans: Any, on_batch: Any = None) -> Any:
        if on_batch is not None:
            on_batch(len(texts))
        return unit(len(texts)), [unit(len(s)) for s in spans]

    embeddings.encode_passages = stand_in  # type: ignore[method-assign]
    store = Store(settings)
    print(json.dumps({"round": 0, "stored": 0, **_status()}), flush=True)
    stored = 0
    for i, part in enumerate(rounds(articles, texts, n_rounds), 1):
        t = time.perf_counter()
        report = ingest.ingest_parsed(
            store, embeddings, ((a.source, [a]) for a in part.articles), settings
        )
        if not report.ok:
            raise SystemExit(f"ingest failed: {report.failed[:2]}")
        stored += len(part.passages)
        row = {"round": i, "stored": stored, "s": round(time.perf_counter() - t, 2)}
        print(json.dumps({**row, **_status()}), flush=True)
    print(json.dumps({"heaps": malloc_heaps()}), flush=True)


def run_variant(variant: str, passages: int, n_rounds: int) -> dict[str, Any]:
    """Run one variant in a fresh process, logging each round as it ends."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="newsqa-memory-") as tmp:
        cmd = [sys.executable, __file__, "--child", variant, str(passages), str(n_rounds), tmp]
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if not line.startswith("{"):
                    continue
                row = json.loads(line)
                lines.append(row)
                if "stored" in row:
                    done = f"{row['stored']:,} stored"
                    log(f"{variant}: round {row['round']}, {done}, RSS {row['rss']} MiB")
        if proc.returncode != 0:
            raise SystemExit(f"{variant}: the ingest process failed (exit {proc.returncode})")
    rows = [r for r in lines if "round" in r]
    heaps = next(r["heaps"] for r in lines if "heaps" in r)
    first, last = rows[1], rows[-1]  # from the end of round 1: past the imports and opening
    per_passage = (last["rss"] - first["rss"]) * 1024 / max(last["stored"] - first["stored"], 1)
    return {"rounds": rows, "heaps": heaps, "kb_per_passage": per_passage}


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        variant, passages, n_rounds, data_dir = sys.argv[2:6]
        child(variant, int(passages), int(n_rounds), Path(data_dir))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None:
        raise SystemExit("this measures glibc's malloc heaps: Linux with glibc only")
    log(f"{args.passages:,} passages in {args.rounds} rounds, stand-in vectors ({load_str()})")
    results = {v: run_variant(v, args.passages, args.rounds) for v in VARIANTS}
    print(
        table(
            ["variant", "heaps", "RSS after round 1", "RSS at the end", "peak", "KB / passage"],
            [
                [
                    v,
                    r["heaps"],
                    r["rounds"][1]["rss"],
                    r["rounds"][-1]["rss"],
                    r["rounds"][-1]["peak"],
                    f"{r['kb_per_passage']:.1f}",
                ]
                for v, r in results.items()
            ],
        )
    )
    ratio = results["newsqa"]["kb_per_passage"] / results["default"]["kb_per_passage"]
    print(f"\nRSS added per stored passage, newsqa / default heaps: {ratio:.2f}x (RSS in MiB)")
    path = save_json(
        f"ingest-memory-{args.passages}.json",
        {"passages": args.passages, "rounds": args.rounds, "variants": results, "ratio": ratio},
    )
    log(f"saved {path}")


if __name__ == "__main__":
    main()
