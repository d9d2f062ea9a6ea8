"""Retrieval quality on SciFact: BM25 alone, MiniLM alone, and newsqa's hybrid fusion.

What it measures
    nDCG@10, Recall@10 and MRR@10 over the 809 SciFact *train* queries
    (``../shared/data/beir_scifact``: 5,183 abstracts, ``qrels/train.tsv``) for
    - ``bm25``:   newsqa's lexical side alone (``LexicalIndex``: bm25s, title + passage),
    - ``dense``:  MiniLM alone (the store's Chroma vectors),
    - ``hybrid``: ``HybridSearch.search`` exactly as ``ask`` calls it (RRF of both).
    The corpus goes through newsqa's real ingest (chunking into passages, store,
    BM25 index); an abstract is an article, and a document's rank is the rank of
    its best passage. The baseline in the same run is BM25 alone (issue 2: the
    fusion must beat both single retrievers).

    ``--sweep`` also scores fusion variants (candidate counts, rrf_k, fusing per
    document instead of per passage) from the same retrieved lists, which is how
    the defaults in ``newsqa.retrieval`` were checked. ``--compare-onnx DOCS``
    scores the optional int8 ONNX embedder against the stored fp32 vectors on the
    same passages of a DOCS-document sub-corpus (the 1-point quality bar).

How to run
    .venv/bin/python benchmarks/retrieval.py            # all 809 queries
    .venv/bin/python benchmarks/retrieval.py --quick    # 150 queries
    .venv/bin/python benchmarks/retrieval.py --sweep    # plus fusion variants
    .venv/bin/python benchmarks/retrieval.py --build-minutes 0 --compare-onnx 1000
    .venv/bin/python benchmarks/retrieval.py --docs 1000 --compare-onnx 1000  # ~4k passages
    .venv/bin/python benchmarks/retrieval.py --embedder onnx-int8   # a whole int8 store

The built store is cached in ``benchmarks/out/scifact-<embedder>/`` (git-ignored):
the first run embeds about 20,000 passages (~15 min on 2 idle cores, ~90 min on
busy ones), later runs reuse it. An interrupted build resumes where it stopped
(ingest is idempotent) and adds the relevant documents first, so a partial store
can be evaluated: it says PARTIAL CORPUS (fewer distractors: an easier task).
Results also go to ``benchmarks/out/retrieval-<embedder>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from common import OUT, SHARED_DATA, load_str, log, machine, median, need, save_json, table

from newsqa.embeddings import get_embeddings
from newsqa.ingest import ingest_parsed
from newsqa.lexical import LexicalIndex
from newsqa.models import Article
from newsqa.retrieval import HybridSearch, rrf
from newsqa.settings import Settings
from newsqa.store import Store

SCIFACT = SHARED_DATA / "beir_scifact"
K = 10  # metrics @10
BUILD_STEP = 100  # documents per ingest call while building
DEPTH = 100  # passages taken from each single retriever (enough for 10 distinct documents)


# -- data -----------------------------------------------------------------------------------


def corpus() -> Iterator[dict[str, str]]:
    with need(SCIFACT / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def queries_and_qrels() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    queries = {}
    with need(SCIFACT / "queries.jsonl").open(encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with need(SCIFACT / "qrels" / "train.tsv").open(encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            qid, doc, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels[qid][doc] = int(score)
    return {q: queries[q] for q in qrels}, dict(qrels)


def as_article(doc: dict[str, str]) -> Article:
    # The document id is the article id, so passage ids are "<doc id>:<index>".
    text = (doc.get("text") or "").strip() or doc["title"]
    return Article(
        text=text, title=doc["title"], date=None, source=f"scifact:{doc['_id']}", id=doc["_id"]
    )


# -- the library under test ---------------------------------------------------------------


@dataclass
class Library:
    settings: Settings
    store: Store
    lexical: LexicalIndex
    search: HybridSearch


def build_order() -> list[dict[str, str]]:
    """Every relevant document of the train queries first, then the rest in corpus order.

    So a store that is only partly built (the build is long and resumable) still
    holds every relevant document, and evaluating on it is a fair, if easier,
    retrieval task with fewer distractors.
    """
    _, qrels = queries_and_qrels()
    relevant = {d for rel in qrels.values() for d in rel}
    docs = list(corpus())
    return [d for d in docs if d["_id"] in relevant] + [d for d in docs if d["_id"] not in relevant]


def open_library(embedder: str, build_minutes: float = 0.0, docs: int = 0) -> Library:
    """newsqa's store, BM25 index and hybrid search over SciFact, built once and cached.

    ``build_minutes`` > 0 adds missing documents (in :func:`build_order`) for about
    that long through newsqa's real ingest; 0 uses the store as it is. ``docs`` > 0:
    a store of the first ``docs`` documents of that order only (every relevant one,
    then distractors), in its own folder.
    """
    data_dir = OUT / (f"scifact-{embedder}" + (f"-{docs}docs" if docs else ""))
    settings = Settings(data_dir=data_dir, collection="scifact")
    embeddings = get_embeddings(embedder, settings.batch_size)
    store = Store(settings)
    if build_minutes > 0:
        t = time.perf_counter()
        have = {a.id for a in store.list_articles()}
        order = build_order()[:docs] if docs else build_order()
        todo = [d for d in order if d["_id"] not in have]
        log(f"store {data_dir}: {len(have):,} documents, {len(todo):,} to add")
        for i in range(0, len(todo), BUILD_STEP):
            if time.perf_counter() - t > 60 * build_minutes:
                log("build time is up; run again to continue (ingest is resumable)")
                break
            step = todo[i : i + BUILD_STEP]
            report = ingest_parsed(
                store,
                embeddings,
                ((f"scifact:{d['_id']}", [as_article(d)]) for d in step),
                settings,
            )
            if not report.ok:
                raise SystemExit(f"ingest failed: {report.failed[:3]}")
            log(f"{len(have) + i + len(step):,} documents, {store.count_passages():,} passages")
    lexical = LexicalIndex(store, data_dir / "bm25" / settings.collection)
    search = HybridSearch(
        store, lexical, embeddings, candidates=settings.candidates, rrf_k=settings.rrf_k
    )
    return Library(settings, store, lexical, search)


# -- metrics --------------------------------------------------------------------------------


def doc_ranking(passage_ids: Sequence[str]) -> list[str]:
    """Documents in the order of their best passage."""
    seen: dict[str, None] = {}
    for pid in passage_ids:
        seen.setdefault(pid.rsplit(":", 1)[0], None)
    return list(seen)


def metrics(ranking: Sequence[str], relevant: dict[str, int], k: int = K) -> dict[str, float]:
    top = list(ranking[:k])
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(top))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    hits = [i for i, d in enumerate(top) if d in relevant]
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": len(set(top) & set(relevant)) / len(relevant),
        "mrr@10": 1.0 / (hits[0] + 1) if hits else 0.0,
    }


def mean_metrics(per_query: list[dict[str, float]]) -> dict[str, float]:
    return {m: sum(q[m] for q in per_query) / len(per_query) for m in per_query[0]}


# -- fusion variants (for --sweep) ----------------------------------------------------------


def fuse_passages(dense: list[str], sparse: list[str], cands: int, k: int) -> list[str]:
    """What HybridSearch does: RRF over the top ``cands`` passages of each side."""
    fused = rrf([dense[:cands], sparse[:cands]], k)
    return doc_ranking(sorted(fused, key=lambda p: -fused[p]))


def fuse_docs(dense: list[str], sparse: list[str], cands: int, k: int) -> list[str]:
    """RRF over each side's *document* ranking (best passage per document)."""
    fused = rrf([doc_ranking(dense[:cands]), doc_ranking(sparse[:cands])], k)
    return sorted(fused, key=lambda d: -fused[d])


