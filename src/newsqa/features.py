"""What the learned answerer sees: features of each candidate sentence and of the question.

The answerer (:mod:`newsqa.answering`) scores every sentence of the retrieved
passages with a model trained on external question sets
(``benchmarks/train_answerer.py``); this module turns a question and its hits into
the numbers that model reads. Training and answering call the same functions, so
what was measured is what runs.

Two kinds of rows:

- one per candidate sentence (:data:`SENTENCE_FEATURES`): how well the sentence,
  its passage and its article match the question (MiniLM cosine, IDF-weighted term
  coverage, names, the kind of answer asked for), and how it compares with the
  other candidates;
- one per question (:data:`QUESTION_FEATURES`), built from the scored candidates:
  how strong and how clear-cut the best evidence is, and whether the question's
  terms and names occur anywhere in what was retrieved. It feeds the probability
  that the passages answer the question at all.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

import numpy as np

from newsqa.conversation import Resolved
from newsqa.dates import search_words
from newsqa.lexicon import (
    CALENDAR_WORDS,
    MONTHS,
    NUMBER_WORDS,
    QUANTITY_WORDS,
    WEEKDAYS,
    alternation,
)
from newsqa.models import DateSpan, Hit, Span
from newsqa.text import content_terms, mentions, names, words

# -- the kind of answer a question asks for -------------------------------------------------

# English grammar (answer types), not keywords for particular questions.
_NUMBER_WORDS = alternation([*NUMBER_WORDS, *QUANTITY_WORDS])
_UNITS = r"(?:second|minute|hour|day|week|month|year|decade)s?"
_DISTANCE = r"(?:kilomet(?:er|re)s?|km|miles?|met(?:er|re)s?)"
_WEEKDAYS = alternation(WEEKDAYS)
_MONTHS = alternation(MONTHS)

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
    "place": re.compile(r"\b(?:in|at|from|to|inside|near)\s+(?:the\s+)?[A-Z]\w+|\bonline\b"),
    "reason": re.compile(
        r"\b(?:because|since|due to|as a result|so that|in order to|after|so)\b", re.I
    ),
    "money": re.compile(
        r"[$€£¥]|\b(?:dollars?|euros?|pounds?|cents?|USD|EUR)\b|"
        r"\b\d[\d,.]*\s*(?:million|billion|trillion)\b",
        re.I,
    ),
    "age": re.compile(r"\b\d+[-\s]years?[-\s]old\b|\baged?\s+\d+\b|\b\d+\s*,", re.I),
}
KINDS: tuple[str, ...] = (*ANSWER_PATTERNS, "name")

# Nouns that say what a "what/which/this <noun>" question asks for.
_PLACE_NOUNS = (
    r"country|countries|city|cities|state|states|nation|town|village|region|province|island|"
    r"capital|continent|county|territory|port|location|place|venue|site|landmark|monument|"
    r"building|park|river|mountain|lake|sea|ocean|airport|stadium|neighbou?rhood|district"
)
_PERSON_NOUNS = (
    r"person|people|man|woman|men|women|artist|singer|actor|actress|rapper|musician|author|"
    r"writer|player|athlete|coach|president|leader|politician|senator|governor|lawmaker|"
    r"official|minister|ceo|executive|founder|billionaire|judge|star|celebrity|journalist|"
    r"director|candidate|member|king|queen|prince|princess|pope|host|comedian"
)
_NAME_NOUNS = (
    r"company|companies|firm|brand|team|club|organi[sz]ation|group|party|agency|network|"
    r"app|platform|airline|bank|university|school|band|film|movie|show|series|book|album|"
    r"song|game|event|award|prize|product|drug|vaccine|disease|virus|species|animal|"
    r"language|religion|sport|website|newspaper|magazine|ship|storm|hurricane|law|bill"
)
_WHAT = r"\b(?:what|which|this|these)\s+(?:[\w-]+\s+)?"

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
    (
        re.compile(r"\bhow\s+(?:many|much)\b|\bwhat\s+(?:number|percentage|share)\b", re.I),
        "number",
    ),
    (re.compile(r"\bwhen\b|\bwhat\s+(?:day|date|year|time|month|decade)\b", re.I), "time"),
    (re.compile(r"^\s*[Ww]ho\s+(?:is|was|are|were)\s+(?:[A-Z]\w+\s*)+\W*$"), None),
    (re.compile(r"^\s*who\b|\bwho\s+(?:is|was|are|were)\b", re.I), "person"),
    (re.compile(rf"{_WHAT}(?:{_PERSON_NOUNS})\b", re.I), "person"),
    (re.compile(rf"\bwhere\b|{_WHAT}(?:{_PLACE_NOUNS})\b", re.I), "place"),
    (re.compile(r"\bwhy\b", re.I), "reason"),
    (
        re.compile(
            rf"^\s*which\b|\bwhat\s+is\s+the\s+name\b|\bcalled\b|\bnamed\b|"
            rf"{_WHAT}(?:{_NAME_NOUNS})\b",
            re.I,
        ),
        "name",
    ),
]

# "how long" asks for a length; the word "long" is not evidence of one.
_WH_PHRASE = re.compile(r"\bhow\s+(?:long|many|much|far|often|old|big)\b", re.I)


def answer_type(question: str) -> str | None:
    """The kind of expression that answers ``question`` ("time", "place", ...), if any."""
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def new_names(sentence: str, question_names: list[str]) -> list[str]:
    """Names in ``sentence`` that the question does not already give (no weekdays/months)."""
    known = set(words(" ".join(question_names)))
    return [
        n for n in names(sentence) if not mentions(known, n) and n.lower() not in CALENDAR_WORDS
    ]


def has_answer_type(kind: str, sentence: str, question_names: list[str]) -> bool:
    """Whether ``sentence`` contains an expression of the asked-for type."""
    if kind in ("person", "name"):
        fresh = new_names(sentence, question_names)
        if kind == "person":
            return bool(fresh) or bool(ANSWER_PATTERNS["person"].search(sentence))
        return bool(fresh)
    if kind == "place":
        return bool(new_names(sentence, question_names)) or bool(
            ANSWER_PATTERNS["place"].search(sentence)
        )
    return bool(ANSWER_PATTERNS[kind].search(sentence))


# -- candidates -----------------------------------------------------------------------------


@dataclass
class Candidate:
    """One sentence of a retrieved passage: where it is, and what the model made of it."""

    hit: Hit
    span: Span
    text: str
    rank: int  # rank of its passage in retrieval (0 = best)
    position: int  # index of the sentence in its passage
    vector: np.ndarray | None = None  # pooled at ingest; None: embed it at question time
    score: float = 0.0  # the model's probability that this sentence answers the question


def candidates(hits: list[Hit]) -> list[Candidate]:
    """Every distinct sentence of the hits (overlapping passages share sentences), with
    the vector pooled for it at ingest where the library has one."""
    seen: set[tuple[str, int]] = set()
    out: list[Candidate] = []
    for rank, hit in enumerate(hits):
        p = hit.passage
        stored = hit.sentence_vectors  # [len(p.sentences), 384] or None
        for i, span in enumerate(p.sentences):
            key = (p.article_id, span.start)
            if key in seen:
                continue
            seen.add(key)
            text = p.text[span.start - p.start : span.end - p.start]
            vector = stored[i] if stored is not None and stored[i].any() else None
            out.append(Candidate(hit, span, text, rank, i, vector=vector))
    return out


# -- features -------------------------------------------------------------------------------

SENTENCE_FEATURES: tuple[str, ...] = (
    "dense",  # MiniLM cosine of question and sentence
    "dense_gap",  # ... minus the best candidate's
    "dense_rank",  # log(1 + rank of the sentence by cosine)
    "passage_dense",  # cosine of question and passage
    "passage_dense_gap",
    "passage_rank",  # log(1 + fused retrieval rank of the passage)
    # Only relative BM25 figures: an absolute score depends on the library's size
    # (IDF over 15 passages is a fraction of IDF over 13,000), and users' libraries
    # range from one article to thousands.
    "bm25_share",  # BM25 score of the passage over the best passage's
    "lexical",  # IDF-weighted share of the question's terms in the sentence
    "lexical_gap",
    "lexical_rank",
    "terms",  # unweighted share of the question's terms in the sentence
    "passage_terms",  # ... in the passage and its title
    "title_terms",  # ... in the title
    "neighbour_terms",  # ... in the sentence before or after
    "bigrams",  # share of the question's adjacent term pairs in the sentence
    "novelty",  # share of the sentence's terms the question does not have
    "names",  # share of the question's names in the sentence or title
    "passage_names",  # ... in the passage or title
    "type_ok",  # an expression of the asked-for kind is present (1 when no kind)
    "new_names",  # log(1 + names the question does not give)
    "number",
    "quote",
    "length",  # log of the sentence's length in characters
    "first",  # the article's opening sentence
    "position",  # index of the sentence in its passage
    "article_hits",  # passages of the same article among the hits
    "article_rank",  # log(1 + best rank of the article's passages)
    "question_terms",  # log(1 + content terms in the question)
    "question_names",  # the question names someone or something
    "followup",
    *(f"kind_{k}" for k in KINDS),
    *(f"type_ok_{k}" for k in KINDS),
)

# What the hits say about the question whatever the sentence model makes of them...
QUESTION_BASE: tuple[str, ...] = (
    "max_dense",
    "max_passage_dense",
    "max_lexical",
    "max_terms",
    "terms_found",  # share of the question's terms anywhere in the hits
    "idf_found",  # IDF-weighted (over the candidates) share of them
    "names_found",  # share of the question's names anywhere in the hits
    "articles",  # distinct articles among the hits
    "question_terms",
    "question_names",
    "followup",
    *(f"kind_{k}" for k in KINDS),
)
# ... what the question's own form says (some forms are harder to answer from text) ...
_WH_WORDS = ("who", "what", "when", "where", "why", "how", "which")
QUESTION_FORM: tuple[str, ...] = (
    *(f"wh_{w}" for w in _WH_WORDS),
    "yes_no",  # "Is ...?", "Did ...?"
    "declarative",  # a quiz clue ("This artist ...") or an unfinished sentence ("After ...:")
    "inference",  # "probably", "likely", "feel", "think": asks what the text implies
    "question_words",  # log(1 + words)
    "question_number",  # the question holds a number
)
# ... and what the sentence model's logits say.
QUESTION_FEATURES: tuple[str, ...] = (
    "top",  # the best sentence's logit
    "second",
    "margin",  # top - second
    "top3",  # mean logit of the best three
    "top_type_ok",
    "top_names",
    "top_dense",
    "top_lexical",
    *QUESTION_BASE,
    *QUESTION_FORM,
)


@dataclass
class QuestionView:
    """What the features need to know about a question, computed once."""

    kind: str | None
    names: list[str]
    terms: list[str]  # stemmed content terms of the question (context ones too, down-weighted)
    weights: dict[str, float]  # term -> IDF weight over the candidates
    bigrams: set[tuple[str, str]]
    followup: bool


_CONTEXT_WEIGHT = 0.3  # terms a follow-up carries from earlier turns count less


def question_view(resolved: Resolved, sentence_terms: list[set[str]]) -> QuestionView:
    question = resolved.standalone
    kind = answer_type(resolved.question) if not resolved.followup else answer_type(question)
    own = content_terms(_WH_PHRASE.sub(" ", question))
    context = [t for t in content_terms(_WH_PHRASE.sub(" ", resolved.context)) if t not in own]
    n = len(sentence_terms)
    # Terms found in every candidate do not tell sentences apart: inverse frequency.
    weights = {
        t: math.log1p(n / (1 + sum(t in s for s in sentence_terms))) for t in {*own, *context}
    }
    for t in context:
        weights[t] *= _CONTEXT_WEIGHT
    return QuestionView(
        kind=kind,
        # "4 March": a date, not a name the passages must mention.
        names=[n for n in resolved.names or names(question) if n.lower() not in CALENDAR_WORDS],
        terms=list(dict.fromkeys(own + context)),
        weights=weights,
        bigrams=set(itertools.pairwise(own)),
        followup=resolved.followup,
    )


def sentence_dates(c: Candidate) -> list[DateSpan]:
    """The resolved relative dates inside the candidate's sentence."""
    return [d for d in c.hit.passage.dates if c.span.start <= d.start and d.end <= c.span.end]


