"""Sources that disagree: different articles give different values for what is asked.

When outlets report different figures, the extractive answer would show whichever
sentence scored best. Here the best-supported sentences from *different* articles
are compared before the answer is written; when they give different values of the
kind the question asks for (a number, an amount, an age, a length, a date, a
person, a name, a place), the answer says the sources differ and cites each value
with its outlet and date.

Precision comes first: a false "sources differ" on an ordinary answer is worse
than a missed one. So two sentences are compared only when

- both are well supported: the best candidate, and others whose model score is
  within ``keep_within`` of it (and above :data:`FLOOR`); a wire copy that
  retrieval folded into a passage (``Hit.copies``) lends its sentence the score
  of the sentence it parallels;
- they come from different articles (one article may well give two figures),
  published within :data:`MAX_DAYS_APART` days of each other (a figure a year
  later is a change, not a disagreement);
- they are *parallel*: they say the same thing apart from the values, which is
  measured on their content words once every value is taken out
  (:data:`PARALLEL`; stricter for names, which are also the words that differ);
- each gives a value of the asked kind that the other lacks. Values are compared
  normalised: "1,200", "1.2 thousand" and "twelve hundred" are one number;
  "on Monday" in an article of 5 March 2024 and "March 4" are one day; "Smith"
  and "John Smith" one person. When the question's terms sit next to some of the
  values ("How many were *injured*?"), only those values count.

Everything here is a few regular expressions over at most a dozen sentences.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date as _date
from difflib import SequenceMatcher

from newsqa.dates import display, named_days
from newsqa.features import Candidate, new_names
from newsqa.lexicon import CALENDAR_WORDS, NUMBER_WORDS, alternation
from newsqa.models import Answer, DateSpan, Hit, Reported
from newsqa.stories import outlet
from newsqa.text import content_terms, words

# The kinds of answer whose values can be compared (see newsqa.features.answer_type).
NUMERIC = ("number", "money", "age", "length")
NAMED = ("person", "name", "place")
KINDS = (*NUMERIC, "time", *NAMED)

FLOOR = 0.15  # a sentence the model gives less than this answers nothing
POOL = 6  # best candidates compared (folded copies' parallel sentences come on top)
# Share of the shorter sentence's content words (values taken out) the other holds.
PARALLEL = 0.6
PARALLEL_NAMES = 0.75  # names are also the words that differ: ask for more
MIN_SHARED = 3  # ... and at least this many shared content words
MAX_VALUES = 3  # distinct values shown
# Reports further apart than this are about different moments ("the average price of a
# turkey" a year later), not different accounts of one.
MAX_DAYS_APART = 7

# -- values -----------------------------------------------------------------------------

_SCALES = {"thousand": 1e3, "million": 1e6, "mln": 1e6, "billion": 1e9, "bln": 1e9}
_SCALES |= {"trillion": 1e12, "hundred": 1e2, "m": 1e6, "bn": 1e9, "k": 1e3}
_CURRENCY = {
    "$": "usd", "dlr": "usd", "dlrs": "usd", "dollar": "usd", "dollars": "usd", "usd": "usd",
    "€": "eur", "euro": "eur", "euros": "eur", "eur": "eur",
    "£": "gbp", "stg": "gbp", "pound": "gbp", "pounds": "gbp", "sterling": "gbp", "gbp": "gbp",
    "¥": "jpy", "yen": "jpy",
    "cts": "cent", "cent": "cent", "cents": "cent",
}  # fmt: skip
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_SECONDS |= {"month": 2629800, "year": 31557600, "decade": 315576000}
_METRES = {"km": 1000, "kilometre": 1000, "kilometer": 1000, "mile": 1609.344}
_METRES |= {"metre": 1, "meter": 1, "m": 1}
# Slots whose values only compare with their own kind (money, shares, durations, distances).
_MEASURES = {*_CURRENCY.values(), "pct", "seconds", "metres"}
_PERCENT = r"%|pct\b|per\s?cent\b|percent\b"
_NUMBER_WORD = alternation(NUMBER_WORDS)
AMOUNT = re.compile(
    r"(?P<cur>[$€£¥])?\s?"
    r"(?P<num>(?<![\w.,/-])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,/-])\d+(?:-\d+/\d+|/\d+|\.\d+)?"
    rf"|\b(?:{_NUMBER_WORD})\b)"
    r"(?:(?P<suffix>m|bn|k)\b)?"  # "$4m", "$1.1bn"
    rf"(?:\s*(?P<scale>{alternation(_SCALES)})\b)?"
    rf"(?:\s*(?P<pct>{_PERCENT}))?"
    r"(?:[- \t]+(?P<unit>[A-Za-z$€£¥]+))?",  # on the same line: a table's next row is no unit
    re.I,
)
_AGE = re.compile(r"[-\s]years?[-\s]old\b|^\s*,", re.I)
_AGED = re.compile(r"\baged?\s*$", re.I)
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
_MONTH = re.compile(
    r"\b(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?(?:,?\s+(?P<year>(?:1[89]|20)\d\d))?\b",
    re.I,
)
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_PLACE_NAME = re.compile(
    r"\b(?:in|at|from|to|inside|near)\s+(?:the\s+)?([A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*)"
)


@dataclass(frozen=True)
class Value:
    """A value of the asked kind in a sentence: as written, and normalised."""

    text: str  # as the sentence writes it ("1.2 million dlrs", "on Monday", "John Smith")
    start: int  # offsets in the sentence
    end: int
    slot: str  # what it measures: a unit ("usd", "pct", "people"), "date", "name"
    key: tuple[object, ...]  # normalised value, compared with :func:`_same`
    anchored: bool = False  # a question term is next to it


def _flat(text: str) -> str:
    return " ".join(text.split())  # a wire text's hard line breaks are layout


def _number(raw: str) -> float | None:
    raw = raw.lower().replace(",", "")
    if raw in NUMBER_WORDS:
        return float(NUMBER_WORDS[raw])
    if "/" in raw:
        whole, _, frac = raw.rpartition("-") if "-" in raw else ("0", "", raw)
        top, _, bottom = frac.partition("/")
        try:
            return float(whole) + float(top) / float(bottom)
        except (ValueError, ZeroDivisionError):
            return None
    try:
        return float(raw)
    except ValueError:
        return None


def _unit_word(word: str) -> str:
    w = word.lower()
    if w in _CURRENCY:
        return _CURRENCY[w]
    stemmed = content_terms(w)
    return stemmed[0] if stemmed else ""


def _amounts(text: str, kind: str, busy: list[tuple[int, int]]) -> list[Value]:
    """Numbers with their unit (the next word), normalised; ``busy``: spans that are
    dates (their digits are no amounts)."""
    out: list[Value] = []
    for m in AMOUNT.finditer(text):
        start = m.start("num") if m.group("cur") is None else m.start("cur")
        if not _free(busy, m.start("num"), m.end("num")):
            continue
        value = _number(m.group("num"))
        if value is None:
            continue
        for scale in (m.group("suffix"), m.group("scale")):
            if scale:
                value *= _SCALES[scale.lower()]
        unit_raw = m.group("unit") or ""
        bare = m.group("num").isdigit() and not (
            m.group("cur") or m.group("scale") or m.group("suffix")
        )
        if bare and _YEAR.fullmatch(m.group("num")) and not m.group("pct"):
            continue  # a year is a date, not an amount
        unit = _unit_word(unit_raw) if unit_raw else ""
        slot = unit
        if m.group("cur"):
            slot = _CURRENCY[m.group("cur")]
        elif m.group("pct"):
            slot = "pct"
        if kind == "money" and slot not in _CURRENCY.values():
            continue
        if kind == "age":
            after, before = text[m.end("num") :], text[: m.start("num")]
            if not (_AGE.match(after) or _AGED.search(before)) or value > 130:
                continue
            slot, end = "age", m.end("num")
            out.append(Value(_flat(text[start:end]), start, end, slot, (value,)))
            continue
        if kind == "length":
            base = unit_raw.lower().rstrip("s")
            if base in _SECONDS:
                value, slot = value * _SECONDS[base], "seconds"
            elif base in _METRES and base != "m":
                value, slot = value * _METRES[base], "metres"
            else:
                continue
        # Shown: the amount, and its unit when that is money or a measure ("17.50 dlrs",
        # "40 years"); a counted noun is left to the cited sentence.
        base = unit_raw.lower().rstrip("s")
        measure = unit_raw.lower() in _CURRENCY or base in _SECONDS or base in _METRES
        shown = ("num", "suffix", "scale", "pct", *(("unit",) if measure else ()))
        end = max(m.end(g) for g in shown if m.group(g))
        out.append(Value(_flat(text[start:end]), start, end, slot, (round(value, 6),)))
    return out


def _free(busy: list[tuple[int, int]], start: int, end: int) -> bool:
    return not any(a < end and start < b for a, b in busy)


def _days(text: str, article_date: str | None, spans: list[DateSpan], offset: int) -> list[Value]:
    """Dates: named days, resolved relative ones, months, years; the key is (year,
    month, day), each None where the text leaves it open (a week: its month)."""
    article_year = int(article_date[:4]) if article_date else None
    out: list[Value] = []
    for start, end, iso in named_days(text):
        parts = [int(p) for p in iso.split("-")]
        key = tuple(parts) if len(parts) == 3 else (article_year, *parts)
        out.append(Value(_flat(text[start:end]), start, end, "date", key))
    for span in spans:
        start, end = span.start - offset, span.end - offset
        if start < 0 or end > len(text):
            continue
        day = _date.fromisoformat(span.date)
        key = {
            "day": (day.year, day.month, day.day),
            "year": (day.year, None, None),
        }.get(span.granularity, (day.year, day.month, None))
        out.append(Value(_flat(text[start:end]), start, end, "date", key))
    busy = [(v.start, v.end) for v in out]
    for m in _MONTH.finditer(text):
        if not _free(busy, m.start(), m.end()) or not m.group(0)[0].isupper():
            continue
        if m.group("month").lower() == "may" and not m.group("year"):
            continue  # the verb
        month = _MONTHS.index(m.group("month").lower()[:3]) + 1
        year = int(m.group("year")) if m.group("year") else None
        out.append(Value(m.group(0), m.start(), m.end(), "date", (year, month, None)))
        busy.append((m.start(), m.end()))
    for m in _YEAR.finditer(text):
        if _free(busy, m.start(), m.end()):
            out.append(Value(m.group(0), m.start(), m.end(), "date", (int(m.group(0)), None, None)))
    return out


def _names(text: str, kind: str, question_names: list[str]) -> list[Value]:
    found = new_names(text, question_names)
    if kind == "place":
        found += [m.group(1) for m in _PLACE_NAME.finditer(text)]
        found = [n for n in found if n.lower() not in CALENDAR_WORDS]  # "from March 6"
    out: list[Value] = []
    for name in dict.fromkeys(found):
        at = text.find(name)
        tokens = tuple(sorted(set(words(name))))
        if at >= 0 and tokens:
            out.append(Value(name, at, at + len(name), "name", tokens))
    return out


def values(
    text: str,
    kind: str,
    question_names: list[str],
    article_date: str | None = None,
    date_spans: list[DateSpan] | None = None,
    offset: int = 0,
) -> list[Value]:
    """The values of ``kind`` in a sentence. ``date_spans``: its resolved relative
    dates, at article offsets (the sentence starts at ``offset``)."""
    if kind == "time":
        return _days(text, article_date, date_spans or [], offset)
    if kind in NAMED:
        return _names(text, kind, question_names)
    busy = [(a, b) for a, b, _ in named_days(text)]
    return _amounts(text, kind, busy)


def _same(kind: str, a: Value, b: Value) -> bool:
    """Whether two values can be the same fact."""
    if " ".join(a.text.lower().split()) == " ".join(b.text.lower().split()):
        # Written alike: "on Monday" in copies a day apart is one day, however the
        # articles' dates resolve it.
        return True
    if kind == "time":
        return all(x is None or y is None or x == y for x, y in zip(a.key, b.key, strict=True))
    if kind in NAMED:
        ta, tb = set(a.key), set(b.key)
        if ta <= tb or tb <= ta:
            return True  # "Smith" and "John Smith"
        return SequenceMatcher(None, a.text.lower(), b.text.lower()).ratio() >= 0.8
    (x,), (y,) = a.key, b.key
    return math.isclose(float(x), float(y), rel_tol=1e-6)  # type: ignore[arg-type]


# -- sentences ------------------------------------------------------------------------------


@dataclass
class Reading:
    """One article's best-supported sentence and the values of the asked kind in it."""

    candidate: Candidate
    values: list[Value]
    terms: set[str]  # content terms, values taken out