def fuse_weighted(dense: list[str], sparse: list[str], cands: int, k: int, w: float) -> list[str]:
    """Passage RRF with the BM25 side weighted ``w`` and the dense side ``1 - w`` (x2)."""
    scores: dict[str, float] = defaultdict(float)
    for weight, ranking in ((2 * (1 - w), dense[:cands]), (2 * w, sparse[:cands])):
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] += weight / (k + rank)
    return doc_ranking(sorted(scores, key=lambda p: -scores[p]))


# -- run ------------------------------------------------------------------------------------


def evaluate(
    lib: Library, queries: dict[str, str], qrels: dict[str, dict[str, int]], sweep: bool
) -> dict[str, Any]:
    per: dict[str, list[dict[str, float]]] = defaultdict(list)
    lists: dict[str, tuple[list[str], list[str]]] = {}
    latency: dict[str, list[float]] = defaultdict(list)
    # Embed every query once, in batches; HybridSearch then gets the same vectors from
    # this cache (retrieval quality, not query-encoding speed, is measured here).
    log(f"embedding {len(queries)} queries")
    embeddings = lib.search.embeddings
    vectors = dict(zip(queries.values(), embeddings.encode(list(queries.values())), strict=True))
    plain_query_vector = embeddings.query_vector
    embeddings.query_vector = lambda q: (  # type: ignore[method-assign,assignment]
        vectors[q] if q in vectors else plain_query_vector(q)
    )
    log(f"retrieving for {len(queries)} queries")
    for i, (qid, text) in enumerate(queries.items(), 1):
        rel = qrels[qid]
        t = time.perf_counter()
        dense = [sp.passage.id for sp, _ in lib.store.dense_search(vectors[text], DEPTH)]
        t1 = time.perf_counter()
        sparse = [pid for pid, _ in lib.lexical.search(text, DEPTH)]
        t2 = time.perf_counter()
        # The product path: everything HybridSearch fuses (2 x candidates passages at most).
        hybrid = lib.search.search(text, 2 * lib.search.candidates)
        t3 = time.perf_counter()
        latency["dense"].append(t1 - t)
        latency["bm25"].append(t2 - t1)
        latency["hybrid"].append(t3 - t2)
        per["bm25"].append(metrics(doc_ranking(sparse), rel))
        per["dense"].append(metrics(doc_ranking(dense), rel))
        per["hybrid"].append(metrics(doc_ranking([h.passage.id for h in hybrid.hits]), rel))
        lists[qid] = (dense, sparse)
        if i % 100 == 0:
            log(f"{i}/{len(queries)}")
    results: dict[str, Any] = {name: mean_metrics(rows) for name, rows in per.items()}
    results["latency_ms_p50"] = {n: 1000 * median(v) for n, v in latency.items()}
    if sweep:
        results["sweep"] = run_sweep(lists, qrels)
    return results


