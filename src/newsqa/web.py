"""Web pages and RSS/Atom feeds -> articles, for ``newsqa ingest URL``.

A URL that serves a web page becomes one article, its text extracted by
trafilatura like an .html file; a URL that serves a feed becomes one article per
item, each fetched from the item's link. A feed item's published date becomes the
article's date and its link the article's source and origin, so re-ingesting a page
that changed replaces the old version and an unchanged one adds nothing.

Feeds are parsed by feedparser from bytes we fetched ourselves (with the limits of
:mod:`newsqa.fetch`); feedparser never opens a URL here. Pages are fetched a few at a
time. Each URL or item that fails becomes one result with its reason; the rest go on.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import io
import xml.sax
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import feedparser
import lxml.html
from tqdm import tqdm

from newsqa.articles import ArticleError, parse_bytes_results
from newsqa.fetch import (
    FEED_TYPES,
    HTML_TYPES,
    PAGE_TYPES,
    TEXT_TYPES,
    Fetched,
    Fetcher,
    FetchError,
    one_line,
)
from newsqa.models import Article, IngestReport
from newsqa.settings import Settings

if TYPE_CHECKING:
    from newsqa.qa import NewsQA

FETCH_WORKERS = 4  # pages fetched at once: quick on a feed of 50, gentle on one site
Parsed = tuple[str, list[Article | ArticleError]]  # (origin, outcomes), as ingest takes them
OnProgress = Callable[[int, int, str], object]  # (done, total, what is being fetched)


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed."""

    key: str  # its guid/id, else its link: what "seen before" is keyed on
    link: str | None
    title: str | None
    date: str | None  # ISO date of publication, in the item's own time zone
    updated: str  # the feed's updated/published stamp: a new one means a new version
    content: str  # HTML (or text) the feed carries for it, maybe only a summary

    @property
    def origin(self) -> str:
        return self.link or f"feed-item:{self.key}"


@dataclass(frozen=True)
class Feed:
    """A parsed feed: its title and items, as the server sent them."""

    url: str
    title: str
    items: list[FeedItem]
    fetched: Fetched = field(repr=False)


class Progress:
    """Counts fetches for a terminal bar and/or a callback (the app's progress bar).

    Updated only from the thread that owns it: Streamlit widgets cannot be touched
    from worker threads.
    """

    def __init__(self, show: bool = False, on_progress: OnProgress | None = None) -> None:
        self.show = show
        self.on_progress = on_progress
        self.bar = tqdm(total=0, desc="Fetching", unit="page", disable=not show)
        self.done = 0
        self.total = 0

    def expect(self, n: int, label: str = "") -> None:
        self.total += n
        self.bar.total = self.total
        self.bar.refresh()
        self._report(label)

    def advance(self, label: str = "") -> None:
        self.done += 1
        self.bar.update(1)
        self._report(label)

    def _report(self, label: str) -> None:
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, label)

    def close(self) -> None:
        self.bar.close()


# -- parsing -------------------------------------------------------------------------


def looks_like_feed(fetched: Fetched) -> bool:
    """True if the response is a feed by its type, or by its first tags when the type
    says nothing useful (many servers send feeds as text/plain or octet-stream)."""
    if fetched.media_type in FEED_TYPES:
        return True
    if fetched.media_type in HTML_TYPES:
        return False
    head = fetched.content[:2048].lstrip().lower()
    return head.startswith(b"<?xml") or any(tag in head for tag in (b"<rss", b"<feed", b"<rdf"))


def _field(entry: Any, key: str) -> Any:
    # Plain dict access: feedparser's own get() answers "updated" with "published"
    # when there is none, with a DeprecationWarning.
    return dict.get(entry, key)