def _reading(
    cand: Candidate, kind: str, question_names: list[str], question_terms: set[str]
) -> Reading:
    hit = cand.hit
    found = values(
        cand.text, kind, question_names, hit.date, list(hit.passage.dates), cand.span.start
    )
    text = cand.text
    for v in sorted(found, key=lambda v: -v.start):
        text = text[: v.start] + " " + text[v.end :]
    anchored = []
    for v in found:
        # Two words either side: "killed 3 people and injured 20 others" ties 3 to
        # killing and 20 to injuries.
        near = [*words(cand.text[: v.start])[-2:], *words(v.text), *words(cand.text[v.end :])[:2]]
        near_terms = set(content_terms(" ".join(near)))
        anchored.append(
            Value(v.text, v.start, v.end, v.slot, v.key, bool(near_terms & question_terms))
        )
    return Reading(cand, anchored, set(content_terms(text)))


def parallel(a: Reading, b: Reading, kind: str) -> bool:
    """Whether two sentences say the same thing apart from their values."""
    shared = len(a.terms & b.terms)
    smaller = min(len(a.terms), len(b.terms)) or 1
    need = PARALLEL_NAMES if kind in NAMED else PARALLEL
    return shared >= MIN_SHARED and shared / smaller >= need


def _own(kind: str, mine: list[Value], theirs: list[Value]) -> list[Value]:
    """My values that none of theirs can be."""
    return [v for v in mine if not any(_same(kind, v, w) for w in theirs)]


