"""Small text utilities shared by question analysis, follow-ups and answer scoring,
and by what the app and the reports print."""

from __future__ import annotations

import re
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN

from newsqa.lexicon import MARKER, stemmer

WORD = re.compile(r"[\w’'-]+", re.UNICODE)
# Runs of capitalised words ("Maria Zakharova", "Air Force"), allowing "von", "de" inside.
NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:(?:von|van|de|der|al|bin)\s+)?[A-Z][\w’'-]*)*")
POSSESSIVE = re.compile(r"[’']s?$")
QUESTION_WORDS = frozenset(
    "what who whom whose when where why how which did does do is are was were has have had "
    "can could will would should may might be been the a an".split()
)
STOPWORDS = frozenset(STOPWORDS_EN) | QUESTION_WORDS | {"s", "’s", "'s"}


# Answering reads the same sentences, titles and passages many times over (each
# candidate's neighbours, its passage, its title; the next question's candidates), so
# the word lists are cached by text: the last 2,048 texts, about 20 MiB when they are
# whole passages. Callers get their own list.


@lru_cache(maxsize=2_048)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w.strip("’'-").lower() for w in WORD.findall(text) if w.strip("’'-"))


def words(text: str) -> list[str]:
    return list(_words(text))


@lru_cache(maxsize=16_384)
def stem(word: str) -> str:
    return str(stemmer().stemWord(word.lower()))


@lru_cache(maxsize=2_048)
def _content_terms(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in _words(text) if w not in STOPWORDS and len(w) > 1)


def content_terms(text: str) -> list[str]:
    """Stemmed words that carry meaning (no stopwords or question words), in order."""
    return list(_content_terms(text))


def names(text: str) -> list[str]:
    """Proper-name phrases, skipping a capitalised question word or a sentence's first word
    when it is a common word ("What", "The")."""
    found = []
    for match in NAME.finditer(text):
        phrase = match.group(0)
        tokens = phrase.split()
        # "What's", "Who's": a contracted question word is not a name.
        while tokens and POSSESSIVE.sub("", tokens[0]).lower() in STOPWORDS:
            tokens = tokens[1:]
        if tokens:
            found.append(POSSESSIVE.sub("", " ".join(tokens)))
    return found


def name_tokens(name: str) -> list[str]:
    return [w for w in words(name) if w not in STOPWORDS]


def mentions(text_words: set[str], name: str) -> bool:
    """Whether a text (given as its lower-cased word set) mentions a name.

    A 5-letter prefix match lets "Russia" find "Russian" and "Germany" find "German".
    """
    for token in name_tokens(name):
        prefix = token[:5]
        if token in text_words or any(w.startswith(prefix) for w in text_words if len(prefix) >= 4):
            return True
    return False


# Put inside a "[n]" that comes from an article, so it reads the same but is never
# taken for one of the answer's markers. (U+2060 WORD JOINER: invisible, no width.)
_INERT = "\u2060"


def plural(n: int, noun: str) -> str:
    """``"1 passage"``, ``"2,226 passages"``: a count and its noun, in English."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def inert_markers(text: str) -> str:
    """``text`` with every ``[n]`` in it made inert: shown alike, never matched by MARKER."""
    return MARKER.sub(lambda m: f"[{m.group(1)}{_INERT}]", text)
