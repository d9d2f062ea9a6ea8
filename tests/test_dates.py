"""Relative dates resolved against the article's date (issue 13): offsets exact, the
newsroom's weekday convention, how they read, and a date question on the seed."""

from __future__ import annotations

import pytest

from newsqa import NewsQA
from newsqa.articles import parse_file
from newsqa.chunking import split_sentences
from newsqa.dates import EXPRESSION, display, resolve, with_dates
from newsqa.models import DateSpan
from newsqa.store.records import pack_dates, unpack_dates

from .conftest import SEED_FILE

SEED = parse_file(SEED_FILE)[0]  # dated Tuesday 5 March 2024


def resolved(text: str, day: str) -> dict[str, str]:
    return {text[s.start : s.end]: display(s) for s in resolve(text, day, split_sentences(text))}


def test_the_seed_resolves_against_its_date_with_exact_offsets() -> None:
    spans = resolve(SEED.text, SEED.date, split_sentences(SEED.text))
    found = {SEED.text[s.start : s.end]: display(s) for s in spans}
    assert found["on Monday"] == "4 March 2024"
    assert found["On Monday"] == "4 March 2024"
    assert found["On Friday"] == "1 March 2024"
    assert found["last week"] == "week of 26 February 2024"
    assert found["two years ago"] == "2022"
    assert found["two weeks ago"] == "20 February 2024"
    for s in spans:  # offsets index the article text itself
        assert EXPRESSION.fullmatch(SEED.text[s.start : s.end])


def test_weekdays_follow_the_newsroom_convention() -> None:
    tuesday = "2024-03-05"
    assert resolved("The minister spoke on Tuesday.", tuesday) == {"on Tuesday": "5 March 2024"}
    assert resolved("The minister spoke on Wednesday.", tuesday) == {
        "on Wednesday": "28 February 2024"
    }
    assert resolved("The minister will speak on Wednesday.", tuesday) == {
        "on Wednesday": "6 March 2024"
    }
    assert resolved("Talks are scheduled for Friday.", tuesday) == {"Friday": "8 March 2024"}
    assert resolved("It happened last Tuesday.", tuesday) == {"last Tuesday": "27 February 2024"}
    assert resolved("He arrived yesterday and leaves tomorrow.", tuesday) == {
        "yesterday": "4 March 2024",
        "tomorrow": "6 March 2024",
    }
    assert resolved("Prices rose last month.", tuesday) == {"last month": "February 2024"}
    assert resolve("It happened on Monday.", None) == []  # undated: nothing to resolve


def test_spans_travel_as_metadata_and_render_next_to_their_expression() -> None:
    text = "Russia warned Germany on Monday that there would be consequences."
    spans = resolve(text, "2024-03-05")
    assert unpack_dates(pack_dates(spans)) == tuple(spans)
    assert with_dates(text, 0, spans) == (
        "Russia warned Germany on Monday (4 March 2024) that there would be consequences."
    )
    # A sentence quoted from further into its article: offsets are the article's.
    shifted = [DateSpan(s.start + 100, s.end + 100, s.date, s.granularity) for s in spans]
    assert with_dates(text, 100, shifted) == with_dates(text, 0, spans)
    assert with_dates(text, 0, []) == text


@pytest.mark.slow
def test_a_date_question_finds_the_on_monday_sentences(seeded_qa: NewsQA) -> None:
    answer = seeded_qa.ask("What happened on 4 March 2024?")
    assert answer.answerable, answer.text
    monday = [c for c in answer.citations if "on Monday" in c.text or "On Monday" in c.text]
    assert monday, [c.text for c in answer.citations]
    for c in monday:
        assert [d.date for d in c.dates] == ["2024-03-04"]
        assert "(4 March 2024)" in with_dates(c.text, c.start, c.dates)
        assert c.verified and SEED.text[c.start : c.end] == c.text
    assert "(4 March 2024)" in answer.text


@pytest.mark.slow
def test_a_date_question_retrieves_the_on_monday_passages_first(seeded_qa: NewsQA) -> None:
    """What retrieval does for item 3: BM25 indexes each passage's resolved dates, so the
    passages that say "on Monday" rank first there for "4 March 2024"."""
    seeded_qa.store.refresh()
    ranked = seeded_qa.lexical.search("What happened on 4 March 2024?", 3, 0, 0, None)
    (top,) = seeded_qa.store.get_passages([ranked[0][0]])
    assert "on Monday" in top.passage.text or "On Monday" in top.passage.text
    assert "2024-03-04" in {d.date for d in top.passage.dates}
    # Fused with the dense side (which knows no dates) they stay among the passages
    # the answerer reads.
    hits = seeded_qa.search.search("What happened on 4 March 2024?", 6).hits
    assert any(d.date == "2024-03-04" for h in hits for d in h.passage.dates)