def _differs(kind: str, a: Reading, b: Reading) -> tuple[list[Value], list[Value]] | None:
    """The values each of two parallel sentences gives and the other does not, in one
    slot (a unit, dates, names); None when they agree."""
    va, vb = a.values, b.values
    # The question's terms next to a value say which values answer it: then only those,
    # compared with each other ("runners-up three times ... the top three" against
    # "runners-up four times ... the top three": three is not the answer in either).
    # (Figures only: a name or a date is seldom next to the question's words.)
    if kind in NUMERIC and any(v.anchored for v in va) and any(v.anchored for v in vb):
        va, vb = [v for v in va if v.anchored], [v for v in vb if v.anchored]
    only_a, only_b = _own(kind, va, vb), _own(kind, vb, va)
    if not only_a or not only_b:
        return None
    if kind == "time" or kind in NAMED:
        return only_a, only_b
    for v in only_a:
        slot = [w for w in only_b if w.slot == v.slot]
        if slot:
            return [x for x in only_a if x.slot == v.slot], slot
    # One figure each, for one thing written two ways ("120 people", "95 dead").
    loose = {v.slot for v in (*only_a, *only_b)} & _MEASURES
    if len(only_a) == 1 and len(only_b) == 1 and not loose:
        return only_a, only_b
    return None