def _item_date(entry: Any) -> str | None:
    """The item's publication date as the feed wrote it, in its own time zone.

    feedparser converts stamps to UTC, which moves an evening story in New York to
    the next day; the raw string keeps the publisher's date (what "on Monday" in the
    text means). The UTC date is the fallback for formats we cannot read.
    """
    for key in ("published", "updated", "created"):
        raw = _field(entry, key)
        if not raw:
            continue
        when: datetime | None = None
        try:
            when = email.utils.parsedate_to_datetime(raw)  # RSS: RFC 822
        except (TypeError, ValueError):
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(raw.strip())  # Atom: RFC 3339
        if when is not None:
            return when.date().isoformat()
        parsed = _field(entry, f"{key}_parsed")
        if parsed:
            return date(*parsed[:3]).isoformat()
    return None


def _entry_content(entry: Any) -> str:
    for part in entry.get("content") or []:
        if part.get("value"):
            return str(part["value"])
    return str(entry.get("summary") or "")


def _xml_error(problem: object) -> str:
    if isinstance(problem, xml.sax.SAXParseException):
        where = f"line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        return f"{where}: {problem.getMessage()}"
    return one_line(str(problem)) if problem else ""


def parse_feed(fetched: Fetched) -> Feed:
    """Parse a fetched RSS or Atom document; FetchError when it is not a usable feed."""
    parsed = feedparser.parse(
        io.BytesIO(fetched.content),  # a stream: feedparser must never fetch anything
        response_headers={
            "content-location": fetched.final_url,  # base for relative links
            "content-type": fetched.media_type or "application/xml",
        },
        sanitize_html=True,
    )
    problem = parsed.get("bozo_exception")
    if not parsed.get("version") and not parsed.entries:
        detail = _xml_error(problem) or "no RSS or Atom root element"
        raise FetchError(f"not a valid RSS or Atom feed ({detail})")
    if isinstance(problem, xml.sax.SAXException) and not all(
        e.get("link") or _entry_content(e) for e in parsed.entries
    ):
        # Sloppy XML (a bare "&", an HTML entity) is common and feedparser's lenient
        # fallback reads it fine; but a feed cut off mid-item leaves an item with
        # neither link nor text, and such a half-read feed is refused whole.
        raise FetchError(f"not a valid RSS or Atom feed ({_xml_error(problem)})")
    items: dict[str, FeedItem] = {}  # by key: a feed may list an item twice
    for entry in parsed.entries:
        link = entry.get("link") or None
        content = _entry_content(entry)
        title = one_line(entry.get("title") or "") or None
        key = entry.get("id") or link
        if not key:
            basis = f"{title}\n{content}".encode()
            key = "sha256:" + hashlib.sha256(basis).hexdigest()[:16]
        updated = str(_field(entry, "updated") or _field(entry, "published") or "")
        item = FeedItem(str(key), link, title, _item_date(entry), updated, content)
        items.setdefault(item.key, item)
    title = one_line(parsed.feed.get("title") or "") or fetched.final_url
    return Feed(fetched.url, title, list(items.values()), fetched)


def feed_links(fetched: Fetched) -> list[str]:
    """The feeds an HTML page announces (``<link rel="alternate" type="...rss+xml">``)."""
    try:
        root = lxml.html.fromstring(fetched.text_bytes())
    except (ValueError, lxml.etree.ParserError):
        return []
    links = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().strip()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            links.append(urljoin(fetched.final_url, href))
    return list(dict.fromkeys(links))


def page_article(fetched: Fetched, origin: str, settings: Settings) -> Article:
    """The article on a fetched page (HTML, or plain text); ArticleError when none."""
    name = "page.txt" if fetched.media_type in TEXT_TYPES else "page.html"
    outcome = parse_bytes_results(
        fetched.text_bytes(), name, fetched.final_url, max_bytes=settings.max_file_bytes
    )[0]
    if isinstance(outcome, ArticleError):
        raise outcome
    return replace(outcome, origin=origin)