def _date_terms(c: Candidate) -> set[str]:
    """The sentence's resolved dates as terms: "on Monday" in an article of 5 March 2024
    also says "4 March 2024", so it matches a question that names that day."""
    spans = sentence_dates(c)
    return set(content_terms(search_words(spans))) if spans else set()


def _share(found: int, total: int) -> float:
    return found / total if total else 0.0


def sentence_features(
    resolved: Resolved, cands: list[Candidate], query: np.ndarray
) -> tuple[np.ndarray, QuestionView]:
    """One row of :data:`SENTENCE_FEATURES` per candidate (every vector must be set)."""
    sent_terms = [set(content_terms(c.text)) | _date_terms(c) for c in cands]
    sent_seq = [content_terms(c.text) for c in cands]
    view = question_view(resolved, sent_terms)
    terms, weights = view.terms, view.weights
    total_weight = sum(weights.values()) or 1.0

    vectors = np.stack([c.vector for c in cands if c.vector is not None])
    dense = vectors @ query
    passage_terms: dict[str, set[str]] = {}
    title_terms: dict[str, set[str]] = {}
    passage_words: dict[str, set[str]] = {}
    passage_dense: dict[str, float] = {}
    for c in cands:
        pid = c.hit.passage.id
        if pid not in passage_terms:
            title = set(content_terms(c.hit.title))
            title_terms[pid] = title
            passage_terms[pid] = set(content_terms(c.hit.passage.text)) | title
            passage_words[pid] = set(words(c.hit.passage.text)) | set(words(c.hit.title))
    for c, d in zip(cands, dense, strict=True):
        # Hits found by BM25 alone carry no passage cosine: the mean of the passage's
        # sentence vectors stands in for it (the same forward pass produced both).
        pid = c.hit.passage.id
        if c.hit.dense_score is not None:
            passage_dense[pid] = float(c.hit.dense_score)
        else:
            passage_dense[pid] = max(passage_dense.get(pid, -1.0), float(d))
    bm25 = {c.hit.passage.id: c.hit.bm25_score or 0.0 for c in cands}
    best_bm25 = max(bm25.values()) or 1.0
    article_hits: dict[str, int] = {}
    article_rank: dict[str, int] = {}
    for c in cands:
        aid = c.hit.passage.article_id
        article_rank[aid] = min(article_rank.get(aid, c.rank), c.rank)
    for pid_article in {(c.hit.passage.id, c.hit.passage.article_id) for c in cands}:
        article_hits[pid_article[1]] = article_hits.get(pid_article[1], 0) + 1
    # Sentences around each candidate, within its passage (by passage and position).
    by_position = {(c.hit.passage.id, c.position): i for i, c in enumerate(cands)}

    lexical = np.array(
        [sum(w for t, w in weights.items() if t in s) / total_weight for s in sent_terms]
    )
    plain = np.array([_share(sum(t in s for t in terms), len(terms)) for s in sent_terms])
    dense_order = np.argsort(-dense, kind="stable")
    dense_rank = np.empty(len(cands))
    dense_rank[dense_order] = np.arange(len(cands))
    lexical_order = np.argsort(-lexical, kind="stable")
    lexical_rank = np.empty(len(cands))
    lexical_rank[lexical_order] = np.arange(len(cands))
    best_dense, best_lexical = float(dense.max()), float(lexical.max())
    best_passage_dense = max(passage_dense.values())
    kind = view.kind
    kind_row = [float(kind == k) for k in KINDS]

    rows = []
    for i, c in enumerate(cands):
        pid = c.hit.passage.id
        aid = c.hit.passage.article_id
        s = sent_terms[i]
        around = (by_position.get((pid, c.position - 1)), by_position.get((pid, c.position + 1)))
        neighbours = [plain[j] for j in around if j is not None]
        seq = sent_seq[i]
        pairs = set(itertools.pairwise(seq))
        window = set(words(c.text)) | set(words(c.hit.title))
        type_ok = kind is None or has_answer_type(kind, c.text, view.names)
        fresh = new_names(c.text, view.names)
        rows.append(
            [
                dense[i],
                dense[i] - best_dense,
                math.log1p(dense_rank[i]),
                passage_dense[pid],
                passage_dense[pid] - best_passage_dense,
                math.log1p(c.rank),
                bm25[pid] / best_bm25,
                lexical[i],
                lexical[i] - best_lexical,
                math.log1p(lexical_rank[i]),
                plain[i],
                _share(sum(t in passage_terms[pid] for t in terms), len(terms)),
                _share(sum(t in title_terms[pid] for t in terms), len(terms)),
                max(neighbours, default=0.0),
                _share(len(pairs & view.bigrams), len(view.bigrams)),
                _share(len(s - set(terms)), len(s)),
                _share(sum(mentions(window, n) for n in view.names), len(view.names)),
                _share(sum(mentions(passage_words[pid], n) for n in view.names), len(view.names)),
                float(type_ok),
                math.log1p(len(fresh)),
                float(bool(ANSWER_PATTERNS["number"].search(c.text))),
                float(bool(ANSWER_PATTERNS["quote"].search(c.text))),
                math.log(max(len(c.text), 1)),
                float(c.span.start < 3),
                float(c.position),
                float(article_hits[aid]),
                math.log1p(article_rank[aid]),
                math.log1p(len(terms)),
                float(bool(view.names)),
                float(view.followup),
                *kind_row,
                *(float(type_ok and kind == k) for k in KINDS),
            ]
        )
    return np.asarray(rows, dtype=np.float32), view


