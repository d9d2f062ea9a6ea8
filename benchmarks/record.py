"""Run a command that prints JSON (e.g. ``newsqa eval ... --json``) and save its output
with provenance: commit, uncommitted changes, load average, machine, the command.

What it measures
    Nothing itself: it makes the figures of any JSON-printing command traceable,
    as the benchmark scripts' own results are (``common.save_json``). The README's
    answer-quality sentence comes from such a file.

How to run
    .venv/bin/python benchmarks/record.py eval-seed_test -- \\
        .venv/bin/newsqa eval tests/data/seed_test.jsonl --baseline --json
    # -> benchmarks/out/eval-seed_test.json; copy it to benchmarks/results/ to commit it
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import ROOT, load, log, save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="result name: writes benchmarks/out/NAME.json")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    load_before = load()
    t = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"the command failed (exit {done.returncode}); nothing saved")
    try:
        output = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        sys.exit(f"the command did not print JSON ({exc}); nothing saved")
    path = save_json(
        f"{args.name}.json",
        {
            "recorded_command": command,
            "seconds": seconds,
            "load_before": load_before,
            "load_after": load(),
            "output": output,
        },
    )
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
