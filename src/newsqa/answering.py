"""Answerers turn retrieved passages into an answer with ``[n]`` markers.

``ExtractiveAnswerer`` (the default) needs no generative model. A model trained on
external question sets (``benchmarks/train_answerer.py``; features in
:mod:`newsqa.features`) scores every sentence of the retrieved passages for
"answers this question", and gives a calibrated probability that the passages
answer it at all (``Answer.confidence``). Below the refusal threshold it refuses,
showing the nearest sentence when the articles cover the topic; otherwise it
answers with the best sentences, verbatim, each cited: one or two within about
300 characters, drawing on each article that holds strong evidence, or a short
summary across the passages when the question asks what happened.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from newsqa import disagreement
from newsqa.conversation import Resolved
from newsqa.dates import named_days
from newsqa.embeddings import MiniLMEmbeddings
from newsqa.features import (
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    Candidate,
    QuestionView,
    candidates,
    question_base,
    question_features,
    question_form,
    sentence_dates,
    sentence_features,
)
from newsqa.models import Answer, Citation, Hit, Span
from newsqa.settings import default
from newsqa.text import content_terms, inert_markers, mentions, names, words

REFUSAL = "The articles don't answer this question"
MODEL_FILE = "answerer.json"

_VECTOR_CACHE = 20_000

# "What happened in ...?", "Summarise ...", "What are the main points ...?"
_SUMMARY = re.compile(
    r"\b(?:summar(?:y|ise|ize)|main points|key points|overview|what happened|what is happening|"
    r"what's happening|what has happened|the gist|tell me about|what is the news|latest news)\b",
    re.I,
)
# "... in detail", "all the ...", "list ...": the user asks for more than a sentence or two.
_MORE = re.compile(r"\b(?:in detail|details|all the|list|everything|explain)\b", re.I)


class Answerer(Protocol):
    """Anything that answers a resolved question from retrieved passages."""

    mode: str

    def answer(self, resolved: Resolved, hits: list[Hit]) -> Answer: ...


def refusal(question: str, reason: str, mode: str = "extractive") -> Answer:
    return Answer(question=question, text=f"{REFUSAL}: {reason}.", answerable=False, mode=mode)


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
    return [n for n in question_names if not mentions(seen, n)]


# -- the trained model ----------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@dataclass(frozen=True)
class Scorer:
    """Standardised features -> logit: logistic regression, or an MLP with ReLU layers."""

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weights, bias); the last is linear

    def logits(self, rows: np.ndarray) -> np.ndarray:
        z = (rows - self.mean) / self.scale
        for weights, bias in self.layers[:-1]:
            z = np.maximum(z @ weights + bias, 0.0)
        weights, bias = self.layers[-1]
        return np.asarray(z @ weights + bias, dtype=np.float64).reshape(len(rows))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scorer:
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float32),
            scale=np.asarray(data["scale"], dtype=np.float32),
            layers=tuple(
                (np.asarray(w, dtype=np.float32), np.asarray(b, dtype=np.float32))
                for w, b in data["layers"]
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "layers": [[w.tolist(), b.tolist()] for w, b in self.layers],
        }


@dataclass(frozen=True)
class Forest:
    """Gradient-boosted trees (trained with scikit-learn, evaluated with numpy alone).

    Every tree's nodes sit in one padded row of each array; a leaf points at itself,
    so walking ``depth`` steps from the root lands every row on its leaf.
    """

    baseline: float
    feature: np.ndarray  # [trees, nodes] the feature a node splits on
    threshold: np.ndarray  # [trees, nodes] go left when the value is <= this
    left: np.ndarray  # [trees, nodes]
    right: np.ndarray  # [trees, nodes]
    value: np.ndarray  # [trees, nodes] a leaf's contribution to the logit
    depth: int

    @cached_property
    def _flat(self) -> tuple[np.ndarray, ...]:
        """The node arrays flattened, children as flat indices: a step of the walk is then
        four 1-D gathers, several times faster than indexing the 2-D arrays."""
        trees, nodes = self.feature.shape
        offset = (np.arange(trees, dtype=np.int64) * nodes)[:, None]
        return (
            offset,
            self.feature.ravel(),
            self.threshold.ravel(),
            (self.left + offset).ravel(),
            (self.right + offset).ravel(),
            self.value.ravel(),
        )

    def logits(self, rows: np.ndarray) -> np.ndarray:
        offset, feature, threshold, left, right, value = self._flat
        rows = np.ascontiguousarray(rows, dtype=np.float64)
        cells = rows.ravel()
        row_start = (np.arange(len(rows), dtype=np.int64) * rows.shape[1])[None, :]
        at = np.repeat(offset, len(rows), axis=1)  # every row at every tree's root
        for _ in range(self.depth):
            x = cells[row_start + feature[at]]
            at = np.where(x <= threshold[at], left[at], right[at])
        return np.asarray(self.baseline + value[at].sum(axis=0), dtype=np.float64)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Forest:
        return cls(
            baseline=float(data["baseline"]),
            feature=np.asarray(data["feature"], dtype=np.int64),
            threshold=np.asarray(data["threshold"], dtype=np.float64),
            left=np.asarray(data["left"], dtype=np.int64),
            right=np.asarray(data["right"], dtype=np.int64),
            value=np.asarray(data["value"], dtype=np.float64),
            depth=int(data["depth"]),
        )

    def to_dict(self) -> dict[str, Any]:
        # Six decimals keep every split (features are O(1-10)) and halve the file.
        return {
            "kind": "trees",
            "baseline": round(self.baseline, 6),
            "depth": self.depth,
            "threshold": np.round(self.threshold, 6).tolist(),
            "value": np.round(self.value, 6).tolist(),
            **{name: getattr(self, name).tolist() for name in ("feature", "left", "right")},
        }


def scorer_from_dict(data: dict[str, Any]) -> Scorer | Forest:
    """A sentence or answerable model as saved by ``to_dict``."""
    return Forest.from_dict(data) if data.get("kind") == "trees" else Scorer.from_dict(data)


class ModelError(ValueError):
    """An answer-model file that cannot be used; the message says why."""


@dataclass(frozen=True)
class AnswerModel:
    """The learned answerer's weights and the choices made on validation data.

    ``sentence`` scores candidate sentences; ``answerable`` (with Platt scaling
    ``calibration``) gives the probability that the passages answer the question.
    ``threshold`` is the refusal threshold chosen on validation; ``keep_within``
    the share of the best sentence's probability a further sentence needs to be
    cited too. ``info`` records what it was trained on and how it measured.
    """

    sentence: Scorer | Forest
    answerable: Scorer | Forest
    calibration: tuple[float, float]
    threshold: float
    keep_within: float
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> AnswerModel:
        """The model in ``path``, or the one shipped with newsqa."""
        try:
            if path is None:
                text = resources.files("newsqa").joinpath(MODEL_FILE).read_text("utf-8")
            else:
                text = Path(path).read_text("utf-8")
            data = json.loads(text)
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read the answer model {path or MODEL_FILE}: {exc}") from exc
        return cls.from_dict(data, str(path or MODEL_FILE))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "model") -> AnswerModel:
        if (
            tuple(data.get("sentence_features", ())) != SENTENCE_FEATURES
            or tuple(data.get("question_features", ())) != QUESTION_FEATURES
        ):
            raise ModelError(
                f"{where} was trained on other features than this newsqa computes; "
                "retrain it with benchmarks/train_answerer.py"
            )
        a, b = data["calibration"]
        return cls(
            sentence=scorer_from_dict(data["sentence"]),
            answerable=scorer_from_dict(data["answerable"]),
            calibration=(float(a), float(b)),
            threshold=float(data["threshold"]),
            keep_within=float(data["keep_within"]),
            info=dict(data.get("info", {})),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentence_features": list(SENTENCE_FEATURES),
            "question_features": list(QUESTION_FEATURES),
            "sentence": self.sentence.to_dict(),
            "answerable": self.answerable.to_dict(),
            "calibration": list(self.calibration),
            "threshold": self.threshold,
            "keep_within": self.keep_within,
            "info": self.info,
        }

    def probability(self, logit: float) -> float:
        a, b = self.calibration
        return float(_sigmoid(np.asarray(a * logit + b)))


# -- the answerer ---------------------------------------------------------------------------


@dataclass
class Scored:
    """A question's candidates as the model sees them, best first."""

    candidates: list[Candidate]  # sorted by score, best first
    rows: np.ndarray  # their feature rows, in the same order
    view: QuestionView
    question_row: np.ndarray
    confidence: float  # calibrated probability that the passages answer the question