def question_base(view: QuestionView, rows: np.ndarray, hits: list[Hit]) -> np.ndarray:
    """The :data:`QUESTION_BASE` row: what the hits hold, before any sentence is scored."""
    col = _COLUMN
    all_terms: set[str] = set()
    all_words: set[str] = set()
    for hit in hits:
        all_terms.update(content_terms(hit.passage.text))
        all_terms.update(content_terms(hit.title))
        all_words.update(words(hit.passage.text))
        all_words.update(words(hit.title))
    terms = view.terms
    total_weight = sum(view.weights.values()) or 1.0
    return np.asarray(
        [
            float(rows[:, col["dense"]].max()),
            float(rows[:, col["passage_dense"]].max()),
            float(rows[:, col["lexical"]].max()),
            float(rows[:, col["terms"]].max()),
            _share(sum(t in all_terms for t in terms), len(terms)),
            sum(w for t, w in view.weights.items() if t in all_terms) / total_weight,
            _share(sum(mentions(all_words, n) for n in view.names), len(view.names))
            if view.names
            else 1.0,
            float(len({h.passage.article_id for h in hits})),
            math.log1p(len(terms)),
            float(bool(view.names)),
            float(view.followup),
            *(float(view.kind == k) for k in KINDS),
        ],
        dtype=np.float32,
    )