def run_sweep(
    lists: dict[str, tuple[list[str], list[str]]], qrels: dict[str, dict[str, int]]
) -> dict[str, dict[str, float]]:
    variants: dict[str, Any] = {}
    for cands in (20, 40, 100):
        for k in (5, 10, 30, 60):
            variants[f"passage-rrf c={cands} k={k}"] = lambda d, s, c=cands, kk=k: fuse_passages(
                d, s, c, kk
            )
            variants[f"doc-rrf c={cands} k={k}"] = lambda d, s, c=cands, kk=k: fuse_docs(
                d, s, c, kk
            )
    for w in (0.3, 0.4, 0.6, 0.7):
        variants[f"weighted bm25={w} c=40 k=60"] = lambda d, s, ww=w: fuse_weighted(
            d, s, 40, 60, ww
        )
    out = {}
    for name, fuse in variants.items():
        out[name] = mean_metrics([metrics(fuse(*lists[q]), qrels[q]) for q in lists])
    return out


# -- int8 ONNX vs fp32, same passages (--compare-onnx) -------------------------------------


def compare_onnx(
    lib: Library, queries: dict[str, str], qrels: dict[str, dict[str, int]], n_docs: int
) -> dict[str, Any]:
    """Dense and hybrid quality with int8 ONNX vectors vs the stored fp32 ones.

    On a fixed sub-corpus (every relevant document, then distractors in corpus
    order, ``n_docs`` in all) taken from the fp32 store: the fp32 vectors are read
    back from Chroma, the same passages are embedded with the int8 model (cached
    in ``benchmarks/out``), both are searched exactly (brute force), and both are
    fused with the same BM25 lists the way ``HybridSearch`` does. Only the vectors
    differ, so the difference is the int8 model's.
    """
    import numpy as np

    from newsqa.embeddings import get_embeddings

    subset = {d["_id"] for d in build_order()[:n_docs]}
    stored = [sp for sp in lib.store.iter_passages() if sp.passage.article_id in subset]
    have = {sp.passage.article_id for sp in stored}
    if have != subset:
        raise SystemExit(f"the fp32 store lacks {len(subset - have)} of the {n_docs} documents")
    ids = [sp.passage.id for sp in stored]
    texts = [sp.passage.text for sp in stored]
    fp32 = lib.store.passage_vectors(ids)
    cache = OUT / f"scifact-onnx-int8-vectors-{n_docs}.npz"
    onnx = get_embeddings("onnx-int8")
    if cache.exists() and list(np.load(cache)["ids"]) == ids:
        int8 = np.load(cache)["vectors"]
    else:
        log(f"embedding {len(texts):,} passages with the int8 model")
        t = time.perf_counter()
        int8 = onnx.encode(texts)
        log(f"done in {time.perf_counter() - t:.0f} s")
        np.savez(cache, ids=np.asarray(ids), vectors=int8)
    queries = {q: t for q, t in queries.items() if set(qrels[q]) <= subset}
    qtexts = list(queries.values())
    q_fp32 = lib.search.embeddings.encode(qtexts)
    q_int8 = onnx.encode(qtexts)
    cos = (fp32 * int8).sum(axis=1)
    per: dict[str, list[dict[str, float]]] = defaultdict(list)
    cands = lib.search.candidates
    for i, qid in enumerate(queries):
        rel = qrels[qid]
        sparse = [
            pid for pid, _ in lib.lexical.search(qtexts[i], DEPTH, article_ids=sorted(subset))
        ]
        per["bm25"].append(metrics(doc_ranking(sparse), rel))
        for name, passages, query in (("fp32", fp32, q_fp32[i]), ("int8", int8, q_int8[i])):
            order = np.argsort(-(passages @ query))[:DEPTH]
            dense = [ids[j] for j in order]
            per[f"dense {name}"].append(metrics(doc_ranking(dense), rel))
            fused = fuse_passages(dense, sparse, cands, lib.search.rrf_k)
            per[f"hybrid {name}"].append(metrics(fused, rel))
    return {
        "docs": n_docs,
        "passages": len(ids),
        "queries": len(queries),
        "passage_cosine_fp32_int8": {"min": float(cos.min()), "median": float(np.median(cos))},
        "query_cosine_fp32_int8_median": float(np.median((q_fp32 * q_int8).sum(axis=1))),
        "metrics": {name: mean_metrics(rows) for name, rows in per.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="150 queries (a fixed sample)")
    parser.add_argument("--sweep", action="store_true", help="also score fusion variants")
    parser.add_argument("--embedder", default="minilm", help="minilm (default) or onnx-int8")
    parser.add_argument(
        "--build-minutes",
        type=float,
        default=1e9,
        help="add missing documents for at most this long first (0: evaluate the store as is)",
    )
    parser.add_argument("--build-only", action="store_true", help="build, do not evaluate")
    parser.add_argument(
        "--docs",
        type=int,
        default=0,
        help="a sub-corpus: every relevant document, then distractors, DOCS in all (own store)",
    )
    parser.add_argument(
        "--compare-onnx",
        type=int,
        metavar="DOCS",
        default=0,
        help="compare int8 ONNX with the stored fp32 vectors on a sub-corpus of DOCS documents",
    )
    args = parser.parse_args()

    info = machine()
    lib = open_library(args.embedder, args.build_minutes, args.docs)
    if args.build_only:
        return
    queries, qrels = queries_and_qrels()
    docs_in_store = {a.id for a in lib.store.list_articles()}
    total_docs = args.docs or sum(1 for _ in corpus())
    partial = len(docs_in_store) < total_docs
    # A partly built store holds the relevant documents first: keep the queries it can answer.
    queries = {q: t for q, t in queries.items() if set(qrels[q]) <= docs_in_store}
    if args.compare_onnx:
        comparison = compare_onnx(lib, queries, qrels, args.compare_onnx)
        comparison.update(machine=info, load_after=load_str())
        m = comparison["metrics"]
        print(
            f"int8 ONNX vs fp32 MiniLM on SciFact train: {comparison['queries']} queries, "
            f"{comparison['docs']:,} documents ({comparison['passages']:,} passages: every "
            "relevant one, then distractors); exact search; same BM25 lists"
        )
        cos = comparison["passage_cosine_fp32_int8"]
        print(
            f"cosine(fp32, int8): passages median {cos['median']:.4f} min {cos['min']:.4f}; "
            "queries median "
            f"{comparison['query_cosine_fp32_int8_median']:.4f}"
        )
        base = m["dense fp32"]["ndcg@10"]
        print(
            table(
                ["retriever", "nDCG@10", "Recall@10", "MRR@10", "nDCG vs dense fp32"],
                [
                    [n, v["ndcg@10"], v["recall@10"], v["mrr@10"], f"{v['ndcg@10'] - base:+.3f}"]
                    for n, v in m.items()
                ],
            )
        )
        log(f"wrote {save_json(f'retrieval-onnx-vs-fp32-{args.compare_onnx}.json', comparison)}")
        return
    if args.quick:
        keep = sorted(random.Random(0).sample(sorted(queries), 150))
        queries = {q: queries[q] for q in keep}
    load_before = load_str()
    results = evaluate(lib, queries, qrels, args.sweep)
    results.update(
        machine=info,
        load_before=load_before,
        load_after=load_str(),
        queries=len(queries),
        passages=lib.store.count_passages(),
        candidates=lib.search.candidates,
        rrf_k=lib.search.rrf_k,
        embedder=args.embedder,
        docs=len(docs_in_store),
        sub_corpus=args.docs or None,
        partial=partial,
    )
    base = results["bm25"]["ndcg@10"]
    rows = [
        [
            name,
            results[name]["ndcg@10"],
            results[name]["recall@10"],
            results[name]["mrr@10"],
            f"{results[name]['ndcg@10'] - base:+.3f}",
        ]
        for name in ("bm25", "dense", "hybrid")
    ]
    if partial or args.docs:
        print(
            f"{'PARTIAL ' if partial else ''}SUB-CORPUS: {len(docs_in_store):,} of "
            f"{sum(1 for _ in corpus()):,} documents (every relevant one plus the first "
            "distractors); an easier task than the full benchmark"
        )
    print(
        f"SciFact train, {len(queries)} queries, {len(docs_in_store):,} documents, "
        f"{results['passages']:,} passages "
        f"(embedder {args.embedder}, candidates {lib.search.candidates}, rrf_k {lib.search.rrf_k})"
    )
    print(f"load avg 1/5/15 min: before {load_before}, after {results['load_after']}")
    print(table(["retriever", "nDCG@10", "Recall@10", "MRR@10", "nDCG vs bm25"], rows))
    if args.sweep:
        print()
        sweep_rows = sorted(
            ([n, m["ndcg@10"], m["recall@10"], m["mrr@10"]] for n, m in results["sweep"].items()),
            key=lambda r: -r[1],
        )
        print(table(["fusion variant", "nDCG@10", "Recall@10", "MRR@10"], sweep_rows))
    name = f"retrieval-{args.embedder}{f'-{args.docs}docs' if args.docs else ''}"
    path = save_json(f"{name}{'-quick' if args.quick else ''}.json", results)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
