"""A filtered dense search (ids first, filtered in memory) equals Chroma's own filter."""

from __future__ import annotations

import pytest

from newsqa import NewsQA, Settings
from newsqa.retrieval import Filters, HybridSearch

from .conftest import SEEDS

pytestmark = pytest.mark.slow

HARBOUR = (
    b"---\ntitle: Harbour fire\ndate: 2024-04-02\n---\n"
    b"A fire broke out in the harbour warehouse on Tuesday night. Firefighters said the "
    b"blaze was under control by dawn. Nobody was hurt, the port authority said.\n"
)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> NewsQA:
    """The seed (2024-03-05) and a one-passage article dated 2024-04-02."""
    qa = NewsQA(Settings(data_dir=tmp_path_factory.mktemp("filters")))
    assert qa.ingest([SEEDS]).ok
    assert qa.ingest_files([("harbour.md", HARBOUR)]).ok
    assert sorted(a.date or "" for a in qa.articles()) == ["2024-03-05", "2024-04-02"]
    return qa


# 2 and 40 candidates over 10 passages: both the in-memory path and Chroma's filter.
@pytest.mark.parametrize("candidates", [2, 40])
@pytest.mark.parametrize(
    "filters",
    [
        Filters(date_from="2024-03-01"),
        Filters(date_to="2024-03-31"),
        Filters(date_from="2024-04-01", date_to="2024-04-30"),
        Filters(date_from="2030-01-01"),
    ],
)
def test_same_passages_as_chromas_filter(
    library: NewsQA, candidates: int, filters: Filters
) -> None:
    qa = library
    search = HybridSearch(qa.store, qa.lexical, qa.embeddings, candidates=candidates)
    for question in ("What did Peskov say?", "Was anybody hurt in the fire?"):
        vector = qa.embeddings.query_vector(question)
        expected = qa.store.dense_search(vector, candidates, filters)
        got = search._dense(vector, filters)
        assert [sp.passage.id for sp, _ in got] == [sp.passage.id for sp, _ in expected]
        for (_, a), (_, b) in zip(got, expected, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_share_decides_how_many_neighbours_to_fetch(
    library: NewsQA, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa = library
    total = qa.store.count_passages()
    assert qa.lexical.share_allowed() == 1.0
    assert qa.lexical.share_allowed(date_from=20240401) == pytest.approx(1 / total)
    assert qa.lexical.share_allowed(date_from=20300101) == 0.0

    # A broad filter is answered from unfiltered neighbours, without Chroma's filter.
    calls: list[object] = []
    original = qa.store.dense_search
    monkeypatch.setattr(qa.store, "dense_search", lambda *a: calls.append(a[2:]) or original(*a))
    search = HybridSearch(qa.store, qa.lexical, qa.embeddings, candidates=2)
    vector = qa.embeddings.query_vector("What did Peskov say?")
    got = search._dense(vector, Filters(date_to="2024-03-31"))
    assert len(got) == 2 and all(sp.date == "2024-03-05" for sp, _ in got)
    assert calls == []
    # Nothing passes: straight to Chroma's filter, which finds nothing.
    assert search._dense(vector, Filters(date_from="2030-01-01")) == []
    assert len(calls) == 1