def _aligned(cand: Candidate, copy: Hit) -> Candidate | None:
    """The sentence of a folded copy's passage that parallels ``cand`` (most shared
    content words), lent ``cand``'s score: the copy was folded for saying the same."""
    mine = set(content_terms(cand.text))
    best: tuple[float, Candidate] | None = None
    p = copy.passage
    for i, span in enumerate(p.sentences):
        text = p.text[span.start - p.start : span.end - p.start]
        overlap = len(mine & set(content_terms(text))) / (len(mine) or 1)
        if best is None or overlap > best[0]:
            best = (overlap, Candidate(copy, span, text, cand.rank, i, score=cand.score))
    return best[1] if best is not None and best[0] >= PARALLEL else None


@dataclass
class SourcesDiffer:
    """The sentences of different articles that give different values, best first,
    one per distinct value, each with the values it gives."""

    kind: str
    sentences: list[Candidate]
    values: list[list[Value]]

    def answer(self, composed: Answer) -> Answer:
        """``composed`` (the sentences cited ``[1]``, ``[2]``... in this order) with the
        note in front: "Sources differ: reuters.com (4 March 2024) reports 120 [1]; ..."
        and :attr:`Answer.disagreement` filled in."""
        parts: list[str] = []
        for citation, found in zip(composed.citations, self.values, strict=True):
            said = ", ".join(dict.fromkeys(v.text for v in found))
            who = source_label(citation.source)
            when = f" ({_long_date(citation.date)})" if citation.date else ""
            parts.append(f"{who}{when} reports {said} [{citation.n}]")
            composed.disagreement.append(
                Reported(said, citation.n, who, citation.date, citation.article_id, citation.title)
            )
        composed.text = f"Sources differ: {'; '.join(parts)}. {composed.text}"
        return composed


