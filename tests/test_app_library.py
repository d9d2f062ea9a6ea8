"""The app's sidebar library with more articles than fit on a page (issue 14).

A real library of the seed article and sixteen short town articles, driven with
``AppTest``: ten to a page, paged with the arrows, searched by title, source or
date; the article pickers offer the search's matches, never the whole library.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from newsqa import NewsQA, Settings

from .conftest import SEEDS
from .test_app import _app
from .test_app_load import town_brief
from .test_concurrency import TOWNS

pytestmark = pytest.mark.slow
ARTICLES = 1 + len(TOWNS)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("towns")
    for i in range(len(TOWNS)):
        (folder / f"town-{i:02d}.md").write_text(town_brief(i), encoding="utf-8")
    data_dir = tmp_path_factory.mktemp("library")
    report = NewsQA(Settings(data_dir=data_dir)).ingest([SEEDS, folder])
    assert report.ok and report.count("added") == ARTICLES
    return data_dir


@pytest.fixture
def app(library: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return _app(library, monkeypatch)


def listed(at: AppTest) -> list[str]:
    """The titles on the sidebar's current library page."""
    html = "\n".join(h.value for h in at.sidebar.html)
    return re.findall(r'<div class="nqa-lib-title" title="([^"]*)"', html)


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.sidebar.caption]


def test_library_is_paged(app: AppTest) -> None:
    assert f"{ARTICLES} articles" in captions(app)[0]
    first = listed(app)
    assert len(first) == 10
    assert f"1–10 of {ARTICLES}" in captions(app)
    assert app.button(key="library_back").disabled
    app.button(key="library_forward").click().run()
    second = listed(app)
    assert len(second) == ARTICLES - 10 and not set(first) & set(second)
    assert f"11–{ARTICLES} of {ARTICLES}" in captions(app)
    assert app.button(key="library_forward").disabled
    app.button(key="library_back").click().run()
    assert listed(app) == first


def test_library_search_by_title_and_date(app: AppTest) -> None:
    app.button(key="library_forward").click().run()
    app.text_input(key="library_query").set_value("hollowmere").run()
    assert listed(app) == ["Hollowmere council agrees its budget"]
    assert "1 of 1 matches" in captions(app), "a new search starts at its first page"
    # Dates match by month name and year; the seed article is from 2024.
    app.text_input(key="library_query").set_value("March 2025").run()
    assert len(listed(app)) == 10 and f"1–10 of {len(TOWNS)} matches" in captions(app)
    app.text_input(key="library_query").set_value("no such article").run()
    assert listed(app) == []
    assert any("No article matches" in c for c in captions(app))


def test_pickers_offer_the_search_matches(app: AppTest) -> None:
    picker = app.multiselect(key="opt_articles")
    assert len(picker.options) == ARTICLES  # under the picker limit: all of them
    app.text_input(key="library_query").set_value("brackwell").run()
    picker = app.multiselect(key="opt_articles")
    assert [o for o in picker.options if "Brackwell" in o] == picker.options
    assert len(picker.options) == 1
    picker.select(picker.options[0]).run()
    # A chosen article stays on offer (and chosen) when the search moves on.
    app.text_input(key="library_query").set_value("aldermoor").run()
    picker = app.multiselect(key="opt_articles")
    assert len(picker.value) == 1 and len(picker.options) == 2
