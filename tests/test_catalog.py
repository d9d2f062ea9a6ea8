"""The app's library list: searchable by title, source or date, and paged (issue 14)."""

from __future__ import annotations

import pytest

from newsqa import NewsQA
from newsqa.catalog import Catalog
from newsqa.store import ArticleInfo


def info(i: int, title: str, source: str = "", date: str | None = None) -> ArticleInfo:
    return ArticleInfo(f"a{i}", title, date, source, passages=i + 1, chars=100)


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(
        "gen-1",
        [
            info(0, "Oil prices fall again", "reuters:0042", "2017-03-05"),
            info(1, "Kenya election result", "news.csv:7", "2017-03-20"),
            info(2, "Bank holiday traffic", "bbc:business/101", "2005-05-02"),
            info(3, "Untitled note", "notes/today.md", None),
        ],
    )


def test_search_by_title_source_or_date_in_any_case(catalog: Catalog) -> None:
    ids = lambda q: [a.id for a in catalog.search(q)]  # noqa: E731
    assert ids("") == ["a0", "a1", "a2", "a3"]
    assert ids("  OIL  ") == ["a0"]
    assert ids("reuters") == ["a0"]
    assert ids("march 2017") == ["a0", "a1"]
    assert ids("5 mar") == ["a0"]
    assert ids("2005-05") == ["a2"]
    assert ids("undated") == ["a3"]
    assert ids("kenya reuters") == [], "every word must match"
    assert ids("nothing like this") == []


def test_pages_are_clamped_and_say_where_they_are(catalog: Catalog) -> None:
    first = catalog.page("", 0, 3)
    assert [a.id for a in first.articles] == ["a0", "a1", "a2"]
    assert (first.matches, first.pages, first.first, first.last) == (4, 2, 1, 3)
    last = catalog.page("", 1, 3)
    assert [a.id for a in last.articles] == ["a3"] and (last.first, last.last) == (4, 4)
    # After a removal or a narrower search, a page past the end shows the last one.
    assert catalog.page("", 9, 3).page == 1
    assert catalog.page("", -1, 3).page == 0
    none = catalog.page("zzz", 4, 3)
    assert (none.articles, none.matches, none.pages, none.first) == ((), 0, 1, 0)


def test_lookup_and_totals(catalog: Catalog) -> None:
    assert len(catalog) == 4 and catalog.passages == 1 + 2 + 3 + 4
    found = catalog.get("a1")
    assert found is not None and found.title == "Kenya election result"
    assert catalog.get("gone") is None
    with pytest.raises(KeyError):
        catalog["gone"]
    assert not Catalog("empty", [])


def test_the_same_catalog_is_shared_until_the_library_changes(seeded_qa: NewsQA) -> None:
    first = seeded_qa.catalog()
    assert seeded_qa.catalog() is first, "no re-listing while nothing was written"
    assert [a.id for a in first.articles] == [a.id for a in seeded_qa.articles()]
    assert first.version == seeded_qa.store.generation()
