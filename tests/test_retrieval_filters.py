"""Filtered dense search: the in-memory path (nearest ids, filtered with the BM25
index's dates and article ids) runs whenever enough of the library passes, and
gives the same passages as Chroma's own filter; narrow filters go to Chroma's filter.

The library (~75 passages over twelve months) is larger than the candidate count,
so both paths are taken, and ``RetrievalResult.dense_path`` says which one ran:
a broken in-memory path cannot hide behind the fallback.
"""

from __future__ import annotations

import numpy as np
import pytest

from newsqa import NewsQA, Settings
from newsqa import retrieval as retrieval_module
from newsqa.models import date_to_int
from newsqa.retrieval import Filters, HybridSearch, RetrievalResult

from .conftest import SEEDS

pytestmark = pytest.mark.slow

CANDIDATES = 10
THEMES = {
    "harbour": [
        "A fire broke out in the {town} harbour warehouse on {day} night.",
        "Firefighters said the blaze at the {town} docks was under control by dawn.",
        "The port authority of {town} said {n} containers were damaged by the smoke.",
        "Nobody was hurt, but ferry services from {town} were cancelled for a day.",
    ],
    "election": [
        "Voters in {town} elected a new mayor on {day} after a close campaign.",
        "The winner took {n} percent of the vote, the electoral office of {town} said.",
        "Turnout in {town} was the highest since the council was founded.",
        "The outgoing mayor of {town} congratulated her rival and promised a smooth handover.",
    ],
    "weather": [
        "Heavy snow closed the airport of {town} for six hours on {day}.",
        "Forecasters expect {n} centimetres more snow over the {town} region this week.",
        "Schools in {town} stayed shut while ploughs cleared the main roads.",
        "Power lines north of {town} came down under the weight of the ice.",
    ],
    "football": [
        "{town} United beat their local rivals three goals to one on {day}.",
        "A crowd of {n} thousand watched the match at the {town} stadium.",
        "The {town} coach praised his young striker, who scored twice.",
        "The win lifts {town} United to second place in the league table.",
    ],
}
TOWNS = ["Ghent", "Oslo", "Porto", "Lyon", "Utrecht", "Bergen"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def article(i: int) -> tuple[str, bytes]:
    """Article ``i``: one of four themes, dated in month ``1 + i // 2`` of 2024, ~4 passages."""
    theme, sentences = list(THEMES.items())[i % len(THEMES)]
    town, day = TOWNS[i % len(TOWNS)], DAYS[i % len(DAYS)]
    paragraphs = [
        " ".join(s.format(town=town, day=day, n=10 + 7 * i + j) for s in sentences)
        for j in range(4)
    ]
    date = f"2024-{1 + i // 2:02d}-{10 + i % 2 * 10:02d}"
    title = f"{theme.title()} news from {town} ({i})"
    body = "\n\n".join(paragraphs)
    return f"{theme}-{i:02d}.md", f"---\ntitle: {title}\ndate: {date}\n---\n{body}\n".encode()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> NewsQA:
    """The seed (2024-03-05) and 24 articles, two a month through 2024."""
    qa = NewsQA(Settings(data_dir=tmp_path_factory.mktemp("filters")))
    assert qa.ingest([SEEDS]).ok
    assert qa.ingest_files([article(i) for i in range(24)]).ok
    assert qa.store.count_passages() > 6 * CANDIDATES
    return qa


def passing(qa: NewsQA, filters: Filters) -> int:
    """Passages that pass, counted from the article list (not from the index under test)."""
    low, high = date_to_int(filters.date_from), date_to_int(filters.date_to)
    count = 0
    for a in qa.articles():
        when = date_to_int(a.date)
        if (low and when < low) or (high and when > high):
            continue
        if filters.article_ids is not None and a.id not in filters.article_ids:
            continue
        count += a.passages
    return count


def dense_ranking(result: RetrievalResult) -> list[tuple[str, float]]:
    """The dense side's passages, best first (every one is among the hits: k >= 2 x candidates)."""
    dense = [(h.passage.id, h.dense_score) for h in result.hits if h.dense_score is not None]
    return sorted(dense, key=lambda pair: -pair[1])


def plain_search(qa: NewsQA) -> HybridSearch:
    """Hybrid search without folding wire copies: the generated articles share their
    wording, and the dense ranking read back from the hits must hold all of them."""
    return HybridSearch(
        qa.store, qa.lexical, qa.embeddings, candidates=CANDIDATES, fold_copies=False
    )


def chromas_filter(qa: NewsQA, vector: np.ndarray, filters: Filters) -> list[tuple[str, float]]:
    return [(sp.passage.id, s) for sp, s in qa.store.dense_search(vector, CANDIDATES, filters)]


def article_ids(qa: NewsQA, *themes: str) -> tuple[str, ...]:
    return tuple(a.id for a in qa.articles() if a.title.split()[0].lower() in themes)


QUESTIONS = (
    "What did Peskov say?",  # the seed: outside most filters, so the first fetch falls short
    "Was anybody hurt in the harbour fire?",
    "Who won the football match?",
)


@pytest.mark.parametrize(
    "make_filters",
    [
        lambda qa: Filters(date_from="2024-03-01"),  # most of the library
        lambda qa: Filters(date_to="2024-03-31"),  # a quarter of it
        lambda qa: Filters(date_from="2024-06-01", date_to="2024-09-30"),
        lambda qa: Filters(date_from="2024-04-01", date_to="2024-04-30"),  # two articles
        lambda qa: Filters(date_from="2030-01-01"),  # nothing
        lambda qa: Filters(article_ids=article_ids(qa, "harbour", "weather")),
        lambda qa: Filters(article_ids=article_ids(qa, "harbour")[:2]),  # too few passages
    ],
    ids=["from-march", "to-march", "summer", "april", "future", "two-themes", "two-articles"],
)
def test_the_path_follows_the_share_and_matches_chromas_filter(
    library: NewsQA, make_filters: object
) -> None:
    qa = library
    filters: Filters = make_filters(qa)  # type: ignore[operator]
    search = plain_search(qa)
    expected_path = "in-memory filter" if passing(qa, filters) >= CANDIDATES else "chroma filter"
    for question in QUESTIONS:
        result = search.search(question, 2 * CANDIDATES, filters)
        assert result.dense_path == expected_path, (question, passing(qa, filters))
        got, expected = dense_ranking(result), chromas_filter(qa, result.query_vector, filters)
        assert [pid for pid, _ in got] == [pid for pid, _ in expected], question
        for (_, a), (_, b) in zip(got, expected, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_no_filter_takes_the_plain_search(library: NewsQA) -> None:
    search = plain_search(library)
    result = search.search("Who won the football match?", 2 * CANDIDATES)
    assert result.dense_path == "unfiltered"
    assert len(dense_ranking(result)) == CANDIDATES


def test_the_share_comes_from_the_index(library: NewsQA) -> None:
    qa = library
    total = qa.store.count_passages()
    assert qa.lexical.share_allowed() == 1.0
    april = Filters(date_from="2024-04-01", date_to="2024-04-30")
    share = qa.lexical.share_allowed(date_to_int(april.date_from), date_to_int(april.date_to))
    assert share == pytest.approx(passing(qa, april) / total)
    assert qa.lexical.share_allowed(date_from=20300101) == 0.0


def test_more_neighbours_than_the_cap_falls_back_to_chromas_filter(
    library: NewsQA, monkeypatch: pytest.MonkeyPatch
) -> None:
    qa = library
    filters = Filters(date_to="2024-03-31")
    search = plain_search(qa)
    question = "Who won the football match?"
    assert search.search(question, 2 * CANDIDATES, filters).dense_path == "in-memory filter"
    # The first fetch asks for ~2 x candidates / share neighbours: more than this cap.
    monkeypatch.setattr(retrieval_module, "MAX_OVERFETCH", CANDIDATES)
    result = search.search(question, 2 * CANDIDATES, filters)
    assert result.dense_path == "chroma filter"
    got, expected = dense_ranking(result), chromas_filter(qa, result.query_vector, filters)
    assert [pid for pid, _ in got] == [pid for pid, _ in expected]