class ExtractiveAnswerer:
    """Answers with the retrieved sentences the trained model finds to answer the question."""

    mode = "extractive"

    def __init__(
        self,
        embeddings: MiniLMEmbeddings,
        model: AnswerModel | None = None,
        min_confidence: float | None = default("min_confidence"),
        max_sentences: int = default("max_answer_sentences"),
        max_chars: int = default("max_answer_chars"),
    ) -> None:
        self.embeddings = embeddings
        self.model = model or AnswerModel.load()
        self.min_confidence = self.model.threshold if min_confidence is None else min_confidence
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        # Passages stored before sentence vectors existed: their sentences are embedded
        # at question time, and the same ones come back for related questions.
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

    def score(self, resolved: Resolved, hits: list[Hit]) -> Scored | None:
        """Every candidate sentence scored by the model, and the answerable probability."""
        cands = candidates(hits)
        if not cands:
            return None
        missing = [c for c in cands if c.vector is None]
        if missing:
            for c, v in zip(
                missing, self._sentence_vectors([c.text for c in missing]), strict=True
            ):
                c.vector = v
        query = self.embeddings.query_vector(resolved.standalone)
        rows, view = sentence_features(resolved, cands, query)
        logits = self.model.sentence.logits(rows)
        order = np.argsort(-logits, kind="stable")
        base = question_base(view, rows, hits)
        question_row = question_features(base, question_form(resolved.standalone), rows, logits)
        confidence = self.model.probability(
            float(self.model.answerable.logits(question_row[None, :])[0])
        )
        probs = _sigmoid(logits)
        ranked = [cands[i] for i in order]
        for i, c in zip(order, ranked, strict=True):
            c.score = float(probs[i])
        return Scored(ranked, rows[order], view, question_row, confidence)

    def answer(self, resolved: Resolved, hits: list[Hit]) -> Answer:
        question = resolved.question
        if not hits:
            return refusal(question, "no passage in the library matches it")
        scored = self.score(resolved, hits)
        if scored is None:
            return refusal(question, "no sentence in the articles supports an answer")
        summary = bool(_SUMMARY.search(resolved.question))
        on_day = _on_named_day(resolved.question, scored.candidates) if summary else []
        if on_day:
            # "What happened on 4 March?": the sentences dated that day (their dates
            # resolved and checked in code) answer it, whatever the model's estimate.
            out = self._summary(question, replace(scored, candidates=on_day))
        elif scored.confidence < self.min_confidence:
            out = self._refuse(resolved, scored)
        elif summary:
            out = self._summary(question, scored)
        else:
            out = self._answer(question, scored)
        out.confidence = round(scored.confidence, 4)
        return out

    def _answer(self, question: str, scored: Scored) -> Answer:
        """The best sentence, and further ones that come close, within the length budget."""
        best = scored.candidates[0]
        budget = self.max_chars * (3 if _MORE.search(question) else 1)
        picked = [best]
        used = len(best.text)
        for cand in scored.candidates[1 : self.max_sentences * 3]:
            if (
                len(picked) >= self.max_sentences
                or cand.score < self.model.keep_within * best.score
            ):
                break
            if used + len(cand.text) > budget:
                continue
            picked.append(cand)
            used += len(cand.text)
        # Reading order: by article (best article first), then by position.
        article_rank = {c.hit.passage.article_id: i for i, c in reversed(list(enumerate(picked)))}
        picked.sort(key=lambda c: (article_rank[c.hit.passage.article_id], c.span.start))
        view = scored.view
        differ = disagreement.find(
            scored.candidates, view.kind, view.names, view.terms, self.model.keep_within
        )
        if differ is not None:  # never silently pick one of two reported values
            return differ.answer(_compose(question, differ.sentences))
        return _compose(question, picked)

    def _summary(self, question: str, scored: Scored) -> Answer:
        """A few diverse, well-supported sentences across the passages, in time order."""
        budget = self.max_chars * 2
        pool = scored.candidates[: self.max_sentences * 4]
        picked: list[Candidate] = []
        used = 0
        for cand in pool:
            if len(picked) >= self.max_sentences + 2:
                break
            if used + len(cand.text) > budget and picked:
                continue
            vector = cand.vector
            # Repeats across outlets or passages say the same thing twice: skip them.
            if vector is not None and any(
                p.vector is not None and float(p.vector @ vector) > 0.85 for p in picked
            ):
                continue
            picked.append(cand)
            used += len(cand.text)
        picked.sort(key=lambda c: (c.hit.date or "", c.hit.passage.article_id, c.span.start))
        return _compose(question, picked)

    def _refuse(self, resolved: Resolved, scored: Scored) -> Answer:
        """A refusal; when the articles cover the question's topic, it shows where."""
        question = resolved.question
        nearest = scored.candidates[0]
        topic = _shared_topic(resolved.standalone, nearest.text)
        if topic is None:
            absent = missing_names(scored.view.names, [c.hit for c in scored.candidates])
            reason = (
                f"no article mentions {', '.join(absent)}"
                if absent
                else "no sentence in the articles supports an answer"
            )
            return refusal(question, reason)
        citation = cite(1, nearest.hit, nearest.span, nearest.text, round(nearest.score, 4))
        text = f"{REFUSAL}: the articles mention {topic} [1] but not what it asks."
        return Answer(question=question, text=text, answerable=False, citations=[citation])