def source_label(source: str) -> str:
    """Who published it: the outlet of a URL, the file name of a path, else the source."""
    name = outlet(source)
    if "://" not in source and "/" in name:
        return name.rstrip("/").rsplit("/", 1)[-1]
    return name


def _long_date(iso: str) -> str:
    try:
        return display(DateSpan(0, 0, iso))
    except ValueError:
        return iso


def find(
    candidates: list[Candidate],
    kind: str | None,
    question_names: list[str],
    question_terms: list[str],
    keep_within: float,
) -> SourcesDiffer | None:
    """Whether the best-supported sentences of different articles give different values
    of ``kind``; ``candidates`` sorted best first (:class:`newsqa.answering.Scored`)."""
    if kind not in KINDS or not candidates:
        return None
    terms = set(question_terms)
    top = [c for c in candidates[:POOL] if c.score >= FLOOR]
    # The bar is set by the best sentence that gives a value of the kind: when the model
    # ranks one without a value first ("... will restructure part of its debt"), its
    # score says nothing about the sentences that do give one.
    read = {id(c): _reading(c, kind, question_names, terms) for c in top}
    valued = [c for c in top if read[id(c)].values]
    if not valued:
        return None
    bar = max(FLOOR, keep_within * valued[0].score)
    pool = [c for c in top if c.score >= bar]
    # Wire copies folded into a pool sentence's passage: their parallel sentences.
    for cand in list(pool):
        for copy in cand.hit.copies:
            aligned = _aligned(cand, copy)
            if aligned is not None:
                pool.append(aligned)
    if len({c.hit.passage.article_id for c in pool}) < 2:
        return None
    # Folded copies' aligned sentences are the only pool members not read above.
    every = (read.get(id(c)) or _reading(c, kind, question_names, terms) for c in pool)
    readings = [r for r in every if r.values]
    # The best-supported sentence first; a sentence that gives no value of the kind
    # (the model may rank "X said..." first) cannot disagree, nor can its group.
    for first in readings:
        found = _against(first, readings, kind)
        if found is not None:
            return found
    return None


def _days_apart(a: str | None, b: str | None) -> int:
    if not a or not b:
        return 0  # undated: the texts alone decide
    try:
        return abs((_date.fromisoformat(a) - _date.fromisoformat(b)).days)
    except ValueError:
        return 0


def _against(first: Reading, readings: list[Reading], kind: str) -> SourcesDiffer | None:
    """The sentences of other articles that parallel ``first`` and give values it lacks
    (one per article, one per value)."""
    chosen: list[tuple[Reading, list[Value]]] = []
    articles = {first.candidate.hit.passage.article_id}
    for other in readings:
        article = other.candidate.hit.passage.article_id
        if article in articles or not parallel(first, other, kind):
            continue
        if _days_apart(first.candidate.hit.date, other.candidate.hit.date) > MAX_DAYS_APART:
            continue  # a figure a year later is news of its own, not a disagreement
        found = _differs(kind, first, other)
        if found is None:
            continue
        mine, theirs = found
        if not chosen:
            chosen.append((first, mine))
        if any(not _own(kind, theirs, shown) for _, shown in chosen):
            continue  # a value already shown, from another source
        chosen.append((other, theirs))
        articles.add(article)
        if len(chosen) >= MAX_VALUES:
            break
    if not chosen:
        return None
    return SourcesDiffer(kind, [r.candidate for r, _ in chosen], [v for _, v in chosen])


__all__ = [
    "KINDS",
    "Reading",
    "SourcesDiffer",
    "Value",
    "find",
    "parallel",
    "source_label",
    "values",
]