def _content_article(item: FeedItem, feed: Feed, settings: Settings) -> Article:
    """The article from the text the feed itself carries for ``item``."""
    page = f"<html><body><article>{item.content}</article></body></html>".encode()
    outcome = parse_bytes_results(page, "item.html", item.origin, max_bytes=settings.max_file_bytes)
    if isinstance(outcome[0], ArticleError):
        raise ArticleError(f"the item has no link, and its text in the feed: {outcome[0]}")
    return outcome[0]


def item_article(fetcher: Fetcher, item: FeedItem, feed: Feed, settings: Settings) -> Article:
    """Fetch the page ``item`` links to and make its article, with the item's date.

    An item without a link is read from the text the feed carries. When a page
    arrives but holds no extractable text (a script-built page), the feed's own
    text for the item stands in, if it is a real article and not a one-line teaser.
    """
    if item.link is None:
        article = _content_article(item, feed, settings)
    else:
        fetched = fetcher.get(item.link, PAGE_TYPES)
        try:
            article = page_article(fetched, item.origin, settings)
        except ArticleError as page_error:
            try:
                article = _content_article(item, feed, settings)
            except ArticleError:
                raise page_error from None
            article = replace(article, source=fetched.final_url)
    return replace(
        article,
        title=item.title or article.title,
        date=item.date or article.date,
        origin=item.origin,
    )


def fetch_items(
    fetcher: Fetcher,
    feed: Feed,
    items: Sequence[FeedItem],
    settings: Settings,
    progress: Progress,
) -> list[Parsed]:
    """Fetch the items' pages a few at a time; one (origin, outcome) per item, in order."""
    progress.expect(len(items), feed.title)
    results: list[Parsed | None] = [None] * len(items)

    def one(item: FeedItem) -> list[Article | ArticleError]:
        try:
            return [item_article(fetcher, item, feed, settings)]
        except (FetchError, ArticleError) as exc:
            return [ArticleError(one_line(str(exc)))]

    with ThreadPoolExecutor(FETCH_WORKERS, thread_name_prefix="newsqa-fetch") as pool:
        futures = {pool.submit(one, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):  # in this thread: progress is not thread-safe
            i = futures[future]
            results[i] = (items[i].origin, future.result())
            progress.advance(items[i].link or items[i].title or "")
    return [r for r in results if r is not None]


# -- one-off ingest --------------------------------------------------------------------


def fetch_source(fetcher: Fetcher, url: str) -> Fetched:
    """Fetch ``url`` as either a web page or a feed."""
    return fetcher.get(url, PAGE_TYPES | FEED_TYPES)


def parse_url(
    fetcher: Fetcher, url: str, settings: Settings, progress: Progress
) -> Iterator[Parsed]:
    """Outcomes for one URL: its page's article, or one per item if it is a feed."""
    try:
        fetched = fetch_source(fetcher, url)
        if looks_like_feed(fetched):
            feed = parse_feed(fetched)
            progress.advance(url)
            yield from fetch_items(fetcher, feed, feed.items, settings, progress)
            return
        article = page_article(fetched, url.strip(), settings)
    except (FetchError, ArticleError) as exc:
        progress.advance(url)
        yield url.strip(), [ArticleError(one_line(str(exc)))]
        return
    progress.advance(url)
    yield url.strip(), [article]


def ingest_urls(
    qa: NewsQA,
    urls: Sequence[str],
    *,
    progress: bool = False,
    on_progress: OnProgress | None = None,
) -> IngestReport:
    """Ingest web pages and feeds (every item of a feed, once; see :mod:`newsqa.feeds`
    to follow one). One result per page or item; failures carry their reason."""
    settings = qa.settings
    counter = Progress(progress and len(urls) > 0, on_progress)
    counter.expect(len(urls))
    try:
        with Fetcher(settings) as fetcher:
            parsed = [p for url in urls for p in parse_url(fetcher, url, settings, counter)]
    finally:
        counter.close()
    return qa.ingest_parsed(parsed, progress=progress)
