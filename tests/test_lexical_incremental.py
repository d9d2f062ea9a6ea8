"""The BM25 index is brought up to date incrementally and matches a full rebuild."""

from __future__ import annotations

import math
import shutil

import pytest

from newsqa import NewsQA
from newsqa.lexical import LexicalIndex

from .conftest import SEEDS

pytestmark = pytest.mark.slow

OTHER = (
    b"title: Harbour fire\ndate: 2024-04-02\n\n"
    b"A fire broke out in the harbour warehouse on Tuesday night. Firefighters said the "
    b"blaze was under control by dawn. Nobody was hurt, the port authority said.\n"
)
QUERIES = ["Peskov said", "harbour fire firefighters", "recording Taurus missiles", "port"]


def results(index: LexicalIndex) -> list[list[tuple[str, float]]]:
    return [index.search(q, 10) for q in QUERIES]


def full_rebuild(qa: NewsQA, tmp_name: str) -> LexicalIndex:
    cache = qa.settings.data_dir / tmp_name
    shutil.rmtree(cache, ignore_errors=True)
    return LexicalIndex(qa.store, cache)


def test_updates_match_a_full_rebuild(qa: NewsQA) -> None:
    assert qa.ingest([SEEDS]).ok
    first = results(qa.lexical)
    assert first[0] and not first[1]  # no harbour yet
    cache = qa.lexical.cache_dir
    assert cache is not None and (cache / "newsqa_tokens.npz").exists()

    # A second article: the next query updates the index from the saved tokens.
    report = qa.ingest_files([("harbour.md", OTHER)])
    assert report.ok and report.count("added") == 1
    fresh = LexicalIndex(qa.store, cache)  # a new process finds the old generation on disk
    assert fresh._load(qa.store.generation()) is None
    calls: list[int] = []
    fetch = fresh._fetch
    fresh._fetch = lambda ids: calls.append(len(ids)) or fetch(ids)  # type: ignore[method-assign]
    updated = results(fresh)
    assert calls == [1]  # only the new article's passage was read and tokenized
    assert updated[1] and updated[1][0][0].startswith(report.results[0].article_id)
    assert updated == results(full_rebuild(qa, "bm25-full"))

    # Removing the seed: its passages drop out, the rest is unchanged.
    seed_id = first[0][0][0].split(":")[0]
    assert qa.remove(seed_id)
    after = results(fresh)
    assert all(not pid.startswith(seed_id) for hits in after for pid, _ in hits)
    assert after == results(full_rebuild(qa, "bm25-full-2"))


def test_idf_is_the_global_bm25_idf(qa: NewsQA) -> None:
    assert qa.lexical.idf(["Peskov"]) == [0.0]  # an empty library
    assert qa.ingest([SEEDS]).ok
    assert qa.ingest_files([("harbour.md", OTHER)]).ok
    n = qa.store.count_passages()
    rare, common, stop, absent = qa.lexical.idf(["Firefighters", "said", "the", "zyxwvut"])
    # "firefighters" (stemmed like the index) is in one passage; "said" in several.
    assert rare == pytest.approx(math.log(1 + (n - 1 + 0.5) / 1.5))
    assert 0 < common < rare < absent
    assert stop == 0.0
