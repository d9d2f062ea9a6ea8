"""How the dense and BM25 rankings are fused: the answering article among the top passages.

What it measures
    For the answerable questions of the quality suite's libraries (``suite.py``: the
    RealTime QA news quiz over 5,866 real articles, QuAIL's texts, XQuAD's
    paragraphs), newsqa's two retrievers are asked as ``HybridSearch`` asks them
    (MiniLM over the store's vectors, BM25 over the lexical index, ``candidates``
    each), and the rankings are fused offline by reciprocal rank with several
    constants ``rrf_k``. The figure is the share of questions whose answering
    article (or text, or paragraph) owns one of the top ``--k`` passages: the
    passages the answerer reads, so the ceiling of "answer cites the answering
    article". Dense alone and BM25 alone are the baselines in the same run.
    ``rrf_k`` is chosen on the train split; the validation split reports it.

How to run
    .venv/bin/python benchmarks/fusion.py                 # news (train + val), quail, xquad
    .venv/bin/python benchmarks/fusion.py --sets xquad    # one set
    # -> benchmarks/out/fusion.json (commit it under benchmarks/results/)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import suite
from common import log, machine, save_json, table

from newsqa.conversation import resolve
from newsqa.models import date_to_int
from newsqa.retrieval import rrf

CONSTANTS = (1, 2, 5, 10, 20, 60)
SPLITS = {"news": ("train", "val"), "quail": ("val",), "xquad": ("val",)}


def rankings(set_name: str, splits: Sequence[str], candidates: int) -> list[dict[str, Any]]:
    """Per answerable question: its split, gold articles, and both rankings (passage ids
    with their article ids)."""
    lib = suite.load_library(set_name, distractors=suite.DISTRACTORS)
    qa = suite.open_library(lib)
    search = qa.search
    questions = [
        q
        for _, q in suite.iter_questions(lib, splits, [set_name])
        if q.answerable and q.type != "negative"
    ]
    out = []
    t0 = time.perf_counter()
    for n, q in enumerate(questions, start=1):
        if n % 500 == 0:
            log(f"  {set_name}: {n}/{len(questions)} ({time.perf_counter() - t0:.0f} s)")
        text = resolve(q.question, list(q.history)).standalone
        dense = search.store.dense_search(search.embeddings.query_vector(text), candidates)
        sparse = search.lexical.search(text, candidates, date_to_int(None), date_to_int(None))
        article = {sp.passage.id: sp.passage.article_id for sp, _ in dense}
        missing = [pid for pid, _ in sparse if pid not in article]
        article |= {
            sp.passage.id: sp.passage.article_id for sp in search.store.get_passages(missing)
        }
        out.append(
            {
                "split": suite.question_split(set_name, q),
                "gold": set(q.gold_docs),
                "dense": [sp.passage.id for sp, _ in dense],
                "sparse": [pid for pid, _ in sparse],
                "article": article,
            }
        )
    return out


def recall(questions: list[dict[str, Any]], fuse: Any, k: int) -> float:
    """Share of questions whose gold article owns one of the top ``k`` fused passages."""
    found = [bool({q["article"].get(pid) for pid in fuse(q)[:k]} & q["gold"]) for q in questions]
    return sum(found) / len(found) if found else float("nan")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="news,quail,xquad")
    parser.add_argument("-k", type=int, default=6, help="passages the answerer reads")
    parser.add_argument("--candidates", type=int, default=40, help="per retriever")
    args = parser.parse_args(argv)

    variants: dict[str, Any] = {
        "dense alone": lambda q: q["dense"],
        "BM25 alone": lambda q: q["sparse"],
    }
    for c in CONSTANTS:
        variants[f"RRF rrf_k={c}"] = lambda q, c=c: sorted(
            fused := rrf([q["dense"], q["sparse"]], c), key=lambda p: -fused[p]
        )
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    for set_name in args.sets.split(","):
        questions = rankings(set_name, SPLITS[set_name], args.candidates)
        for split in SPLITS[set_name]:
            part = [q for q in questions if q["split"] == split]
            figures = {name: recall(part, fuse, args.k) for name, fuse in variants.items()}
            results.setdefault(set_name, {})[split] = figures | {"questions": len(part)}
            rows += [[set_name, split, len(part), name, f"{v:.3f}"] for name, v in figures.items()]
    print(table(["set", "split", "questions", "ranking", f"gold article in top {args.k}"], rows))
    path = save_json(
        "fusion.json",
        {"k": args.k, "candidates": args.candidates, "results": results, "machine": machine()},
    )
    log(f"saved {path}")


if __name__ == "__main__":
    main()
