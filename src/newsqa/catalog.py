"""The library's article list, searchable by title, source or date, and paged.

A :class:`Catalog` is one version of the list (``NewsQA.catalog`` builds one per
store generation, so it is read from the store once per write, not once per
look). It is immutable, so every thread and every app session shares it without
a lock; only its search results are memoised.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date as _date
from functools import cached_property, lru_cache

from newsqa.store import ArticleInfo

# Searches worth remembering per catalog: a user pages through one, and several
# app sessions may look at a few at once.
_MEMO = 64


@dataclass(frozen=True)
class CatalogPage:
    """One page of the articles that match a search."""

    articles: tuple[ArticleInfo, ...]
    matches: int  # how many articles match, on all pages
    page: int  # 0-based; clamped to the last page
    pages: int  # at least 1
    per_page: int

    @property
    def first(self) -> int:
        """1-based position of this page's first article among the matches (0 if none)."""
        return self.page * self.per_page + 1 if self.articles else 0

    @property
    def last(self) -> int:
        """1-based position of this page's last article among the matches (0 if none)."""
        return self.page * self.per_page + len(self.articles)


def _date_words(iso: str | None) -> str:
    """What a person may type for a date: 2024-03-05, 5 March 2024, Mar 2024."""
    if not iso:
        return "undated"
    try:
        day = _date.fromisoformat(iso)
    except ValueError:
        return iso
    month = calendar.month_name[day.month]
    return f"{iso} {day.day} {month} {month[:3]} {day.year}"


def _haystack(info: ArticleInfo) -> str:
    return f"{info.title}\n{info.source}\n{_date_words(info.date)}".casefold()


class Catalog:
    """The articles of one library version, newest first, with search and paging."""

    def __init__(self, version: str, articles: Sequence[ArticleInfo]) -> None:
        self.version = version
        self.articles: tuple[ArticleInfo, ...] = tuple(articles)
        self.passages = sum(a.passages for a in self.articles)
        self._search = lru_cache(maxsize=_MEMO)(self._search_uncached)

    def __len__(self) -> int:
        return len(self.articles)

    @cached_property
    def _by_id(self) -> dict[str, ArticleInfo]:
        return {a.id: a for a in self.articles}

    @cached_property
    def _haystacks(self) -> tuple[str, ...]:
        return tuple(_haystack(a) for a in self.articles)

    def __getitem__(self, article_id: str) -> ArticleInfo:
        """The article with this id; KeyError if it is not in this version."""
        return self._by_id[article_id]

    def get(self, article_id: str) -> ArticleInfo | None:
        """The article with this id, or None if it is not in this version."""
        return self._by_id.get(article_id)

    def search(self, query: str) -> tuple[ArticleInfo, ...]:
        """Articles whose title, source or date holds every word of ``query`` (any case).

        An empty query matches everything. Dates match as written in the store
        (2024-03-05), or by day, month name and year ("5 march", "mar 2024").
        """
        return self._search(" ".join(query.casefold().split()))

    def _search_uncached(self, query: str) -> tuple[ArticleInfo, ...]:
        words = query.split()
        if not words:
            return self.articles
        return tuple(
            article
            for article, hay in zip(self.articles, self._haystacks, strict=True)
            if all(word in hay for word in words)
        )

    def page(self, query: str, page: int, per_page: int) -> CatalogPage:
        """Page ``page`` (0-based, clamped into range) of the matches for ``query``."""
        matches = self.search(query)
        pages = max(1, math.ceil(len(matches) / per_page))
        page = min(max(page, 0), pages - 1)
        start = page * per_page
        return CatalogPage(matches[start : start + per_page], len(matches), page, pages, per_page)
