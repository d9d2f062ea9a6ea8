"""The benchmark scripts' code paths on the seed article: they produce real figures.

Timings are not asserted (the machine is shared); only that every figure the
tables print exists and is sane. The full runs are ``benchmarks/speed.py`` and
``benchmarks/retrieval.py`` (see benchmarks/README.md).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402
import retrieval  # noqa: E402
import speed  # noqa: E402


def test_metrics_on_a_known_ranking() -> None:
    relevant = {"a": 1, "b": 1}
    got = retrieval.metrics(["x", "a", "y", "b"], relevant)
    ideal = 1 + 1 / math.log2(3)
    assert got["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert got["recall@10"] == 1.0
    assert got["mrr@10"] == 0.5
    assert retrieval.metrics(["x"], relevant) == {"ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0}


def test_doc_ranking_keeps_each_document_at_its_best_passage() -> None:
    assert retrieval.doc_ranking(["d1:00002", "d2:00000", "d1:00000", "d3:00001"]) == [
        "d1",
        "d2",
        "d3",
    ]


def test_fusion_variants_agree_with_rrf() -> None:
    dense = ["a:0", "b:0", "c:0"]
    sparse = ["b:0", "d:0", "a:0"]
    # b is 2nd and 1st, a is 1st and 3rd: b wins, then a.
    assert retrieval.fuse_passages(dense, sparse, 40, 60)[:2] == ["b", "a"]
    assert retrieval.fuse_docs(dense, sparse, 40, 60)[:2] == ["b", "a"]
    assert retrieval.fuse_weighted(dense, sparse, 40, 60, 0.5) == retrieval.fuse_passages(
        dense, sparse, 40, 60
    )


def test_rounds_cover_every_passage_once() -> None:
    articles, passages = speed.take("seed", 10_000, 600, 1)
    assert len(articles) == 1 and len(passages[0]) > 1
    slices = speed.rounds(articles, passages, 2)
    assert sum(len(s.passages) for s in slices) == len(passages[0])
    assert all(len(s.passages) == len(s.passage_articles) for s in slices)


def test_saved_results_record_their_provenance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "OUT", tmp_path)
    saved = json.loads(common.save_json("x.json", {"figure": 1.5}).read_text())
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=common.ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert saved["figure"] == 1.5
    provenance = saved["provenance"]
    assert provenance["commit"] == head and isinstance(provenance["dirty"], bool)
    assert len(provenance["load_at_save"]) == 3 and provenance["machine"]["cores"] > 0
    assert "pytest" in provenance["command"] or "py.test" in provenance["command"]


def test_a_tree_dirty_at_the_start_of_a_run_makes_its_result_dirty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Edited while the benchmark ran, then restored: the figures are not the commit's.
    monkeypatch.setattr(common, "OUT", tmp_path)
    at_start = {**common.git_state(), "dirty": True, "changed": ["src/newsqa/qa.py"]}
    monkeypatch.setattr(common, "_AT_START", at_start)
    provenance = json.loads(common.save_json("x.json", {}).read_text())["provenance"]
    assert provenance["dirty"] is True and "src/newsqa/qa.py" in provenance["changed"]
    monkeypatch.setattr(common, "_AT_START", {**at_start, "commit": "f" * 40})
    provenance = json.loads(common.save_json("x.json", {}).read_text())["provenance"]
    assert provenance["dirty"] is True and "f" * 40 in provenance["changed"][0]


def test_reuse_only_at_the_same_commit_on_clean_trees() -> None:
    clean = {"commit": "a" * 40, "dirty": False, "changed": []}
    assert common.same_code(clean, dict(clean)) is None
    assert "commit aaaa" in str(common.same_code(clean, {**clean, "commit": "b" * 40}))
    dirty = {**clean, "dirty": True, "changed": ["src/newsqa/qa.py"]}
    assert "src/newsqa/qa.py" in str(common.same_code(dirty, clean))
    assert "src/newsqa/qa.py" in str(common.same_code(clean, dirty))
    assert common.same_code(None, clean) == "they record no commit"


@pytest.mark.slow
def test_speed_paths_on_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmark's workers are spawned, and a spawned child re-imports __main__:
    # after the AppTest tests that is ui/app.py. A bare __main__ keeps them clean.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    articles, passages = speed.take("seed", 10_000, 600, 1)
    n = len(passages[0])
    slices = speed.rounds(articles, passages, 1)
    ingest = speed.measure_ingest(slices, ["raw", "newsqa", "plain"], tmp_path, 1.0)
    for method in ("raw", "newsqa", "plain"):
        figures = ingest["methods"][method]
        assert figures["passages"] == n
        assert figures["rate"] > 0 and figures["peak_rss_mib"] > 100
        assert figures["ratio_vs_raw_median_round"] > 0
    assert ingest["methods"]["newsqa"]["stored"] == n
    assert ingest["methods"]["plain"]["stored"] == n
    parts = speed.disk_parts(tmp_path / "newsqa")
    assert parts["chroma"] > 0 and parts["sentences"] > 0  # the sentence-vector sidecar
    assert sum(parts.values()) == speed.disk_bytes(tmp_path / "newsqa")

    questions = ["What did Peskov say?", "How long was the recording?"]
    query = speed.measure_queries(tmp_path / "newsqa", "newsqa", "minilm", questions, 1)
    assert query["passages"] == n
    assert query["bm25_persisted"] is True
    assert query["asks"] == 4
    for stage in speed.STAGES:
        assert query["latency"]["no filter"][stage]["p50_ms"] >= 0
    assert query["answer_candidates_median"] > 0
    assert query["answered_share"] > 0

    cold = speed.measure_cold(tmp_path / "newsqa", "newsqa", questions[0], 1)
    assert cold["wall_s_median"] > 0 and cold["peak_rss_mib_median"] > 100
