"""Relative dates resolved: "on Monday" in an article of 5 March 2024 is 4 March 2024.

News writes "on Monday", "yesterday", "last week", "two years ago" and leaves the
date to the dateline. :func:`resolve` finds such expressions (exact article
offsets) and resolves them against the article's date:

- weekdays follow the newsroom convention: the day itself counts ("on Tuesday" in
  a Tuesday article is that day); otherwise the last such day before the article,
  or the next one when the sentence speaks of the future ("will", "is due to");
- everything else ("yesterday", "last week", "a month ago", "next year") goes to
  ``dateparser`` with the article's date as ``RELATIVE_BASE``.

Each resolution keeps its granularity (a day, a week, a month, a year), which is
how it is shown: "on Monday (4 March 2024)", "last week (week of 26 February
2024)", "last year (2023)". Accuracy is measured on hand-checked expressions from
the news corpora: ``benchmarks/dates.py`` (labels in ``tests/data/date_expressions.csv``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from newsqa.models import DateSpan

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_COUNT = (
    r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"a\s+few|several|\d{1,2})"
)
_UNIT = r"(?:day|week|month|year)s?"
EXPRESSION = re.compile(
    r"\b(?:"
    rf"(?:(?:on|last|this|next|early|late|since|until|by|from)\s+)?(?P<weekday>{'|'.join(_WEEKDAYS)})"
    r"(?:\s+(?:morning|afternoon|evening|night))?"
    r"|(?P<day>yesterday|today|tomorrow|tonight)"
    r"|(?P<rel>(?:last|next|this|earlier\s+this|later\s+this)\s+(?P<relunit>week|month|year))"
    rf"|(?P<ago>{_COUNT}\s+{_UNIT}\s+ago)"
    r")\b",
    re.IGNORECASE,
)
# The sentence speaks of what is to come: a weekday is then the next one.
_FUTURE = re.compile(
    r"\b(?:will|shall|'ll|is\s+due|are\s+due|is\s+set\s+to|are\s+set\s+to|"
    r"is\s+expected\s+to|are\s+expected\s+to|scheduled|"
    r"plans?\s+to|planned\s+for|is\s+to|are\s+to)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "January February March April May June July August September October November December"
).split()


@lru_cache(maxsize=1)
def _dateparser() -> Any:
    import dateparser  # imported on first use: it takes ~0.5 s

    return dateparser


def _weekday(name: str, base: date, future: bool) -> date:
    target = _WEEKDAYS.index(name.lower())
    if future:
        return base + timedelta(days=(target - base.weekday()) % 7)
    return base - timedelta(days=(base.weekday() - target) % 7)


def _granularity(match: re.Match[str]) -> str:
    if match.group("rel"):
        return match.group("relunit").lower()
    if match.group("ago"):
        unit = match.group("ago").split()[-2].lower().rstrip("s")
        return "day" if unit in ("day", "week") else unit
    return "day"


def _resolve_one(match: re.Match[str], context: str, base: date) -> date | None:
    """``context``: the sentence up to the expression and a little after it."""
    if match.group("weekday"):
        phrase = match.group(0).lower()
        if phrase.startswith("next"):
            # "next Monday": the one after the coming one only when today is Monday.
            return _weekday(match.group("weekday"), base + timedelta(days=1), True)
        if phrase.startswith("last"):
            return _weekday(match.group("weekday"), base - timedelta(days=1), False)
        return _weekday(match.group("weekday"), base, bool(_FUTURE.search(context)))
    text = match.group(0).lower()
    if text in ("today", "tonight"):
        return base
    if text == "yesterday":
        return base - timedelta(days=1)
    if text == "tomorrow":
        return base + timedelta(days=1)
    return _parse(re.sub(r"^(?:earlier|later)\s+", "", text), base)


@lru_cache(maxsize=4096)
def _parse(phrase: str, base: date) -> date | None:
    """dateparser is slow (milliseconds a call); the same phrases recur per date."""
    settings = {"RELATIVE_BASE": datetime(base.year, base.month, base.day)}
    found = _dateparser().parse(phrase, languages=["en"], settings=settings)
    return found.date() if found is not None else None


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def resolve(text: str, article_date: str | None, sentences: Any = None) -> list[DateSpan]:
    """Relative date expressions in ``text`` with their resolved dates.

    ``article_date``: ISO date the expressions are relative to (none: nothing is
    resolved). ``sentences``: the text's sentence spans (objects with ``start`` and
    ``end``), so tense is judged within the sentence; without them, the 200
    characters before each expression are used.
    """
    if not article_date:
        return []
    base = date.fromisoformat(article_date)
    spans = list(sentences or [])
    out: list[DateSpan] = []
    for match in EXPRESSION.finditer(text):
        sentence_start = max(0, match.start() - 200)
        for n, s in enumerate(spans):
            if s.start <= match.start() < s.end:
                sentence_start = s.start
                # A wire text's hard line breaks can split a sentence ("...will start
                # a meeting" / "in Istanbul on Saturday."): then the one before counts.
                if match.start() - s.start < 40 and n > 0:
                    sentence_start = spans[n - 1].start
                break
        before = text[sentence_start : match.start()]
        after = text[match.end() : match.end() + 40]
        resolved = _resolve_one(match, f"{before} {after}", base)
        if resolved is None:
            continue
        granularity = _granularity(match)
        if granularity == "week":
            resolved = _week_start(resolved)
        out.append(DateSpan(match.start(), match.end(), resolved.isoformat(), granularity))
    return out


def display(span: DateSpan) -> str:
    """How a resolved date reads: "4 March 2024", "week of 26 February 2024", "2023"."""
    day = date.fromisoformat(span.date)
    if span.granularity == "year":
        return str(day.year)
    if span.granularity == "month":
        return f"{_MONTHS[day.month - 1]} {day.year}"
    long = f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
    return f"week of {long}" if span.granularity == "week" else long


def with_dates(text: str, start: int, spans: Any) -> str:
    """``text`` (found at article offset ``start``) with each resolved date after its
    expression: "warned Germany on Monday (4 March 2024) that ...".

    Use it to show a cited sentence; the citation's own text stays exact.
    """
    pieces: list[str] = []
    cursor = 0
    for span in sorted(spans, key=lambda s: s.start):
        a, b = span.start - start, span.end - start
        if a < cursor or b > len(text):
            continue  # outside this text (a passage's other sentences)
        pieces.append(text[cursor:b])
        pieces.append(f" ({display(span)})")
        cursor = b
    pieces.append(text[cursor:])
    return "".join(pieces)


_MONTH_NAMES = "|".join(m[:3] + r"(?:" + m[3:] + r")?" for m in _MONTHS)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<{}>\d{{4}}))?"
_MENTIONED = re.compile(
    r"\b(?:(?P<iso>\d{4}-\d{2}-\d{2})"
    rf"|(?P<d1>{_DAY})\s+(?:of\s+)?(?P<m1>{_MONTH_NAMES})\.?{_YEAR.format('y1')}"
    rf"|(?P<m2>{_MONTH_NAMES})\.?\s+(?P<d2>{_DAY}){_YEAR.format('y2')}"
    r")\b",
    re.IGNORECASE,
)


def named_days(text: str) -> list[tuple[int, int, str]]:
    """Days named outright in ``text`` ("4 March 2024", "March 4", "2024-03-04"):
    ``(start, end, day)`` with the day as ``"2024-03-04"``, or ``"03-04"`` when the
    text gives no year."""
    out: list[tuple[int, int, str]] = []
    for m in _MENTIONED.finditer(text):
        if m.group("iso"):
            out.append((m.start(), m.end(), m.group("iso")))
            continue
        name = (m.group("m1") or m.group("m2")).lower()[:3]
        month = [x.lower()[:3] for x in _MONTHS].index(name) + 1
        day = int(re.sub(r"\D", "", m.group("d1") or m.group("d2")))
        year = m.group("y1") or m.group("y2")
        if not 1 <= day <= 31:
            continue
        out.append(
            (
                m.start(),
                m.end(),
                f"{year}-{month:02d}-{day:02d}" if year else f"{month:02d}-{day:02d}",
            )
        )
    return out


def mentioned_days(text: str) -> str:
    """Days named outright in ``text`` ("4 March 2024", "March 4", "2024-03-04") as the
    tokens :func:`search_words` gives a resolved day: "2024-03-04 03-04" (the second
    also for a day named without its year). For matching a question to sentences."""
    tokens: list[str] = []
    for _, _, day in named_days(text):
        tokens += [day, day[5:]] if len(day) == 10 else [day]
    return " ".join(tokens)


def search_words(spans: Any) -> str:
    """Resolved dates as words for the BM25 index and answer scoring: "4 March 2024"
    also matches "March 4" and "2024-03-04"."""
    words: list[str] = []
    for span in spans:
        day = date.fromisoformat(span.date)
        month = _MONTHS[day.month - 1]
        if span.granularity == "day":
            words.append(f"{day.day} {month} {day.year} {span.date} {span.date[5:]}")
        elif span.granularity in ("week", "month"):
            words.append(f"{month} {day.year}")
        else:
            words.append(str(day.year))
    return " ".join(words)
