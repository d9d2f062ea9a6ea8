"""Ingest throughput, query latency, cold start and memory of newsqa on real news.

What it measures (issue 2 figures and issue 6), per corpus size in passages:

- Ingest, passages/s, three ways over the *same* passages, interleaved in rounds
  so that the load other users put on the machine hits all of them alike:
    ``raw``     ``SentenceTransformer.encode`` of the passage texts (batch 32,
                normalized): the limit on this hardware, and the baseline;
    ``newsqa``  newsqa's ingest end to end from articles (chunking, embedding,
                Chroma writes under the writer lock);
    ``plain``   the plain LangChain recipe: ``Chroma.from_documents`` (then
                ``add_documents``) with an embeddings wrapper of the same model.
  With ``--embedder onnx-int8`` two more rows: ``raw-onnx`` and ``newsqa-onnx``.
  Each method runs in its own process, so its peak RSS is its own.
- Warm ``ask`` latency p50/p95, split by stage (``Answer.timings``: embed, dense,
  bm25, fusion, answer, total), without and with a date filter, in a fresh
  process over the stored library (the "warm app"), plus that process's RSS.
- The answer stage's own embedding of the candidate sentences (count and time).
- BM25: loading the persisted index vs rebuilding it from the store.
- Cold ``newsqa ask``: whole-process wall time and peak RSS of the child.

Corpora: BBC News (2,225), the 2017 news articles (3,824) and Reuters-21578
(bodies >= 200 chars), interleaved, read from ``../shared/data``; a size of N
passages takes articles in that order until their passages reach N. ``--corpus
seed`` uses the repository's seed article only (for the smoke test).

How to run
    .venv/bin/python benchmarks/speed.py --quick         # ~300 passages, a few minutes
    .venv/bin/python benchmarks/speed.py                 # 1,000 and 10,000 passages
    .venv/bin/python benchmarks/speed.py --sizes 100000 --baseline-fraction 0.05
    .venv/bin/python benchmarks/speed.py --sizes 10000 --reuse   # query figures only,
                                                          # on a store built earlier
    .venv/bin/python benchmarks/speed.py --sizes 10000 \
        --compare benchmarks/results/speed-news-minilm-10000.json \
        --before /tmp/newsqa-old --before-store OLD_DATA_DIR
        # prints each headline figure beside the earlier run's; the cold starts also run
        # the older code (a checkout, e.g. `git archive`) on its own library, interleaved

Every figure is a median (or p95) over repeats, next to a baseline measured in
the same run, with the load average recorded; the machine is shared, so read the
ratios rather than the absolute numbers. Stores are kept in
``benchmarks/out/speed/`` (git-ignored) and raw results in
``benchmarks/out/speed-<embedder>-<size>.json``; ``benchmarks/chart.py`` draws them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from common import (
    OUT,
    ROOT,
    git_state,
    load,
    load_str,
    log,
    machine,
    median,
    news_records,
    percentile,
    same_code,
    save_json,
    table,
)

from newsqa.chunking import chunk_article
from newsqa.models import Article
from newsqa.settings import Settings

STAGES = ("embed", "dense", "bm25", "fusion", "answer", "total")
# Ingest ratios reported as median of per-round ratios (numerator, denominator).
PAIRS = [
    ("newsqa", "raw"),
    ("newsqa", "plain"),
    ("plain", "raw"),
    ("newsqa-onnx", "newsqa"),
    ("raw-onnx", "raw"),
    ("newsqa-onnx", "raw-onnx"),
]
DATE_FILTER = ("2017-01-01", "2017-03-31")  # the 2017 news articles; cuts BBC and Reuters out
# Questions of the kinds people ask about news; titles of stored articles are added to them.
QUESTIONS = [
    "What did the central bank say about interest rates?",
    "How much did the company's profits rise?",
    "Who won the election?",
    "What did the prime minister promise?",
    "Why did oil prices fall?",
    "When will the new tax take effect?",
    "How many people were killed in the attack?",
    "What did the spokesman say about the talks?",
    "Where did the protests take place?",
    "Who is the new chief executive?",
]


# -- corpus ---------------------------------------------------------------------------------


def seed_articles() -> list[Article]:
    from newsqa.articles import parse_file

    return [a for f in sorted((ROOT / "seeds").iterdir()) for a in parse_file(f)]


def corpus_articles(corpus: str) -> Iterator[Article]:
    if corpus == "seed":
        yield from seed_articles()
        return
    for title, text, date, source in news_records():
        yield Article(text=text, title=title, date=date, source=source)


@dataclass
class Slice:
    """Articles of one round and the texts of their passages (what raw/plain embed)."""

    articles: list[Article]
    passages: list[str]
    passage_articles: list[int]  # index into articles, per passage


def take(
    corpus: str, target: int, chunk_chars: int, overlap: int
) -> tuple[list[Article], list[list[str]]]:
    """Articles in corpus order until their passages reach ``target``, with those passages."""
    articles: list[Article] = []
    passages: list[list[str]] = []
    total = 0
    seen: set[str] = set()
    for article in corpus_articles(corpus):
        if article.id in seen:  # duplicate bodies exist (Reuters); newsqa stores them once
            continue
        seen.add(article.id)
        chunks = [p.text for p in chunk_article(article, chunk_chars, overlap)]
        if not chunks:
            continue
        articles.append(article)
        passages.append(chunks)
        total += len(chunks)
        if total >= target:
            break
    return articles, passages


def rounds(articles: list[Article], passages: list[list[str]], n_rounds: int) -> list[Slice]:
    total = sum(len(p) for p in passages)
    per_round = max(1, -(-total // n_rounds))
    out: list[Slice] = []
    current = Slice([], [], [])
    for article, chunks in zip(articles, passages, strict=True):
        current.articles.append(article)
        current.passage_articles += [len(current.articles) - 1] * len(chunks)
        current.passages += chunks
        if len(current.passages) >= per_round:
            out.append(current)
            current = Slice([], [], [])
    if current.articles:
        out.append(current)
    return out


# -- ingest workers (one process per method) ----------------------------------------------


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def ingest_worker(conn: Connection, method: str, data_dir: str) -> None:
    """Runs one ingest method, a round at a time, on command from the parent."""
    if method.startswith("newsqa"):
        # The process setup `newsqa ingest` runs with (one malloc heap among others),
        # before any thread starts; the raw and plain baselines run without it.
        from newsqa.runtime import configure_process

        configure_process()
    from newsqa.embeddings import get_embeddings, load_model

    embedder = "onnx-int8" if method.endswith("-onnx") else "minilm"
    embeddings = get_embeddings(embedder)
    state: dict[str, Any] = {}

    if method.startswith("raw"):
        if embedder == "minilm":
            model = load_model()

            def work(s: Slice) -> None:
                model.encode(s.passages, batch_size=32, normalize_embeddings=True)

        else:

            def work(s: Slice) -> None:
                embeddings.encode(s.passages)

    elif method.startswith("newsqa"):
        from newsqa.store import Store

        # (``newsqa.ingest`` is also a function in the package namespace: get the module.)
        ingest_module = importlib.import_module("newsqa.ingest")

        settings = Settings(data_dir=Path(data_dir))
        store = Store(settings)
        # Where ingest's time goes: wrap (in this worker only) the chunker and the
        # embedder; the rest is Chroma writes, the writer lock and bookkeeping.
        spent = state["spent"] = {"chunk": 0.0, "embed": 0.0, "embed_texts": 0}
        chunk, encode = ingest_module.chunk_article, embeddings.encode_passages

        def timed_chunk(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return chunk(*a, **k)
            finally:
                spent["chunk"] += time.perf_counter() - t

        def timed_encode(texts: Sequence[str], spans: Any, on_batch: Any = None) -> Any:
            t = time.perf_counter()
            try:
                return encode(texts, spans, on_batch)
            finally:
                spent["embed"] += time.perf_counter() - t
                spent["embed_texts"] += len(texts)

        ingest_module.chunk_article = timed_chunk
        embeddings.encode_passages = timed_encode  # type: ignore[method-assign]

        def work(s: Slice) -> None:
            report = ingest_module.ingest_parsed(
                store, embeddings, ((a.source, [a]) for a in s.articles), settings
            )
            if not report.ok:
                raise RuntimeError(f"ingest failed: {report.failed[:2]}")

        state["count"] = store.count_passages

    elif method == "plain":
        import chromadb
        from langchain_chroma import Chroma
        from langchain_core.documents import Document

        client = chromadb.PersistentClient(
            path=data_dir, settings=chromadb.Settings(anonymized_telemetry=False)
        )
        batch = client.get_max_batch_size()

        def work(s: Slice) -> None:
            docs = [
                Document(
                    page_content=text,
                    metadata={"title": s.articles[a].title, "source": s.articles[a].source},
                )
                for text, a in zip(s.passages, s.passage_articles, strict=True)
            ]
            if "vs" not in state:
                state["vs"] = Chroma.from_documents(
                    docs,
                    embeddings,
                    collection_name="plain",
                    client=client,
                    collection_configuration={"hnsw": {"space": "cosine"}},
                )
            else:
                for i in range(0, len(docs), batch):
                    state["vs"].add_documents(docs[i : i + batch])

        state["count"] = lambda: state["vs"]._collection.count() if "vs" in state else 0
    else:
        raise ValueError(method)

    embeddings.encode(["warm up the model before the clock starts"])
    if "spent" in state:
        state["spent"].update(chunk=0.0, embed=0.0, embed_texts=0)
    conn.send({"rss_ready_mib": _rss_mib()})
    while True:
        message = conn.recv()
        if message is None:
            break
        t = time.perf_counter()
        work(message)
        conn.send(time.perf_counter() - t)
    count = state["count"]() if "count" in state else None
    final = {"peak_rss_mib": _peak_mib(), "rss_end_mib": _rss_mib(), "stored": count}
    if "spent" in state:
        final["breakdown_s"] = state["spent"]
    conn.send(final)


def measure_ingest(
    slices: list[Slice], methods: Sequence[str], workdir: Path, fraction: float
) -> dict[str, Any]:
    """Each method over the same passages, round by round, in rotating order."""
    ctx = mp.get_context("spawn")
    procs: dict[str, tuple[Any, Connection]] = {}
    ready: dict[str, Any] = {}
    for method in methods:
        target = workdir / method
        shutil.rmtree(target, ignore_errors=True)
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=ingest_worker, args=(child, method, str(target)))
        proc.start()
        procs[method] = (proc, parent)
    for method, (_, conn) in procs.items():
        ready[method] = conn.recv()
    rng = random.Random(0)
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    counts: dict[str, list[int]] = {m: [] for m in methods}
    loads: list[float] = []
    for i, s in enumerate(slices):
        # The baselines may run on a sample of each round (--baseline-fraction) to save time.
        sample = s
        if fraction < 1.0:
            keep = sorted(
                rng.sample(range(len(s.passages)), max(1, int(fraction * len(s.passages))))
            )
            sample = Slice(
                s.articles, [s.passages[j] for j in keep], [s.passage_articles[j] for j in keep]
            )
        order = list(methods[i % len(methods) :]) + list(methods[: i % len(methods)])
        for method in order:
            work = s if method.startswith("newsqa") else sample
            conn = procs[method][1]
            conn.send(work)
            seconds[method].append(conn.recv())
            counts[method].append(len(work.passages))
        loads.append(load()[0])
        log(
            f"ingest round {i + 1}/{len(slices)}: "
            + ", ".join(f"{m} {counts[m][-1] / seconds[m][-1]:.1f}/s" for m in methods)
        )
    final: dict[str, Any] = {}
    for method, (proc, conn) in procs.items():
        conn.send(None)
        final[method] = conn.recv()
        proc.join()
    base = "raw-onnx" if "raw" not in methods else "raw"
    out: dict[str, Any] = {"loads": loads, "methods": {}}
    for m in methods:
        per_round = [c / t for c, t in zip(counts[m], seconds[m], strict=True)]
        ref = "raw-onnx" if m.endswith("-onnx") and "raw-onnx" in methods else base
        ref_rounds = [c / t for c, t in zip(counts[ref], seconds[ref], strict=True)]
        out["methods"][m] = {
            "passages": sum(counts[m]),
            "seconds": sum(seconds[m]),
            "rate": sum(counts[m]) / sum(seconds[m]),
            "rate_median_round": median(per_round),
            "rate_per_round": per_round,
            "ratio_vs_raw_median_round": median(
                [a / b for a, b in zip(per_round, ref_rounds, strict=True)]
            ),
            "ratio_vs": ref,
            **ready[m],
            **final[m],
        }
    # Like against like: the same passages in the same rounds, so these medians of
    # per-round ratios are what the tables quote (e.g. the int8 embedder's speed-up).
    out["pair_ratios"] = {
        f"{a} / {b}": median(
            [
                (ca / ta) / (cb / tb)
                for ca, ta, cb, tb in zip(counts[a], seconds[a], counts[b], seconds[b], strict=True)
            ]
        )
        for a, b in PAIRS
        if a in methods and b in methods
    }
    return out


# -- warm queries (a fresh process over the stored library) ---------------------------------


def query_worker(
    conn: Connection,
    data_dir: str,
    collection: str,
    embedder: str,
    questions: list[str],
    repeats: int,
    query_embedder: str,
) -> None:
    from newsqa.features import candidates
    from newsqa.qa import NewsQA

    t0 = time.perf_counter()
    qa = NewsQA(
        data_dir=data_dir, collection=collection, embedder=embedder, query_embedder=query_embedder
    )
    passages = qa.store.count_passages()
    t1 = time.perf_counter()
    first = qa.ask(questions[0])  # loads the model and the persisted BM25 index (or builds it)
    t2 = time.perf_counter()
    out: dict[str, Any] = {
        "passages": passages,
        "query_embedder": type(qa.embeddings).__name__,
        "open_s": t1 - t0,
        "first_ask_s": t2 - t1,
        "first_ask_timings": first.timings,
    }
    # BM25: load the persisted index vs rebuild it from the store (same generation).
    lexical = qa.lexical
    generation = qa.store.generation()
    t = time.perf_counter()
    loaded = lexical._load(generation)
    out["bm25_load_s"] = time.perf_counter() - t
    out["bm25_persisted"] = loaded is not None
    t = time.perf_counter()
    lexical._build_full(generation)  # from scratch: read and tokenize every passage
    out["bm25_rebuild_s"] = time.perf_counter() - t
    t = time.perf_counter()
    lexical._build(generation)  # incremental, nothing new: the fixed cost of any update
    out["bm25_update_s"] = time.perf_counter() - t

    runs: dict[str, list[dict[str, float]]] = {"no filter": [], "date filter": []}
    answerable = 0
    for _ in range(repeats):
        for q in questions:
            for label, (d_from, d_to) in (
                ("no filter", (None, None)),
                ("date filter", DATE_FILTER),
            ):
                # Each ask pays for its question's encode, as a new question would
                # (the embedder caches recent questions).
                qa.embeddings.query_vector.cache_clear()
                answer = qa.ask(q, date_from=d_from, date_to=d_to)
                runs[label].append(answer.timings)
                answerable += answer.answerable
    out["latency"] = {
        label: {
            stage: {
                "p50_ms": 1000 * median([r[stage] for r in rows if stage in r]),
                "p95_ms": 1000 * percentile([r[stage] for r in rows if stage in r], 95),
            }
            for stage in STAGES
        }
        for label, rows in runs.items()
    }
    out["asks"] = sum(len(v) for v in runs.values())
    out["answered_share"] = answerable / max(out["asks"], 1)
    # The answer stage scores every candidate sentence. Their vectors were stored at
    # ingest; embedding them at question time (what answering did before) would cost:
    n_cands, encode_s, unstored = [], [], []
    for q in questions:
        hits = qa.search.search(q, qa.settings.top_k).hits
        cands = candidates(hits)
        texts = [c.text for c in cands]
        t = time.perf_counter()
        qa.embeddings.encode(texts)
        encode_s.append(time.perf_counter() - t)
        n_cands.append(len(texts))
        unstored.append(sum(c.vector is None for c in cands))
    out["answer_candidates_median"] = median(n_cands)
    out["answer_candidates_without_vector"] = sum(unstored)
    out["answer_encode_ms_p50"] = 1000 * median(encode_s)
    out["warm_rss_mib"] = _rss_mib()
    out["warm_peak_rss_mib"] = _peak_mib()
    conn.send(out)


def measure_queries(
    data_dir: Path,
    collection: str,
    embedder: str,
    questions: list[str],
    repeats: int,
    query_embedder: str = "auto",
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    args = (child, str(data_dir), collection, embedder, questions, repeats, query_embedder)
    proc = ctx.Process(target=query_worker, args=args)
    proc.start()
    result: dict[str, Any] = parent.recv()
    proc.join()
    return result


# -- cold start -----------------------------------------------------------------------------


def _run_cold(cmd: list[str], env: dict[str, str] | None) -> tuple[float, float, str]:
    """One fresh process: (wall seconds, its own peak RSS in MiB, its stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        # wait4, not wait(): it returns this child's own rusage (ru_maxrss = peak RSS).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd[-3:])} failed: {err.read().decode()[-500:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def measure_cold(
    data_dir: Path,
    collection: str,
    question: str,
    runs: int,
    before: Path | None = None,
    before_store: Path | None = None,
) -> dict[str, Any]:
    """``newsqa ask`` and ``newsqa articles list`` as fresh processes, interleaved: wall
    time and each child's own peak RSS; with ``before`` (a checkout of older newsqa
    code), the same commands run on that code too, in the same rounds: on
    ``before_store`` if given (a library that code wrote), else on ``data_dir``."""

    def commands(library: Path) -> dict[str, list[str]]:
        base = [sys.executable, "-m", "newsqa", "--data-dir", str(library)]
        base += ["--collection", collection]
        return {"ask": [*base, "ask", question, "--json"], "list": [*base, "articles", "list"]}

    versions: dict[str, tuple[dict[str, str] | None, dict[str, list[str]]]] = {
        "now": (None, commands(data_dir))
    }
    if before is not None:
        env = {**os.environ, "PYTHONPATH": str(before.resolve() / "src")}
        versions["before"] = (env, commands(before_store or data_dir))
    figures: dict[str, dict[str, list[float]]] = {
        f"{v}/{c}": {"wall": [], "peak": [], "total": []} for v in versions for c in ("ask", "list")
    }
    for _ in range(runs):
        for version, (env, cmds) in versions.items():
            for name, cmd in cmds.items():
                wall, peak, out = _run_cold(cmd, env)
                row = figures[f"{version}/{name}"]
                row["wall"].append(wall)
                row["peak"].append(peak)
                if name == "ask":
                    row["total"].append(json.loads(out)["timings"]["total"])
    # What a cold start is made of, and whether the question path imports torch.
    parts = {}
    for name, code in (
        ("import_s", "import newsqa.cli"),
        (
            "import_and_int8_model_s",
            "import newsqa.cli; from newsqa.embeddings import get_embeddings; "
            "get_embeddings('onnx-int8').encode(['x'])",
        ),
        (
            "import_and_torch_model_s",
            "import newsqa.cli; from newsqa.embeddings import load_model; "
            "load_model().encode(['x'])",
        ),
    ):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        parts[name] = time.perf_counter() - t
    probe = (
        "import sys\nfrom newsqa.runtime import configure_process\nconfigure_process()\n"
        f"from newsqa import NewsQA\nqa = NewsQA(data_dir={str(data_dir)!r}, "
        f"collection={collection!r})\nqa.ask({question!r})\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'sklearn', 'trafilatura')"
        " if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    out: dict[str, Any] = {**parts, "heavy_modules_after_ask": loaded}
    for key, row in figures.items():
        out[key] = {
            "wall_s_median": median(row["wall"]),
            "wall_s": row["wall"],
            "peak_rss_mib_median": median(row["peak"]),
        }
        if row["total"]:
            out[key]["in_process_total_s_median"] = median(row["total"])
    # The figures under their old names, for chart.py and earlier JSON.
    out.update(
        wall_s_median=out["now/ask"]["wall_s_median"],
        wall_s=out["now/ask"]["wall_s"],
        in_process_total_s_median=out["now/ask"]["in_process_total_s_median"],
        peak_rss_mib_median=out["now/ask"]["peak_rss_mib_median"],
    )
    return out


def disk_bytes(folder: Path) -> int:
    """Bytes the files under ``folder`` take on disk (allocated blocks, like ``du``)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def disk_parts(folder: Path) -> dict[str, int]:
    """Bytes on disk per top-level entry of a data dir (``chroma``, ``sentences``,
    ``bm25``, ...): where a library's size goes."""
    return {
        entry.name: disk_bytes(entry) if entry.is_dir() else entry.stat().st_blocks * 512
        for entry in sorted(folder.iterdir())
    }


# -- main -----------------------------------------------------------------------------------


def questions_for(titles: list[str], n_titles: int) -> list[str]:
    """The fixed questions plus ``n_titles`` questions made from stored titles."""
    rng = random.Random(1)
    titled = sorted(t for t in titles if t)
    picked = rng.sample(titled, min(n_titles, len(titled)))
    return QUESTIONS + [f"What happened: {t.rstrip('.?!')}?" for t in picked]


def run_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    settings = Settings()
    workdir = OUT / "speed" / f"{args.corpus}-{args.embedder}-{size}"
    marker = workdir / "ingest.json"
    t = time.perf_counter()
    articles, passages = take(
        args.corpus, size, settings.chunk_chars, settings.chunk_overlap_sentences
    )
    chunk_s = time.perf_counter() - t
    n_passages = sum(len(p) for p in passages)
    log(
        f"size {size}: {len(articles):,} articles, {n_passages:,} passages "
        f"(chunked in {chunk_s:.1f} s)"
    )
    result: dict[str, Any] = {
        "size": size,
        "articles": len(articles),
        "passages": n_passages,
        "chunking_passages_per_s": n_passages / chunk_s,
        "load_before": load_str(),
    }
    if args.reuse:
        if not marker.exists():
            sys.exit(f"--reuse: no earlier run in {workdir}; run without --reuse first")
        earlier = json.loads(marker.read_text())
        why = same_code(earlier.get("provenance"), git_state())
        if why:
            sys.exit(
                f"--reuse refuses the store and ingest figures in {workdir}: {why}. "
                "Run without --reuse to measure them again."
            )
        result["ingest"] = earlier
        result["ingest"]["reused_from_earlier_run"] = True
        log(f"reusing the store and ingest figures in {workdir} (same commit)")
    else:
        methods = ["raw", "newsqa", "plain"]
        if args.embedder == "onnx-int8":
            methods += ["raw-onnx", "newsqa-onnx"]
        n_rounds = args.rounds or max(3, min(20, n_passages // 500))
        slices = rounds(articles, passages, n_rounds)
        fraction = args.baseline_fraction if args.baseline_fraction else 1.0
        result["ingest"] = measure_ingest(slices, methods, workdir, fraction)
        result["ingest"]["baseline_fraction"] = fraction
        result["ingest"]["rounds"] = len(slices)
        # The store and these figures may be reused (--reuse) only at this same commit.
        result["ingest"]["provenance"] = git_state()
        marker.write_text(json.dumps(result["ingest"], default=str))
    result["disk"] = {
        m: {
            "bytes": disk_bytes(workdir / m),
            "per_passage": disk_bytes(workdir / m) / n_passages,
            "parts": disk_parts(workdir / m),
        }
        for m in ("newsqa", "plain")
        if (workdir / m).exists() and not args.reuse
    }
    questions = questions_for([a.title for a in articles], args.titles)
    stores = {"minilm": workdir / "newsqa"}
    if args.embedder == "onnx-int8":
        stores["onnx-int8"] = workdir / "newsqa-onnx"
    result["query"] = {}
    for embedder, store_dir in stores.items():
        # Questions encoded by the store's own model, and by the int8 one (the default).
        for query_embedder in dict.fromkeys([embedder, "onnx-int8"]):
            label = embedder if query_embedder == embedder else f"{embedder}, int8 questions"
            log(f"warm queries ({label}): {len(questions)} questions x {args.repeats} x 2")
            result["query"][label] = measure_queries(
                store_dir, "newsqa", embedder, questions, args.repeats, query_embedder
            )
    if args.cold:
        log(f"cold `newsqa ask` and `articles list` x {args.cold}")
        result["cold"] = measure_cold(
            stores["minilm"], "newsqa", QUESTIONS[0], args.cold, args.before, args.before_store
        )
    result["load_after"] = load_str()
    return result


def headline(r: dict[str, Any]) -> dict[str, float | None]:
    """The figures issue 12 asks about, from one size's results (None where absent)."""

    def get(*keys: str) -> float | None:
        node: Any = r
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return float(node)

    int8 = next((q for label, q in r.get("query", {}).items() if "int8" in label), None)
    return {
        "on disk, KB a passage": (get("disk", "newsqa", "per_passage") or 0) / 1e3 or None,
        "ingest, newsqa / raw encode": get("ingest", "pair_ratios", "newsqa / raw"),
        "warm ask p50 ms (int8 questions)": (
            float(int8["latency"]["no filter"]["total"]["p50_ms"]) if int8 else None
        ),
        "cold ask s": get("cold", "now/ask", "wall_s_median"),
        "cold ask peak RSS MiB": get("cold", "now/ask", "peak_rss_mib_median"),
        "cold articles list s": get("cold", "now/list", "wall_s_median"),
    }


def print_comparison(earlier_path: Path, r: dict[str, Any]) -> None:
    earlier = json.loads(earlier_path.read_text())
    then, now = headline(earlier), headline(r)
    commit = (earlier.get("provenance") or {}).get("commit") or "?"
    rows = [
        [
            name,
            "-" if then[name] is None else f"{then[name]:.2f}",
            "-" if now[name] is None else f"{now[name]:.2f}",
            "-" if not (then[name] and now[name]) else f"{now[name] / then[name]:.2f}x",
        ]
        for name in now
    ]
    print(f"\nBefore ({earlier_path.name}, commit {str(commit)[:7]}) and now")
    print(table(["figure", "before", "now", "now / before"], rows))


def print_query(label: str, q: dict[str, Any]) -> None:
    print(
        f"\nWarm ask ({label}) over {q['passages']:,} passages: {q['asks']} asks, answered "
        f"{q['answered_share']:.0%}; ms p50 / p95"
    )
    rows = [
        [name] + [f"{stages[s]['p50_ms']:.1f} / {stages[s]['p95_ms']:.1f}" for s in STAGES]
        for name, stages in q["latency"].items()
    ]
    print(table(["filter", *STAGES], rows))
    print(
        f"answer stage: scores {q['answer_candidates_median']:.0f} candidate sentences "
        f"(median) with vectors stored at ingest ("
        f"{q.get('answer_candidates_without_vector', 'n/a')} lacked one); embedding them "
        f"instead would take {q['answer_encode_ms_p50']:.1f} ms p50; warm RSS "
        f"{q['warm_rss_mib']:.0f} MiB (peak {q['warm_peak_rss_mib']:.0f})"
    )
    print(
        f"BM25: persisted index found {q['bm25_persisted']}, load "
        f"{1000 * q['bm25_load_s']:.0f} ms, full rebuild {1000 * q['bm25_rebuild_s']:.0f} ms, "
        f"incremental update {1000 * q.get('bm25_update_s', float('nan')):.0f} ms; "
        f"first ask in a fresh process {q['first_ask_s']:.2f} s (model load included)"
    )


def print_cold(c: dict[str, Any]) -> None:
    rows = []
    for key in ("now/ask", "now/list", "before/ask", "before/list"):
        if key in c:
            f = c[key]
            total = f.get("in_process_total_s_median")
            rows.append(
                [
                    key,
                    f"{f['wall_s_median']:.2f}",
                    ", ".join(f"{w:.2f}" for w in f["wall_s"]),
                    "-" if total is None else f"{total:.2f}",
                    f"{f['peak_rss_mib_median']:.0f}",
                ]
            )
    print("\nCold start (`python -m newsqa ...` in a fresh process; interleaved)")
    print(
        table(["code/command", "wall s (median)", "runs", "ask in-process s", "peak RSS MiB"], rows)
    )
    print(
        f"import newsqa.cli {c.get('import_s', float('nan')):.2f} s; + int8 model and one "
        f"encode {c.get('import_and_int8_model_s', float('nan')):.2f} s; + torch model and "
        f"one encode {c.get('import_and_torch_model_s', float('nan')):.2f} s; heavy modules "
        f"loaded by an ask: {c.get('heavy_modules_after_ask', 'n/a')}"
    )


def print_size(r: dict[str, Any]) -> None:
    print(
        f"\n## {r['passages']:,} passages ({r['articles']:,} articles); load avg 1/5/15 min "
        f"before {r['load_before']}, after {r['load_after']}"
    )
    ing = r["ingest"]
    rows = [
        [
            m,
            f["passages"],
            f["rate"],
            f["rate_median_round"],
            f"{f['ratio_vs_raw_median_round']:.2f}x {f['ratio_vs']}",
            f["peak_rss_mib"],
        ]
        for m, f in ing["methods"].items()
    ]
    print(
        f"\nIngest ({ing['rounds']} interleaved rounds; baselines on "
        f"{ing['baseline_fraction']:.0%} of each round; chunking alone "
        f"{r['chunking_passages_per_s']:.0f} passages/s)"
        + (" [figures from an earlier run]" if ing.get("reused_from_earlier_run") else "")
    )
    headers = ["method", "passages", "passages/s", "median round /s", "vs raw (median round)"]
    print(table([*headers, "peak RSS MiB"], rows))
    pairs = ing.get("pair_ratios", {})
    if pairs:
        print("Median of per-round ratios: " + "; ".join(f"{k} {v:.2f}x" for k, v in pairs.items()))
    for m, f in ing["methods"].items():
        if "breakdown_s" in f:
            b = f["breakdown_s"]
            other = f["seconds"] - b["embed"]
            print(
                f"{m} wall time: embedding {b['embed'] / f['seconds']:.0%} ({b['embed_texts']:,} "
                f"passages, with their sentences), the rest {other / f['seconds']:.0%} "
                f"(waiting for the worker thread, planning); the worker thread chunked for "
                f"{b['chunk'] / f['seconds']:.0%} of the wall time and wrote to the store, "
                f"both overlapping the embedding; embedding alone ran at "
                f"{f['passages'] / b['embed']:.1f} passages/s"
            )
    for embedder, q in r["query"].items():
        print_query(embedder, q)
    for method, d in r.get("disk", {}).items():
        per = d["per_passage"] / 1e3
        parts = ", ".join(
            f"{name} {size / r['passages'] / 1e3:.2f}" for name, size in d.get("parts", {}).items()
        )
        print(f"on disk, {method}: {d['bytes'] / 1e6:.1f} MB, {per:.2f} KB a passage ({parts})")
    if "cold" in r:
        print_cold(r["cold"])


def run_store(args: argparse.Namespace) -> dict[str, Any]:
    """Query figures only, over a library built earlier (e.g. the SciFact store)."""
    from newsqa.store import Store

    store = Store(Settings(data_dir=args.store, collection=args.collection))
    titles = [a.title for a in store.list_articles()]
    del store
    questions = questions_for(titles, args.titles)
    result: dict[str, Any] = {"store": str(args.store), "load_before": load_str()}
    log(f"warm queries over {args.store}: {len(questions)} questions x {args.repeats} x 2")
    result["query"] = {
        args.embedder: measure_queries(
            args.store, args.collection, args.embedder, questions, args.repeats
        )
    }
    if args.cold:
        result["cold"] = measure_cold(
            args.store, args.collection, QUESTIONS[0], args.cold, args.before, args.before_store
        )
    result["load_after"] = load_str()
    print(
        f"\n## library {args.store}; load before {result['load_before']}, "
        f"after {result['load_after']}"
    )
    print_query(args.embedder, result["query"][args.embedder])
    if "cold" in result:
        print_cold(result["cold"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one small size, few repeats")
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=None,
        help="corpus sizes in passages, comma-separated (default 1000,10000)",
    )
    parser.add_argument("--corpus", choices=["news", "seed"], default="news")
    parser.add_argument(
        "--embedder",
        choices=["minilm", "onnx-int8"],
        default="minilm",
        help="onnx-int8 adds raw-onnx and newsqa-onnx rows (and a query run on that store)",
    )
    parser.add_argument(
        "--baseline-fraction",
        type=float,
        default=None,
        help="run raw/plain on this share of each round (default 1.0)",
    )
    parser.add_argument("--rounds", type=int, default=0, help="ingest rounds (default ~500 each)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the questions")
    parser.add_argument("--titles", type=int, default=10, help="questions made from titles")
    parser.add_argument("--cold", type=int, default=3, help="cold `newsqa ask` runs")
    parser.add_argument(
        "--before",
        type=Path,
        help="a checkout of older newsqa code: cold starts run on it too, interleaved",
    )
    parser.add_argument(
        "--before-store",
        type=Path,
        help="the library the --before code's cold starts run on (default: the new one)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="an earlier results JSON of the same size: its headline figures beside these",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the store and ingest figures of an earlier run at this same commit",
    )
    parser.add_argument("--store", type=Path, help="query figures only, over this data dir")
    parser.add_argument("--collection", default="newsqa", help="collection of --store")
    args = parser.parse_args()
    if args.quick:
        args.sizes = args.sizes or [300]
        args.repeats, args.titles, args.cold = 1, 5, 1
        args.rounds = args.rounds or 3
    sizes = args.sizes or ([1] if args.corpus == "seed" else [1000, 10000])

    info = machine()
    print(
        f"# newsqa speed ({info['when']}): {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB, torch {info['torch']} ({info['torch_threads']} threads); "
        f"embedder {args.embedder}"
    )
    if args.store:
        result = run_store(args)
        result["machine"] = info
        log(f"wrote {save_json(f'speed-store-{args.store.name}-{args.embedder}.json', result)}")
        return
    for size in sizes:
        result = run_size(args, size)
        result["machine"] = info
        result["embedder"] = args.embedder
        print_size(result)
        if args.compare:
            print_comparison(args.compare, result)
        path = save_json(f"speed-{args.corpus}-{args.embedder}-{size}.json", result)
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
