"""URLs and feeds end to end: a real local HTTP server, the real model, a real store.

The site serves pages and RSS/Atom feeds built from real articles of the 2017 news
set (skipped when ../shared/data is absent). What is shown:
- following a feed ingests its items with the item's date and link; a refresh adds
  only new items (the server's request counts prove the old pages are not fetched
  again), an unchanged feed costs one conditional request;
- an item the publisher updates is fetched again and replaces its old version;
- every hostile item (slow, redirect loop, 50 MB, 404, wrong type, private address,
  no text) fails with its own one-line reason while the rest of the feed goes in,
  and the exit code says something failed;
- a malformed feed fails with a clear reason and leaves the library as it was;
- `newsqa ingest URL` takes pages and feeds mixed with paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from newsqa import NewsQA, Settings
from newsqa.cli import main
from newsqa.feeds import MAX_TRIES, Feeds

from .conftest import SEED_FILE, SEEDS
from .newssite import NewsArticle, NewsSite, atom, huge, news_articles, rss, slow

pytestmark = pytest.mark.slow

MB = 1_000_000


@pytest.fixture(scope="module")
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


@pytest.fixture(scope="module")
def stories() -> list[NewsArticle]:
    return news_articles(10)


def library(tmp_path: Path, **overrides: Any) -> NewsQA:
    return NewsQA(Settings(data_dir=tmp_path / "lib", allow_private_urls="1", **overrides))


def rss_items(site: NewsSite, stories: list[NewsArticle]) -> list[tuple[str, str, Any, str]]:
    return [(f"guid-{s.slug}", site.publish(s), s.published, s.title) for s in stories]


def cli(tmp_path: Path, *args: str, **env: str) -> Result:
    base = {"NEWSQA_DATA_DIR": str(tmp_path / "lib"), "NEWSQA_ALLOW_PRIVATE_URLS": "1"}
    return CliRunner().invoke(main, list(args), env={**base, **env})


def failures(result: Result) -> list[str]:
    """The one-line reasons on stderr (the progress bars go there too)."""
    return [line for line in result.stderr.splitlines() if line.startswith("failed")]


def pages_fetched(site: NewsSite) -> set[str]:
    return {path for path in site.hits if path.startswith("/news/")}


def test_follow_a_feed_then_refresh_adds_only_new_items(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    first, later = stories[:5], stories[5:8]
    url = site.put(
        "/rss/world.xml",
        rss("World news", rss_items(site, first)),
        "application/rss+xml",
        headers={"ETag": '"v1"'},
    )
    qa = library(tmp_path)
    feeds = Feeds(qa)

    result = feeds.add(url)
    assert (result.status, result.title, result.ok) == ("followed", "World news", True)
    assert result.report.count("added") == 5
    by_source = {a.source: a for a in qa.articles()}
    for story in first:
        article = by_source[site.url(f"/news/{story.slug}.html")]
        # The item's date, as the publisher wrote it: 21:30 in New York, though it is
        # already the next day in UTC.
        assert (article.title, article.date) == (story.title, story.date)
        assert story.published.astimezone(UTC).date().isoformat() != story.date
        text = qa.article_text(article.id) or ""
        assert story.paragraphs[0] in text and "All rights reserved" not in text
    # The articles answer questions, citing the page they came from.
    answer = qa.ask(f"What happened: {first[1].title}?")
    assert answer.answerable
    assert site.url(f"/news/{first[1].slug}.html") in {c.source for c in answer.citations}

    (info,) = feeds.followed()
    assert (info.url, info.title, info.items, info.failed, info.error) == (
        url,
        "World news",
        5,
        0,
        "",
    )

    # Nothing new: one conditional request, answered 304, and no page fetched.
    site.reset_counts()
    (unchanged,) = feeds.refresh()
    assert (unchanged.status, unchanged.ok) == ("not modified", True)
    assert site.requests[0][1].get("If-None-Match") == '"v1"'
    assert pages_fetched(site) == set()

    # The feed moves on: two items drop off, three are new. Only the new are fetched.
    items = rss_items(site, first[2:] + later)
    site.put(
        "/rss/world.xml", rss("World news", items), "application/rss+xml", headers={"ETag": '"v2"'}
    )
    site.reset_counts()
    (refreshed,) = feeds.refresh()
    assert refreshed.report.count("added") == 3 and refreshed.ok
    assert len(refreshed.report.results) == 3
    assert pages_fetched(site) == {f"/news/{s.slug}.html" for s in later}
    assert len(qa.articles()) == 8
    assert feeds.followed()[0].items == 8

    site.reset_counts()
    (again,) = feeds.refresh()
    assert again.status == "not modified" and pages_fetched(site) == set()
    assert len(qa.articles()) == 8


def test_an_updated_atom_entry_replaces_its_article(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    chosen = stories[:3]
    entries = [
        (f"urn:story:{s.slug}", site.publish(s), s.published, s.published, s.title) for s in chosen
    ]
    url = site.put("/atom/all.xml", atom("All stories", entries), "application/atom+xml")
    qa = library(tmp_path)
    feeds = Feeds(qa)
    assert feeds.add(url).report.count("added") == 3

    # The publisher corrects story 1: new text on the page, a new <updated> stamp.
    changed = chosen[1]
    correction = "<p>Correction: an earlier version of this story misstated the vote count.</p>"
    site.publish(changed, extra=correction)
    entries[1] = (*entries[1][:3], changed.published + timedelta(hours=2), changed.title)
    site.put("/atom/all.xml", atom("All stories", entries), "application/atom+xml")
    site.reset_counts()
    (refreshed,) = feeds.refresh()
    assert [r.status for r in refreshed.report.results] == ["replaced"]
    assert pages_fetched(site) == {f"/news/{changed.slug}.html"}
    articles = qa.articles()
    assert len(articles) == 3  # replaced, not added beside the old version
    (new,) = [a for a in articles if a.title == changed.title]
    assert "misstated the vote count" in (qa.article_text(new.id) or "")


def test_hostile_items_fail_one_line_each_and_the_rest_goes_in(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    good = stories[:2]
    site.behave("/bad/slow.html", slow(8))
    site.redirect("/bad/loop-a", "/bad/loop-b")
    site.redirect("/bad/loop-b", "/bad/loop-a")
    site.behave("/bad/huge.html", huge("/bad/huge.html", site, 50 * MB, declare=False))
    site.put("/bad/chart.png", b"\x89PNG\r\n\x1a\n", content_type="image/png")
    site.put("/bad/empty.html", "<html><body><script>render()</script></body></html>")
    private = f"http://127.0.0.2:{site.port}/bad/intranet.html"
    hostile = {
        site.url("/bad/slow.html"): "timed out: the server sent nothing for 1 s",
        site.url("/bad/loop-a"): f"redirect loop: {site.url('/bad/loop-a')} -> "
        f"{site.url('/bad/loop-b')} -> {site.url('/bad/loop-a')}",
        site.url("/bad/huge.html"): "the response is over the 20.0 MB limit "
        "(NEWSQA_MAX_FILE_BYTES); stopped reading it",
        site.url("/bad/missing.html"): "HTTP 404 Not Found",
        site.url("/bad/chart.png"): "content type image/png is not a web page",
        site.url("/bad/empty.html"): "no article text found in the HTML (scripts/markup only?)",
        private: "refused: 127.0.0.2 is a loopback address (set NEWSQA_ALLOW_PRIVATE_URLS=1 "
        "to allow local and private addresses)",
    }
    items = rss_items(site, good[:1])
    items += [(link, link, good[0].published, f"Bad {i}") for i, link in enumerate(hostile)]
    items += rss_items(site, good[1:])
    url = site.put("/rss/hostile.xml", rss("Hostile", items), "application/rss+xml")
    env = {"NEWSQA_FETCH_TIMEOUT": "1", "NEWSQA_ALLOW_PRIVATE_URLS": "127.0.0.1/32"}

    result = cli(tmp_path, "feeds", "add", url, **env)
    assert result.exit_code == 1, result.output
    assert sorted(failures(result)) == sorted(
        f"failed    {link}: {why}" for link, why in hostile.items()
    )
    assert "added 2, unchanged 0, replaced 0, failed 7" in result.stdout
    assert "Traceback" not in result.output

    qa = library(tmp_path)
    assert sorted(a.title for a in qa.articles()) == sorted(s.title for s in good)
    (info,) = Feeds(qa).followed()
    assert (info.items, info.failed) == (2, 7)

    # Failed items are tried again on later refreshes, up to MAX_TRIES in all; good
    # ones are never fetched again.
    for attempt in range(2, MAX_TRIES + 2):
        site.reset_counts()
        again = cli(tmp_path, "feeds", "refresh", **env)
        retried = attempt <= MAX_TRIES
        assert again.exit_code == (1 if retried else 0), again.output
        assert pages_fetched(site) == set()
        assert (site.hits["/bad/missing.html"] == 1) is retried
    assert len(library(tmp_path).articles()) == 2


def test_a_malformed_feed_gives_a_clear_reason_and_the_library_is_intact(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    url = site.put(
        "/rss/flaky.xml", rss("Flaky", rss_items(site, stories[:2])), "application/rss+xml"
    )
    assert cli(tmp_path, "feeds", "add", url).exit_code == 0
    assert cli(tmp_path, "ingest", str(SEED_FILE)).exit_code == 0
    before = library(tmp_path).articles()

    for broken in (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Flaky</title><item><title>A",
        "<html><body><h1>Maintenance</h1><p>Back soon.</p></body></html>",
        b"\x00\x01\x02 binary garbage \xff\xfe",
    ):
        site.put("/rss/flaky.xml", broken, "application/rss+xml")
        result = cli(tmp_path, "feeds", "refresh")
        assert result.exit_code == 1, result.output
        (line,) = failures(result)
        assert line.startswith(f"failed    {url}: not a valid RSS or Atom feed")
        assert library(tmp_path).articles() == before

    qa = library(tmp_path)
    (info,) = Feeds(qa).followed()
    assert info.error.startswith("not a valid RSS or Atom feed") and info.items == 2
    listing = cli(tmp_path, "feeds", "list")
    assert "last refresh failed: not a valid RSS or Atom feed" in listing.output
    assert "38-minute" in qa.ask("How long was the recording?").text


def test_ingest_urls_mixed_with_paths(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    story = stories[0]
    page = site.publish(story)
    result = cli(tmp_path, "ingest", page, str(SEEDS))
    assert result.exit_code == 0, result.output
    assert "added 2, unchanged 0, replaced 0, failed 0" in result.stdout
    again = cli(tmp_path, "ingest", page, str(SEEDS))
    assert "added 0, unchanged 2, replaced 0, failed 0" in again.stdout

    site.publish(story, extra="<p>Update: the committee will meet again on Friday.</p>")
    changed = cli(tmp_path, "ingest", page)
    assert "added 0, unchanged 0, replaced 1, failed 0" in changed.stdout
    qa = library(tmp_path)
    assert len(qa.articles()) == 2
    (article,) = [a for a in qa.articles() if a.source == page]
    assert "meet again on Friday" in (qa.article_text(article.id) or "")

    # A feed given to `ingest` adds its items once (it is not followed); a URL that
    # fails is one line, and the others still go in.
    feed = site.put(
        "/rss/once.xml", rss("Once", rss_items(site, stories[3:5])), "application/rss+xml"
    )
    mixed = cli(tmp_path, "ingest", site.url("/gone.html"), feed, "gopher://old.example/1")
    assert mixed.exit_code == 1
    assert failures(mixed) == [
        f"failed    {site.url('/gone.html')}: HTTP 404 Not Found",
        "failed    gopher://old.example/1: only http and https URLs can be fetched, not gopher",
    ]
    assert "added 2, unchanged 0, replaced 0, failed 2" in mixed.stdout
    assert len(library(tmp_path).articles()) == 4
    assert cli(tmp_path, "feeds", "list").output.strip() == "0 feeds"

    # Without NEWSQA_ALLOW_PRIVATE_URLS, a local page is refused, with the reason.
    refused = cli(tmp_path, "ingest", page, NEWSQA_ALLOW_PRIVATE_URLS="")
    assert refused.exit_code == 1
    (line,) = failures(refused)
    assert line.startswith(f"failed    {page}: refused: 127.0.0.1 is a loopback address")


def test_discover_new_only_and_remove(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    feed_url = site.put(
        "/rss/sport.xml", rss("Sport", rss_items(site, stories[:2])), "application/rss+xml"
    )
    home = site.put(
        "/sport/",
        "<html><head><title>Sport</title>"
        "<link rel='alternate' type='application/rss+xml' title='Sport' href='/rss/sport.xml'>"
        "</head><body><p>Latest sport.</p></body></html>",
    )
    qa = library(tmp_path)
    feeds = Feeds(qa)
    # A page that links its feed: the feed is followed. --new-only takes none of the
    # items listed now.
    result = feeds.add(home, new_only=True)
    assert (result.status, result.url, result.report.results) == ("followed", feed_url, [])
    assert feeds.add(feed_url).status == "already followed"
    assert qa.articles() == []

    site.put("/rss/sport.xml", rss("Sport", rss_items(site, stories[:3])), "application/rss+xml")
    (refreshed,) = feeds.refresh()
    assert [r.title for r in refreshed.report.results] == [stories[2].title]

    # A page without a feed link cannot be followed; the app's one box adds it as a page.
    plain = site.publish(stories[4])
    assert feeds.add(plain).error.startswith("not an RSS or Atom feed, and the page links to none")
    as_page = feeds.add_link(plain)
    assert (as_page.status, as_page.title, as_page.report.count("added")) == (
        "page",
        stories[4].title,
        1,
    )
    assert feeds.add_link(feed_url).status == "already followed"

    assert cli(tmp_path, "feeds", "remove", "http://127.0.0.1:1/none.xml").exit_code == 1
    removed = cli(tmp_path, "feeds", "remove", "--delete-articles", feed_url)
    assert removed.exit_code == 0, removed.output
    assert removed.stdout.strip() == f"Stopped following Sport ({feed_url}); removed 1 articles"
    assert feeds.followed() == []
    assert [a.title for a in library(tmp_path).articles()] == [stories[4].title]


@pytest.mark.server
def test_followed_feeds_are_shared_through_a_chroma_server(
    site: NewsSite, stories: list[NewsArticle], tmp_path: Path
) -> None:
    """Two machines (two data dirs) on one server: one follows, the other refreshes."""
    from .test_server import CHROMA, ChromaServer, free_port

    if not CHROMA.exists():
        pytest.skip(f"needs the chroma CLI at {CHROMA}")
    server = ChromaServer(tmp_path / "chroma-server", free_port(), tmp_path / "chroma.log")
    server.start()
    try:

        def machine(name: str) -> Feeds:
            settings = Settings(
                data_dir=tmp_path / name, chroma_url=server.url, allow_private_urls="1"
            )
            qa = NewsQA(settings)
            return Feeds(qa)

        first, second = machine("laptop"), machine("desktop")
        items = rss_items(site, stories[6:8])
        url = site.put(
            "/rss/shared.xml", rss("Shared", items), "application/rss+xml", headers={"ETag": '"s1"'}
        )
        assert first.add(url).report.count("added") == 2
        assert [(f.url, f.items) for f in second.followed()] == [(url, 2)]

        # The other machine refreshes: it fetches only the item the first has not seen.
        items += rss_items(site, stories[8:9])
        site.put(
            "/rss/shared.xml", rss("Shared", items), "application/rss+xml", headers={"ETag": '"s2"'}
        )
        site.reset_counts()
        (refreshed,) = second.refresh()
        assert refreshed.report.count("added") == 1
        assert pages_fetched(site) == {f"/news/{stories[8].slug}.html"}
        # ...and the first, asking with the ETag the second stored, is told nothing changed.
        site.reset_counts()
        assert [r.status for r in first.refresh()] == ["not modified"]
        assert pages_fetched(site) == set()
        assert len(first.store.list_articles()) == 3
    finally:
        server.stop()
