"""Following a feed from the app's sidebar, in a real headless Chromium.

The app runs as `streamlit run ui/app.py` over the seeded library (the fixture of
test_browser.py); a real local HTTP server serves an RSS feed of real 2017 news
articles. The test pastes the feed's URL, watches the progress bar while a slow page
downloads, reads a result line per item, asks about one of the new articles, then
refreshes the feed after it gained an item.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .newssite import NewsArticle, NewsSite, news_articles, page_html, rss, slow
from .test_browser import (  # the app fixture and its helpers
    ANSWER_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    STARTUP_TIMEOUT_S,
    Server,
    _ask,
    server,  # noqa: F401  (a fixture: imported so this module gets its own app)
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module", autouse=True)
def local_feeds_allowed() -> Iterator[None]:
    """The app must fetch from 127.0.0.1; set before the app fixture copies the env."""
    before = os.environ.get("NEWSQA_ALLOW_PRIVATE_URLS")
    os.environ["NEWSQA_ALLOW_PRIVATE_URLS"] = "1"
    yield
    if before is None:
        del os.environ["NEWSQA_ALLOW_PRIVATE_URLS"]
    else:
        os.environ["NEWSQA_ALLOW_PRIVATE_URLS"] = before


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    with NewsSite() as s:
        yield s


def items(site: NewsSite, stories: list[NewsArticle]) -> list[tuple[str, str, object, str]]:
    return [(s.slug, site.url(f"/news/{s.slug}.html"), s.published, s.title) for s in stories]


def test_follow_a_feed_in_the_sidebar(server: Server, site: NewsSite, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    stories = news_articles(4)
    for story in stories[:2]:
        site.publish(story)
    # The third page takes five seconds: long enough to see the progress bar move.
    site.behave(f"/news/{stories[2].slug}.html", slow(5, page_html(stories[2])))
    feed = site.put(
        "/rss/app.xml", rss("App test news", items(site, stories[:3])), "application/rss+xml"
    )

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            page.goto(server.url)
            page.get_by_role("button", name="What did Peskov say?").wait_for(
                timeout=STARTUP_TIMEOUT_S * 1000
            )
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("Add a link or a feed").click()
            box = sidebar.get_by_role("textbox", name="Web page or feed URL")
            box.fill(feed)
            box.press("Enter")  # submits the form, like the Add button
            # The feed and two pages are in; the slow third page is on its way.
            progress = sidebar.get_by_test_id("stProgress")
            expect(progress).to_contain_text("Fetching: 3 of 4 done", timeout=ANSWER_TIMEOUT_MS)
            page.screenshot(path=str(SCREENSHOTS / "07-feed-progress.png"))

            done = sidebar.get_by_test_id("stAlertContentSuccess")
            expect(done.first).to_contain_text(
                "Following “App test news”: 3 added, 0 updated", timeout=ANSWER_TIMEOUT_MS
            )
            for story in stories[:3]:
                expect(done.nth(1)).to_contain_text(f"Added “{story.title}”")
            expect(sidebar.locator(".nqa-feed")).to_contain_text("App test news")
            expect(sidebar.locator(".nqa-feed")).to_contain_text("3 items")
            page.screenshot(path=str(SCREENSHOTS / "08-feed-followed.png"))

            # The new articles answer questions, with the item as the source card.
            _ask(page, f"What happened: {stories[0].title}?", stories[0].title)
            answer = page.get_by_test_id("stChatMessage").last
            expect(answer.locator(".nqa-card .nqa-title").first).to_have_text(stories[0].title)

            # The feed gains an item: "Refresh feeds" adds only that one.
            site.publish(stories[3])
            site.put(
                "/rss/app.xml", rss("App test news", items(site, stories)), "application/rss+xml"
            )
            site.reset_counts()
            sidebar.get_by_role("button", name="Refresh feeds").click()
            expect(sidebar.get_by_test_id("stAlertContentSuccess").first).to_contain_text(
                "“App test news”: 1 added, 0 updated", timeout=ANSWER_TIMEOUT_MS
            )
            assert {p for p in site.hits if p.startswith("/news/")} == {
                f"/news/{stories[3].slug}.html"
            }
            page.screenshot(path=str(SCREENSHOTS / "09-feed-refreshed.png"))

            # Stop following it: the feed leaves the list, its articles stay.
            sidebar.get_by_test_id("stSelectbox").filter(has_text="Stop following").click()
            page.get_by_role("option", name="App test news").click()
            sidebar.get_by_role("button", name="Stop following", exact=True).click()
            expect(sidebar.get_by_test_id("stAlertContentInfo")).to_contain_text(
                "Stopped following “App test news”."
            )
            expect(sidebar.locator(".nqa-feed")).to_have_count(0)
        finally:
            browser.close()

    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log
