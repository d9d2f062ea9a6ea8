"""Answerers turn retrieved passages into an answer with ``[n]`` markers.

``ExtractiveAnswerer`` (the default) needs no generative model: it scores every
sentence of the retrieved passages against the question and answers with the
best one to three, verbatim, in reading order. When no sentence carries enough
evidence, or the question names someone the passages never mention, it refuses.
The evidence threshold is calibrated on the development question set
(``benchmarks/calibrate.py``), not tuned per question.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from newsqa.conversation import Resolved
from newsqa.dates import mentioned_days, search_words, with_dates
from newsqa.embeddings import MiniLMEmbeddings, unpack_vectors
from newsqa.models import Answer, Citation, Hit, Passage, Span
from newsqa.text import content_terms, inert_markers, mentions, names, words

REFUSAL = "The articles don't answer this question"

# What kind of sentence answers which kind of question. These are English
# grammar (answer types), not keywords for particular questions.
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"dozens?|hundreds?|thousands?|millions?|billions?|several|few"
)
_UNITS = r"(?:second|minute|hour|day|week|month|year|decade)s?"
_DISTANCE = r"(?:kilomet(?:er|re)s?|km|miles?|met(?:er|re)s?)"
_CALENDAR = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday january february march april "
    "may june july august september october november december".split()
)
_WEEKDAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
ANSWER_PATTERNS: dict[str, re.Pattern[str]] = {
    "quote": re.compile(
        r"[\"“”]|\b(?:said|says|say|told|tells|warned|stated|added|promised|"
        r"claimed|announced|according to|denied)\b",
        re.I,
    ),
    "length": re.compile(
        rf"\b\d[\d,.]*[-\s]?(?:{_UNITS}|{_DISTANCE})\b|\b(?:{_NUMBER_WORDS})\s+{_UNITS}\b|"
        rf"\bfor\s+{_UNITS}\b|\blong time\b|\bup to\b",
        re.I,
    ),
    "number": re.compile(rf"\b\d[\d,.]*\b|\b(?:{_NUMBER_WORDS})\b", re.I),
    "time": re.compile(
        rf"\b(?:{_WEEKDAYS}|{_MONTHS})\b|\b(?:19|20)\d\d\b|\bago\b|"
        r"\b(?:last|next|this)\s+(?:week|month|year)\b|\byesterday\b|\btoday\b",
        re.I,
    ),
    "person": re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b|\b(?:spokes\w+|leader|head|chief)\b"),
    "place": re.compile(r"\b(?:in|at|from|to|inside)\s+(?:the\s+)?[A-Z]\w+|\bonline\b"),
    "reason": re.compile(
        r"\b(?:because|since|due to|as a result|so that|in order to|after|so)\b", re.I
    ),
}
_MONEY = re.compile(
    r"[$€£¥]|\b(?:dollars?|euros?|pounds?|cents?|USD|EUR)\b|\b\d[\d,.]*\s*(?:million|billion)\b",
    re.I,
)
_AGE = re.compile(r"\b\d+[-\s]years?[-\s]old\b|\baged?\s+\d+\b|\b\d+\s*,", re.I)
ANSWER_PATTERNS["money"] = _MONEY
ANSWER_PATTERNS["age"] = _AGE

# Question forms, most specific first. "Who is <Name>?" asks for a description,
# so it has no answer type; "Who <verb>...?" asks for a person not yet named.
_QUESTION_TYPES: list[tuple[re.Pattern[str], str | None]] = [
    (
        re.compile(
            r"^\s*what\s+(?:did|does|do|has|have|had|was|were|is)\b.*\b(?:say|said|tell|told|"
            r"warn|claim|promise|announce|state|statement|quote|comment)\w*\b",
            re.I,
        ),
        "quote",
    ),
    (re.compile(r"\bhow\s+old\b|\bwhat\s+age\b", re.I), "age"),
    (
        re.compile(
            r"\bhow\s+much\b.*\b(?:cost|pay|paid|worth|price|spend|spent)\b|\bprice\b", re.I
        ),
        "money",
    ),
    (re.compile(r"\bhow\s+(?:long|far)\b|\bwhat\s+(?:range|distance)\b", re.I), "length"),
    (re.compile(r"\bhow\s+(?:many|much)\b|\bwhat\s+number\b", re.I), "number"),
    (re.compile(r"\bwhen\b|\bwhat\s+(?:day|date|year|time|month)\b", re.I), "time"),
    (re.compile(r"^\s*who\s+(?:is|was|are|were)\s+(?:[A-Z]\w+\s*)+\W*$"), None),
    (re.compile(r"^\s*who\b|\bwho\s+(?:is|was|are|were)\b", re.I), "person"),
    (re.compile(r"\bwhere\b", re.I), "place"),
    (re.compile(r"\bwhy\b", re.I), "reason"),
    (re.compile(r"^\s*which\b|\bwhat\s+is\s+the\s+name\b|\bcalled\b", re.I), "name"),
]

# "how long" asks for a length; the word "long" is not evidence of one.
_WH_PHRASE = re.compile(r"\bhow\s+(?:long|many|much|far|often|old|big)\b", re.I)

_VECTOR_CACHE = 20_000

# Evidence = weighted lexical, dense and name agreement; a sentence with no
# expression of the asked-for type (no number for "how many") is discounted.
W_LEXICAL, W_DENSE, W_NAMES = 0.4, 0.4, 0.2
TYPE_MISMATCH = 0.5
# Further sentences are cited only when their evidence is this close to the best one's.
KEEP_WITHIN = 0.95
CONTEXT_WEIGHT = 0.3


def answer_type(question: str) -> str | None:
    """The kind of expression that answers ``question`` ("time", "number", ...), if any."""
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def has_answer_type(kind: str, sentence: str, question_names: list[str]) -> bool:
    """Whether ``sentence`` contains an expression of the asked-for type."""
    if kind in ("person", "name"):
        # A name the question does not already give.
        known = set(words(" ".join(question_names)))
        new = [n for n in names(sentence) if not mentions(known, n)]
        if kind == "person":
            return bool(new) or bool(ANSWER_PATTERNS["person"].search(sentence))
        return any(n.lower() not in _CALENDAR for n in new)
    return bool(ANSWER_PATTERNS[kind].search(sentence))


@dataclass
class Candidate:
    """One sentence of a retrieved passage, scored as evidence for the question."""

    hit: Hit
    span: Span
    text: str
    rank: int  # rank of its passage in retrieval (0 = best)
    score: float = 0.0
    vector: np.ndarray | None = None  # stored at ingest; None: embed it now


class Answerer(Protocol):
    """Anything that answers a resolved question from retrieved passages."""

    mode: str

    def answer(self, resolved: Resolved, hits: list[Hit]) -> Answer: ...


def refusal(question: str, reason: str, mode: str = "extractive") -> Answer:
    return Answer(question=question, text=f"{REFUSAL}: {reason}.", answerable=False, mode=mode)


def candidates(hits: list[Hit]) -> list[Candidate]:
    """Every distinct sentence of the hits (overlapping passages share sentences)."""
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for rank, hit in enumerate(hits):
        p = hit.passage
        stored = _stored_vectors(p)
        for i, span in enumerate(p.sentences):
            key = (p.article_id, span.start)
            if key in seen:
                continue
            seen.add(key)
            text = p.text[span.start - p.start : span.end - p.start]
            vector = stored[i] if stored is not None and stored[i].any() else None
            out.append(Candidate(hit, span, text, rank, vector=vector))
    return out


def date_words(cand: Candidate) -> str:
    """The resolved dates inside a candidate sentence, as words (issue 13)."""
    spans = cand.hit.passage.dates
    return search_words([d for d in spans if cand.span.start <= d.start < cand.span.end])


def _stored_vectors(passage: Passage) -> np.ndarray | None:
    if not passage.sentence_vectors:
        return None
    vectors = unpack_vectors(passage.sentence_vectors)
    return vectors if len(vectors) == len(passage.sentences) else None


def cite(n: int, hit: Hit, span: Span, text: str, score: float) -> Citation:
    """Citation ``[n]`` for the sentence ``span`` (article offsets) of a retrieved passage."""
    p = hit.passage
    return Citation(
        n=n,
        article_id=p.article_id,
        title=hit.title,
        date=hit.date,
        source=hit.source,
        text=text,
        start=span.start,
        end=span.end,
        score=score,
        passage_id=p.id,
        passage_start=p.start,
        passage_end=p.end,
    )


def missing_names(question_names: list[str], hits: list[Hit]) -> list[str]:
    """Names in the question that no retrieved passage (or its title) mentions."""
    seen = set()
    for hit in hits:
        seen.update(words(hit.passage.text))
        seen.update(words(hit.title))
        seen.update(words(search_words(hit.passage.dates)))  # "on Monday" mentions March
    return [n for n in question_names if not mentions(seen, n)]


class ExtractiveAnswerer:
    """Answers with the retrieved sentences that best answer the question."""

    mode = "extractive"

    def __init__(
        self, embeddings: MiniLMEmbeddings, min_support: float = 0.36, max_sentences: int = 3
    ) -> None:
        self.embeddings = embeddings
        self.min_support = min_support
        self.max_sentences = max_sentences
        # The same passages come back for related questions; their sentence vectors
        # are worth keeping (20k x 384 floats = 30 MB at most).
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()  # the app answers from several threads

    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        with self._vectors_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh = dict(zip(missing, self.embeddings.encode(missing), strict=True))
        with self._vectors_lock:
            self._vectors.update(fresh)
            for text in texts:
                self._vectors.move_to_end(text)
            found = np.stack([self._vectors[t] for t in texts])
            while len(self._vectors) > _VECTOR_CACHE:
                self._vectors.popitem(last=False)
        return found

    def score(self, resolved: Resolved, hits: list[Hit]) -> list[Candidate]:
        """All candidate sentences with their evidence score, best first."""
        cands = candidates(hits)
        if not cands:
            return []
        question = resolved.standalone
        kind = answer_type(resolved.question) if not resolved.followup else answer_type(question)
        q_names = resolved.names or names(question)
        asked = _WH_PHRASE.sub(" ", question)
        q_terms = content_terms(f"{asked} {mentioned_days(asked)}")  # "4 March" -> 03-04
        ctx_terms = [
            t for t in content_terms(_WH_PHRASE.sub(" ", resolved.context)) if t not in q_terms
        ]
        # A sentence's resolved dates count as its words ("on Monday" -> 4 March 2024).
        sent_terms = [set(content_terms(f"{c.text} {date_words(c)}")) for c in cands]
        # Terms found in every candidate do not tell sentences apart: inverse frequency.
        n = len(cands)
        weights = {
            t: np.log1p(n / (1 + sum(t in s for s in sent_terms))) for t in {*q_terms, *ctx_terms}
        }
        for t in ctx_terms:
            weights[t] *= CONTEXT_WEIGHT
        total = sum(weights.values()) or 1.0

        query = self.embeddings.query_vector(question)
        missing = [c for c in cands if c.vector is None]
        if missing:  # passages stored without sentence vectors
            fresh = self._sentence_vectors([c.text for c in missing])
            for c, v in zip(missing, fresh, strict=True):
                c.vector = v
        dense = np.stack([c.vector for c in cands if c.vector is not None]) @ query
        for i, cand in enumerate(cands):
            lexical = sum(w for t, w in weights.items() if t in sent_terms[i]) / total
            type_ok = kind is None or has_answer_type(kind, cand.text, q_names)
            # A sentence that quotes someone may name them in the next sentence.
            window = set(words(f"{cand.text} {date_words(cand)}")) | set(words(cand.hit.title))
            name_cov = (
                sum(mentions(window, nm) for nm in resolved.names) / len(resolved.names)
                if resolved.names
                else 0.5
            )
            evidence = (
                W_LEXICAL * lexical + W_DENSE * max(float(dense[i]), 0.0) + W_NAMES * name_cov
            )
            cand.score = float(evidence * (1.0 if type_ok else TYPE_MISMATCH))
        return sorted(cands, key=lambda c: -c.score)

    def answer(self, resolved: Resolved, hits: list[Hit]) -> Answer:
        question = resolved.question
        if not hits:
            return refusal(question, "no passage in the library matches it")
        absent = missing_names(resolved.names, hits)
        if absent:
            return refusal(question, f"no article mentions {', '.join(absent)}")
        ranked = self.score(resolved, hits)
        if not ranked or ranked[0].score < self.min_support:
            return refusal(question, "no sentence in the articles supports an answer")
        best = ranked[0].score
        picked = [
            c
            for c in ranked[: self.max_sentences]
            if c.score >= max(self.min_support, KEEP_WITHIN * best)
        ]
        # Reading order: by article (best article first), then by position.
        article_rank = {c.hit.passage.article_id: i for i, c in reversed(list(enumerate(picked)))}
        picked.sort(key=lambda c: (article_rank[c.hit.passage.article_id], c.span.start))
        citations = [
            cite(i, c.hit, c.span, c.text, round(c.score, 4)) for i, c in enumerate(picked, start=1)
        ]
        # An article's own "[2]" must not pass for the answer's marker [2].
        text = " ".join(
            f"{inert_markers(with_dates(c.text, c.start, picked[i].hit.passage.dates))} [{c.n}]"
            for i, c in enumerate(citations)
        )
        return Answer(question=question, text=text, answerable=True, citations=citations)


__all__ = ["REFUSAL", "Answerer", "ExtractiveAnswerer", "answer_type", "names", "refusal"]
