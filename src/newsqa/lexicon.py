"""Word lists and patterns that several modules read: one home for each.

English lexicons (calendar and number words), the answer's ``[n]`` citation
marker in its forms, and the stemmer shared by BM25 and answer scoring. Modules
import these rather than keep their own copies, so a fix here reaches them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january february march april may june july august september october november december"
).split()
# Capitalised like names, but never a person ("Tuesday", "May").
CALENDAR_WORDS = frozenset(WEEKDAYS) | frozenset(MONTHS)

# Number words with their values ("two" -> 2), for matching "two" against "2".
NUMBER_WORDS: dict[str, int] = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000}
# Words that express a quantity without a value of their own.
QUANTITY_WORDS = (
    "dozen dozens hundreds thousands million millions billion billions several few".split()
)


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first (so "fourteen" beats "four")."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


# The answer's citation marker "[n]", as the answerers write it.
MARKER = re.compile(r"\[(\d+)\]")
# The same with the space before it, to remove a marker cleanly.
SPACED_MARKER = re.compile(r"\s*" + MARKER.pattern)
# What small models write for a marker: "[1]", "[1, 3]", "[2-3]", "[Passage 2]", "[n=2]".
MODEL_MARKER = re.compile(
    r"\[\s*(?:passages?\s*|n\s*=\s*)?(\d{1,3}(?:\s*(?:,|;|-|–|and)\s*(?:passage\s*)?\d{1,3})*)\s*\]",
    re.I,
)


@lru_cache(maxsize=1)
def stemmer() -> Stemmer.Stemmer:
    """The English Snowball stemmer (PyStemmer), shared by BM25 and answer scoring."""
    return Stemmer.Stemmer("english")


__all__ = [
    "CALENDAR_WORDS",
    "MARKER",
    "MODEL_MARKER",
    "MONTHS",
    "NUMBER_WORDS",
    "QUANTITY_WORDS",
    "SPACED_MARKER",
    "WEEKDAYS",
    "alternation",
    "stemmer",
]
