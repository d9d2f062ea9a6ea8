"""Followed feeds: ``newsqa feeds add / list / refresh / remove``.

Following a feed ingests its items (unless told to take only later ones); each
refresh fetches the feed again and ingests only the items not seen before, plus any
the feed marks as updated (a new ``<updated>`` stamp: the page is fetched again and
replaces the old version) and any that failed before (at most :data:`MAX_TRIES`
times, so one dead link does not fail every refresh forever). A refresh sends the
feed's ETag and Last-Modified back, so an unchanged feed costs one small request.

What a library follows, and which items it has seen, is kept *in the library*, in a
``<collection>_feeds`` collection beside the articles, not in the data dir: with a
Chroma server, every machine sharing the library sees the same feeds and none
fetches an item another has already added, and the data dir keeps holding only
caches that can be rebuilt. Writes go through the store's writer lock like any
other (embedded), so two refreshes at once cannot corrupt it; at worst both fetch
an item, and the second finds its article already stored (``unchanged``).

A refresh is safe to interrupt: items are recorded as seen only after their
articles are written, so a killed refresh fetches them again next time, and finds
them unchanged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from newsqa.articles import ArticleError
from newsqa.fetch import FEED_TYPES, PAGE_TYPES, Fetched, Fetcher, FetchError, check_url, one_line
from newsqa.models import Article, FileResult, IngestReport
from newsqa.web import (
    Feed,
    FeedItem,
    OnProgress,
    Progress,
    feed_links,
    fetch_items,
    looks_like_feed,
    page_article,
    parse_feed,
)

if TYPE_CHECKING:
    from newsqa.qa import NewsQA
    from newsqa.store import Store

MAX_TRIES = 3  # refreshes that retry an item whose page failed, before giving up on it


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def feed_id(url: str) -> str:
    return f"feed:{_hash(url)}"


@dataclass(frozen=True)
class FeedInfo:
    """A followed feed, as ``feeds list`` shows it."""

    url: str
    title: str
    added_at: float
    refreshed_at: float  # 0 before the first refresh
    items: int  # items whose articles are in the library
    failed: int  # items that failed on their last try
    error: str  # why the last refresh of the feed itself failed; "" if it did not
    etag: str = field(default="", repr=False)
    last_modified: str = field(default="", repr=False)

    @property
    def id(self) -> str:
        return feed_id(self.url)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["etag"], data["last_modified"]
        return data


@dataclass
class FeedResult:
    """What adding or refreshing one feed (or adding one page) did."""

    url: str
    title: str = ""
    # followed | already followed | refreshed | not modified | page | failed
    status: str = "refreshed"
    error: str = ""  # the feed itself could not be had
    report: IngestReport = field(default_factory=IngestReport)  # one result per item

    @property
    def ok(self) -> bool:
        return not self.error and self.report.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "status": self.status,
            "error": self.error,
            **self.report.to_dict(),
        }


@dataclass(frozen=True)
class Removal:
    """A feed no longer followed, and how many of its articles were removed."""

    url: str
    title: str
    articles_removed: int


class _Records:
    """Feed and item records in the library's ``<collection>_feeds`` collection."""

    def __init__(self, store: Store) -> None:
        self.side = store.side("feeds")

    def _get(self, what: str, where: dict[str, Any]) -> list[dict[str, Any]]:
        return self.side.get(what, where)

    def feeds(self) -> list[FeedInfo]:
        metas = self._get("reading the followed feeds", {"kind": "feed"})
        infos = [
            FeedInfo(
                url=str(m["url"]),
                title=str(m["title"]),
                added_at=float(m["added_at"]),
                refreshed_at=float(m["refreshed_at"]),
                items=int(m["items"]),
                failed=int(m["failed"]),
                error=str(m["error"]),
                etag=str(m["etag"]),
                last_modified=str(m["last_modified"]),
            )
            for m in metas
        ]
        return sorted(infos, key=lambda f: (f.title.lower(), f.url))

    def items(self, feed: str) -> dict[str, dict[str, Any]]:
        """The items seen in ``feed`` (a feed id), by item key."""
        where = {"$and": [{"kind": "item"}, {"feed": feed}]}
        return {str(m["key"]): m for m in self._get("reading the feed's items", where)}

    def save(self, feed: FeedInfo, items: Sequence[dict[str, Any]] = ()) -> None:
        """Write a feed record and item records (call inside ``store.writing()``)."""
        meta = {"kind": "feed", **asdict(feed)}
        records = [(feed.id, meta)]
        records += [(f"item:{_hash(feed.id + chr(10) + str(m['key']))}", m) for m in items]
        self.side.upsert("saving the followed feeds", records)

    def delete(self, feed: str) -> None:
        """Forget a feed (a feed id) and its items (call inside ``store.writing()``)."""

        items = {"$and": [{"kind": "item"}, {"feed": feed}]}
        self.side.delete("removing a feed", ids=[feed], where=items)