def _on_named_day(question: str, cands: list[Candidate]) -> list[Candidate]:
    """The candidates that say something happened on a day the question names: their
    resolved dates ("on Monday" in an article of 5 March 2024) or their own words."""
    days = {day for _, _, day in named_days(question)}
    if not days:
        return []

    def dated(c: Candidate) -> bool:
        spans = [d.date for d in sentence_dates(c) if d.granularity == "day"]
        spans += [day for _, _, day in named_days(c.text)]
        return any(day in days or day[5:] in days for day in spans)

    return [c for c in cands if dated(c)]


def _compose(question: str, picked: list[Candidate]) -> Answer:
    citations = [
        cite(i, c.hit, c.span, c.text, round(c.score, 4)) for i, c in enumerate(picked, start=1)
    ]
    # An article's own "[2]" must not pass for the answer's marker [2]; its line breaks
    # (a heading run into a sentence) are layout, and the answer is one paragraph.
    text = " ".join(f"{' '.join(inert_markers(c.text).split())} [{c.n}]" for c in citations)
    return Answer(question=question, text=text, answerable=True, citations=citations)


_TOPIC_STOP = frozenset("the a an of in on at to for and or".split())


def _shared_topic(question: str, sentence: str) -> str | None:
    """What the question and the nearest sentence share, as the sentence writes it:
    the question's names the sentence mentions, else the longest run of the
    question's words (two content words at least) that the sentence holds."""
    sentence_words = set(words(sentence))
    shared = [n for n in names(question) if mentions(sentence_words, n)]
    if shared:
        return " and ".join(dict.fromkeys(shared))
    q = [w for w in words(question)]
    best: str | None = None
    for i in range(len(q)):
        for j in range(len(q), i + 1, -1):
            run = q[i:j]
            while run and run[0] in _TOPIC_STOP:
                run = run[1:]
            while run and run[-1] in _TOPIC_STOP:
                run = run[:-1]
            if len(content_terms(" ".join(run))) < 2:
                continue
            pattern = r"\b" + r"\W+".join(map(re.escape, run)) + r"\b"
            found = re.search(pattern, sentence, re.I)
            if found and (best is None or len(found.group(0)) > len(best)):
                best = found.group(0)
                break
    return best


__all__ = [
    "MODEL_FILE",
    "REFUSAL",
    "AnswerModel",
    "Answerer",
    "ExtractiveAnswerer",
    "ModelError",
    "Scored",
    "Scorer",
    "cite",
    "refusal",
]