_YES_NO = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|will|would|can|could|should|has|have|had)\b", re.I
)
_INFERENCE = re.compile(
    r"\b(?:probabl\w*|likely|feels?|felt|thinks?|thought|believes?|believed|opinion|"
    r"attitude|assume|suggests?|implies|infer\w*)\b",
    re.I,
)
_NUMBER = re.compile(r"\d")


def question_form(question: str) -> np.ndarray:
    """The :data:`QUESTION_FORM` row of a (standalone) question."""
    tokens = words(question)
    head = tokens[:5]  # "In 2020, how many ...": the question word comes early
    wh = [
        float(w in head or (w == "who" and ("whom" in head or "whose" in head))) for w in _WH_WORDS
    ]
    yes_no = bool(_YES_NO.match(question))
    return np.asarray(
        [
            *wh,
            float(yes_no),
            float(not any(wh) and not yes_no),
            float(bool(_INFERENCE.search(question))),
            math.log1p(len(tokens)),
            float(bool(_NUMBER.search(question))),
        ],
        dtype=np.float32,
    )


def question_features(
    base: np.ndarray, form: np.ndarray, rows: np.ndarray, logits: np.ndarray
) -> np.ndarray:
    """The :data:`QUESTION_FEATURES` row, from :func:`question_base`,
    :func:`question_form` and the candidates' rows and logits."""
    col = _COLUMN
    order = np.argsort(-logits, kind="stable")
    top = order[0]
    ranked = logits[order]
    second = float(ranked[1]) if len(ranked) > 1 else float(ranked[0]) - 5.0
    head = [
        float(ranked[0]),
        second,
        float(ranked[0]) - second,
        float(ranked[:3].mean()),
        float(rows[top, col["type_ok"]]),
        float(rows[top, col["names"]]),
        float(rows[top, col["dense"]]),
        float(rows[top, col["lexical"]]),
    ]
    return np.concatenate([np.asarray(head, dtype=np.float32), base, form])


_COLUMN = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