def _wanted(item: FeedItem, seen: dict[str, Any] | None) -> bool:
    """Whether a refresh should fetch ``item``, given its record (None: never seen)."""
    if seen is None:
        return True
    if seen["status"] == "failed":
        return int(seen["tries"]) < MAX_TRIES
    # A new stamp on an item already in the library: the publisher changed it.
    return seen["status"] == "ingested" and bool(item.updated) and item.updated != seen["updated"]


def _item_record(
    feed: FeedInfo, item: FeedItem, result: FileResult | None, seen: dict[str, Any] | None
) -> dict[str, Any]:
    """The record of ``item`` after this refresh (``result`` None: skipped on purpose)."""
    failed = result is not None and result.status == "failed"
    tries = int(seen["tries"]) + 1 if failed and seen and seen["status"] == "failed" else 1
    return {
        "kind": "item",
        "feed": feed.id,
        "key": item.key,
        "link": item.link or "",
        "status": "skipped" if result is None else "failed" if failed else "ingested",
        "tries": tries if failed else 0,
        "error": result.error if result is not None and failed else "",
        "article_id": result.article_id if result is not None else "",
        "updated": item.updated,
        "seen_at": time.time(),
    }


class Feeds:
    """The feeds the library of ``qa`` follows.

    ``guard`` (e.g. the app's lock around its ``NewsQA``) is held for the store's
    reads and writes only, not while pages download.
    """

    def __init__(self, qa: NewsQA, guard: AbstractContextManager[object] | None = None) -> None:
        self.qa = qa
        self.store = qa.store
        self.settings = qa.settings
        self.records = _Records(self.store)
        self._guard: AbstractContextManager[object] = guard or nullcontext()

    @contextmanager
    def _using_store(self) -> Iterator[None]:
        with self._guard:
            yield

    def followed(self) -> list[FeedInfo]:
        """The followed feeds, by title."""
        with self._using_store():
            self.store.refresh()
            return self.records.feeds()

    def find(self, url: str) -> FeedInfo | None:
        wanted = feed_id(url.strip())
        return next((f for f in self.followed() if f.id == wanted), None)

    # -- adding --------------------------------------------------------------------

    def add(
        self,
        url: str,
        *,
        new_only: bool = False,
        progress: bool = False,
        on_progress: OnProgress | None = None,
    ) -> FeedResult:
        """Follow the feed at ``url`` (or the feed a page at ``url`` links to) and ingest
        its items; ``new_only``: take none of them now, only those that come later."""
        return self._add(url, new_only, pages=False, progress=progress, on_progress=on_progress)

    def add_link(self, url: str, *, on_progress: OnProgress | None = None) -> FeedResult:
        """Follow ``url`` if it is a feed, else ingest it as a page (the app's one box)."""
        return self._add(url, False, pages=True, progress=False, on_progress=on_progress)

    def _add(
        self,
        url: str,
        new_only: bool,
        *,
        pages: bool,
        progress: bool,
        on_progress: OnProgress | None,
    ) -> FeedResult:
        counter = Progress(progress, on_progress)
        counter.expect(1, url)
        try:
            with Fetcher(self.settings) as fetcher:
                url = check_url(url)
                if known := self.find(url):
                    return FeedResult(known.url, known.title, "already followed")
                fetched = fetcher.get(url, FEED_TYPES | PAGE_TYPES)
                counter.advance(url)
                if not looks_like_feed(fetched):
                    if pages:
                        return self._add_page(fetched)
                    url, fetched = self._discover(fetcher, fetched)
                    if known := self.find(url):
                        return FeedResult(known.url, known.title, "already followed")
                feed = parse_feed(fetched)
                info = FeedInfo(url, feed.title, time.time(), 0.0, 0, 0, "")
                result = self._update(fetcher, info, feed, {}, counter, new_only)
                result.status = "followed"
                return result
        except (FetchError, ArticleError) as exc:
            return FeedResult(url.strip(), status="failed", error=one_line(str(exc)))
        finally:
            counter.close()

    def _discover(self, fetcher: Fetcher, page: Fetched) -> tuple[str, Fetched]:
        """The feed a web page announces, fetched."""
        links = feed_links(page)
        if not links:
            raise FetchError(
                "not an RSS or Atom feed, and the page links to none "
                '(no <link rel="alternate"> to a feed)'
            )
        return links[0], fetcher.get(links[0], FEED_TYPES | PAGE_TYPES)

    def _add_page(self, fetched: Fetched) -> FeedResult:
        outcome: Article | ArticleError
        try:
            outcome = page_article(fetched, fetched.url, self.settings)
        except ArticleError as exc:
            outcome = exc
        with self._using_store():
            report = self.qa.ingest_parsed([(fetched.url, [outcome])])
        title = report.results[0].title if report.results else ""
        return FeedResult(fetched.url, title, "page", report=report)

    # -- refreshing ----------------------------------------------------------------

    def refresh(
        self,
        urls: Sequence[str] | None = None,
        *,
        progress: bool = False,
        on_progress: OnProgress | None = None,
    ) -> list[FeedResult]:
        """Fetch the followed feeds (all, or those in ``urls``) and ingest what is new.

        A URL that is not followed gives a failed result saying so.
        """
        followed = {f.id: f for f in self.followed()}
        if urls is None:
            chosen: list[FeedInfo | str] = list(followed.values())
        else:
            chosen = [followed.get(feed_id(u.strip()), u.strip()) for u in urls]
        results: list[FeedResult] = []
        counter = Progress(progress and bool(chosen), on_progress)
        counter.expect(len(chosen))
        try:
            with Fetcher(self.settings) as fetcher:
                for info in chosen:
                    if isinstance(info, str):
                        counter.advance(info)
                        error = "not a followed feed (see `newsqa feeds list`)"
                        results.append(FeedResult(info, status="failed", error=error))
                        continue
                    results.append(self._refresh_one(fetcher, info, counter))
        finally:
            counter.close()
        return results

    def _refresh_one(self, fetcher: Fetcher, info: FeedInfo, counter: Progress) -> FeedResult:
        with self._using_store():
            seen = self.records.items(info.id)
        headers = {}
        # "Not modified" would also hide the items that deserve another try.
        if not any(m["status"] == "failed" and int(m["tries"]) < MAX_TRIES for m in seen.values()):
            if info.etag:
                headers["If-None-Match"] = info.etag
            if info.last_modified:
                headers["If-Modified-Since"] = info.last_modified
        try:
            fetched = fetcher.get(info.url, FEED_TYPES | PAGE_TYPES, headers)
            if fetched.not_modified:
                self._save(replace(info, refreshed_at=time.time(), error=""))
                return FeedResult(info.url, info.title, "not modified")
            feed = parse_feed(fetched)
        except FetchError as exc:
            error = one_line(str(exc))
            self._save(replace(info, refreshed_at=time.time(), error=error))
            return FeedResult(info.url, info.title, "failed", error)
        finally:
            counter.advance(info.url)
        return self._update(fetcher, info, feed, seen, counter, new_only=False)

    def _update(
        self,
        fetcher: Fetcher,
        info: FeedInfo,
        feed: Feed,
        seen: dict[str, dict[str, Any]],
        counter: Progress,
        new_only: bool,
    ) -> FeedResult:
        """Ingest the items of ``feed`` worth fetching and record what became of them."""
        todo = [] if new_only else [i for i in feed.items if _wanted(i, seen.get(i.key))]
        parsed = fetch_items(fetcher, feed, todo, self.settings, counter)
        with self._using_store():
            report = self.qa.ingest_parsed(parsed, progress=counter.show)
            # Ingest gives one result per (origin, [outcome]) pair, in order.
            if new_only:
                records = [_item_record(info, item, None, None) for item in feed.items]
            else:
                records = [
                    _item_record(info, item, result, seen.get(item.key))
                    for item, result in zip(todo, report.results, strict=True)
                ]
            merged = {**seen, **{str(r["key"]): r for r in records}}
            updated = replace(
                info,
                title=feed.title,
                refreshed_at=time.time(),
                items=sum(1 for m in merged.values() if m["status"] == "ingested"),
                failed=sum(1 for m in merged.values() if m["status"] == "failed"),
                error="",
                etag=feed.fetched.etag,
                last_modified=feed.fetched.last_modified,
            )
            self._save(updated, records)
        return FeedResult(info.url, feed.title, "refreshed", report=report)

    def _save(self, info: FeedInfo, items: Sequence[dict[str, Any]] = ()) -> None:
        with self._using_store(), self.store.writing():
            self.records.save(info, items)

    # -- removing ------------------------------------------------------------------

    def remove(self, url: str, *, delete_articles: bool = False) -> Removal | None:
        """Stop following ``url``; None if it is not followed. ``delete_articles`` also
        removes the articles its items added (those no other followed feed added too)."""
        info = self.find(url)
        if info is None:
            return None
        with self._using_store():
            doomed: set[str] = set()
            if delete_articles:
                mine = self.records.items(info.id).values()
                doomed = {str(m["article_id"]) for m in mine if m["article_id"]}
                for other in self.records.feeds():
                    if other.id != info.id:
                        doomed -= {
                            str(m["article_id"]) for m in self.records.items(other.id).values()
                        }
                doomed &= self.store.existing(sorted(doomed))
            with self.store.writing():
                self.store.delete(sorted(doomed))
                self.records.delete(info.id)
        return Removal(info.url, info.title, len(doomed))
