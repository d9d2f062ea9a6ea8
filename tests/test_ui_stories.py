"""The app's share of issue 13: source cards show resolved dates and the other copies of
a story; the library lists copies under their story's first article."""

from __future__ import annotations

import pytest

from newsqa import NewsQA
from newsqa.store import ArticleInfo

from .test_app import ui


def info(article_id: str, title: str, story: str, source: str, day: str) -> ArticleInfo:
    return ArticleInfo(article_id, title, day, source, 3, 900, story)


def test_library_lists_copies_under_their_story() -> None:
    articles = [
        info("a1", "Fed adds reserves", "a1", "reuters:1", "1987-03-02"),
        info("b1", "Germany denies war plans", "b1", "https://www.dw.com/x", "2024-03-05"),
        info("a2", "Fed adds reserves (repeat)", "a1", "reuters:2", "1987-03-02"),
    ]
    groups = ui.by_story(articles)
    assert [[a.id for a in g] for g in groups] == [["a1", "a2"], ["b1"]]
    html = ui.library_html(articles)
    assert html.count('class="nqa-lib-title"') == 2
    assert html.count('class="nqa-lib-copy"') == 1
    assert "also reuters:2" in html and "2 Mar 1987" in html


@pytest.mark.slow
def test_cards_show_the_resolved_date_and_who_else_reported(seeded_qa: NewsQA) -> None:
    answer = seeded_qa.ask("What happened on 4 March 2024?")
    cards = ui.build_source_cards(answer, seeded_qa.article_text)
    cited = [s.text for card in cards for s in card.segments if s.cited]
    assert any("on Monday (4 March 2024)" in t or "On Monday (4 March 2024)" in t for t in cited)
    html = ui.sources_html(cards)
    assert "(4 March 2024)" in html
    # One article: no other copies to name.
    assert all(card.also_reported == () for card in cards)
    assert "Also reported by" not in html


def test_a_card_names_the_other_copies() -> None:
    card = ui.SourceCard(
        (1,), "t", "2024-03-05", "seed.txt", (), False, False, True,
        ("dw.com, 5 Mar 2024", "aljazeera.com, 6 Mar 2024"),
    )  # fmt: skip
    html = ui.source_card_html(card)
    assert "Also reported by dw.com, 5 Mar 2024; aljazeera.com, 6 Mar 2024" in html
