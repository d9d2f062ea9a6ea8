"""Relevance judgements and metrics, computed from data alone (no model, no judge).

Retrieval is scored against *targets*: gold documents when a question set names
them (SQuAD paragraphs, BEIR qrels), otherwise gold evidence sentences (a passage is
relevant when it contains one). Documents are ranked by their best passage; with
evidence sentences every passage is a rank, and a passage only earns gain for
evidence that no higher-ranked passage already held, so overlapping chunks cannot
count the same sentence twice.

Answers use the SQuAD v1.1 normalisation (lower-case, drop ASCII punctuation and
English articles, collapse whitespace), maximised over the gold answers.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from newsqa.evaluation.datasets import EvalQuestion
from newsqa.evaluation.records import Cited, Outcome, QuestionRecord, Retrieved

Metrics = dict[str, float | None]
Summary = dict[str, Metrics]

RECALL_KS = (1, 5, 10)
CUTOFF = 10  # MRR@10 and nDCG@10
# A citation that is a fragment of a gold sentence (a different sentence splitter)
# supports it only if it carries at least this share of the sentence.
MIN_FRAGMENT_SHARE = 0.5

_MARKER = re.compile(r"\s*\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


# -- answers (SQuAD v1.1) ---------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower, no punctuation, no a/an/the, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def strip_markers(text: str) -> str:
    """An answer without its ``[n]`` citation markers."""
    return _MARKER.sub("", text).strip()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD token F1, the best over the gold answers."""
    return max((_f1(prediction, g) for g in golds), default=0.0)


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when some normalised gold answer occurs in the prediction as whole tokens."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(g and f" {g} " in pred for g in map(normalize_answer, golds)))


# -- relevance judgements ------------------------------------------------------------------


def squeeze(text: str) -> str:
    """Whitespace collapsed, so line breaks inside a chunk do not hide a sentence."""
    return " ".join(text.split())


def evidence_ids(question: EvalQuestion) -> dict[str, str]:
    """Target id -> gold evidence sentence (whitespace collapsed)."""
    return {f"e{i}": squeeze(e) for i, e in enumerate(question.evidence) if e.strip()}


def _holds(passage: str, sentence: str) -> bool:
    return sentence in passage


def _supports(cited: str, sentence: str) -> bool:
    if sentence in cited:
        return True
    return cited in sentence and len(cited) >= MIN_FRAGMENT_SHARE * len(sentence)


def rank_targets(question: EvalQuestion, retrieved: Sequence[Retrieved]) -> list[frozenset[str]]:
    """For each retrieved unit in order, the gold targets it matches.

    With gold documents the units are documents (each at the rank of its best
    passage); otherwise they are passages matched against gold evidence sentences.
    """
    if question.gold_docs:
        units: list[frozenset[str]] = []
        seen: set[str] = set()
        for item in retrieved:
            if item.article_id in seen:
                continue
            seen.add(item.article_id)
            hit = item.article_id in question.gold_docs
            units.append(frozenset({item.article_id}) if hit else frozenset())
        return units
    evidence = evidence_ids(question)
    return [
        frozenset(t for t, e in evidence.items() if _holds(squeeze(item.text), e))
        for item in retrieved
    ]


def retrieval_targets(question: EvalQuestion) -> dict[str, int]:
    """Gold targets with their grades: the gold documents, else the evidence sentences."""
    if question.gold_docs:
        return dict(question.gold_docs)
    return dict.fromkeys(evidence_ids(question), 1)


def verify_citation(cited: Cited, texts: Mapping[str, str]) -> bool:
    """True when the source text at the cited offsets is exactly the cited text."""
    text = texts.get(cited.article_id)
    if text is None or not 0 <= cited.start < cited.end <= len(text):
        return False
    return text[cited.start : cited.end] == cited.text


def citation_support(question: EvalQuestion, cited: Cited) -> frozenset[str]:
    """The gold evidence sentences a citation holds (in a gold document, if any are named)."""
    if question.gold_docs and cited.article_id not in question.gold_docs:
        return frozenset()
    text = squeeze(cited.text)
    return frozenset(t for t, e in evidence_ids(question).items() if _supports(text, e))


def judge(question: EvalQuestion, outcome: Outcome, texts: Mapping[str, str]) -> QuestionRecord:
    """Compare one outcome with its question's gold data."""
    return QuestionRecord(
        id=question.id,
        question=question.question,
        answerable=question.answerable,
        answer=outcome.answer,
        refused=outcome.refused,
        golds=question.answers,
        targets=retrieval_targets(question),
        evidence=tuple(evidence_ids(question)),
        ranks=rank_targets(question, outcome.retrieved),
        # A refusal may show the nearest sentence; it still answers nothing.
        cited=[
            (
                frozenset() if outcome.refused else citation_support(question, c),
                verify_citation(c, texts),
            )
            for c in outcome.citations
        ],
        seconds=outcome.seconds,
        type=question.type,
        confidence=outcome.confidence,
        answer_chars=0
        if outcome.refused or not outcome.answer
        else len(strip_markers(outcome.answer)),
        doc_cited=(
            not outcome.refused
            and any(c.article_id in question.gold_docs for c in outcome.citations)
        )
        if question.gold_docs
        else None,
    )


# -- retrieval ---------------------------------------------------------------------------------


def recall_at_k(ranks: Sequence[frozenset[str]], targets: Mapping[str, int], k: int) -> float:
    """Share of the gold targets matched in the first ``k`` units."""
    if not targets:
        return 0.0
    found = set().union(*ranks[:k]) & targets.keys()
    return len(found) / len(targets)


def mrr_at_k(ranks: Sequence[frozenset[str]], targets: Mapping[str, int], k: int) -> float:
    """1 / rank of the first unit matching a gold target (0 when none in the first ``k``)."""
    for i, matched in enumerate(ranks[:k], start=1):
        if matched & targets.keys():
            return 1.0 / i
    return 0.0


def ndcg_at_k(ranks: Sequence[frozenset[str]], targets: Mapping[str, int], k: int) -> float:
    """nDCG@k where a unit gains the best grade among the targets it matches first.

    The ideal ranking puts the gaining units first, then one unit for each target
    never matched. With documents (one target per unit) this is the usual nDCG; with
    evidence sentences, one passage holding all the evidence is a perfect answer.
    """
    covered: set[str] = set()
    gains: list[float] = []
    for matched in ranks[:k]:
        new = (matched & targets.keys()) - covered
        gains.append(float(max((targets[t] for t in new), default=0)))
        covered |= new
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(
        [g for g in gains if g > 0] + [float(v) for t, v in targets.items() if t not in covered],
        reverse=True,
    )[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


# -- aggregation -------------------------------------------------------------------------------


def mean(values: Iterable[float]) -> float | None:
    """The arithmetic mean, or None when there is nothing to average."""
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between order statistics."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def retrieval_metrics(records: Sequence[QuestionRecord]) -> Metrics:
    """Recall@1/5/10, MRR@10 and nDCG@10 over the questions that have gold targets."""
    judged = [r for r in records if r.targets]
    out: Metrics = {
        f"recall@{k}": mean(recall_at_k(r.ranks, r.targets, k) for r in judged) for k in RECALL_KS
    }
    out[f"mrr@{CUTOFF}"] = mean(mrr_at_k(r.ranks, r.targets, CUTOFF) for r in judged)
    out[f"ndcg@{CUTOFF}"] = mean(ndcg_at_k(r.ranks, r.targets, CUTOFF) for r in judged)
    return out


def answer_metrics(records: Sequence[QuestionRecord]) -> Metrics:
    """Containment, exact match and F1 over answerable questions; a refusal scores 0."""
    judged = [r for r in records if r.answerable and r.golds and r.answer is not None]

    def predicted(r: QuestionRecord) -> str:
        return "" if r.refused or r.answer is None else strip_markers(r.answer)

    answered = [r.answer_chars for r in records if not r.refused and r.answer]
    return {
        "containment": mean(contains_answer(predicted(r), r.golds) for r in judged),
        "exact_match": mean(exact_match(predicted(r), r.golds) for r in judged),
        "f1": mean(token_f1(predicted(r), r.golds) for r in judged),
        "answer_chars": percentile(answered, 50),
    }


def citation_metrics(records: Sequence[QuestionRecord]) -> Metrics:
    """Citation precision and recall against gold evidence, and the verified share.

    - precision: per answered question, the share of its citations that hold gold
      evidence (questions without citations have no precision);
    - recall: per answerable question, the share of its gold evidence that is cited
      (a refusal cites nothing: 0);
    - evidence_cited: answerable questions where at least one citation holds gold evidence;
    - doc_cited: answerable questions with gold documents where a citation is in one;
    - verified: of all citations given, the share whose text is the source's text at
      the cited offsets (checked against the question set's own copy, not the store).
    """
    with_evidence = [r for r in records if r.answerable and r.evidence]
    cited_sets = {id(r): set().union(*(s for s, _ in r.cited)) for r in with_evidence}
    all_cited = [verified for r in records for _, verified in r.cited]
    return {
        "precision": mean(
            sum(1 for s, _ in r.cited if s) / len(r.cited) for r in with_evidence if r.cited
        ),
        "recall": mean(len(cited_sets[id(r)]) / len(r.evidence) for r in with_evidence),
        "evidence_cited": mean(float(bool(cited_sets[id(r)])) for r in with_evidence),
        "doc_cited": mean(
            float(r.doc_cited) for r in records if r.answerable and r.doc_cited is not None
        ),
        "verified": mean(float(v) for v in all_cited),
    }


def refusal_metrics(records: Sequence[QuestionRecord]) -> Metrics:
    """Refusal accuracy on unanswerable questions; wrongly refused share of answerable ones;
    balanced accuracy (the mean of refusing the one and answering the other)."""
    refused = mean(float(r.refused) for r in records if not r.answerable)
    wrongly = mean(float(r.refused) for r in records if r.answerable)
    return {
        "refusal_accuracy": refused,
        "wrongly_refused": wrongly,
        "balanced_accuracy": None
        if refused is None or wrongly is None
        else (refused + 1.0 - wrongly) / 2,
    }


def latency_metrics(records: Sequence[QuestionRecord]) -> Metrics:
    """Median and 95th percentile seconds per question, in milliseconds."""
    seconds = [r.seconds for r in records]
    p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
    return {
        "p50_ms": None if p50 is None else p50 * 1000,
        "p95_ms": None if p95 is None else p95 * 1000,
    }


def summarize(records: Sequence[QuestionRecord], *, retrieval_only: bool = False) -> Summary:
    """Every metric group for one system's records (retrieval and latency only for BEIR)."""
    summary: Summary = {"retrieval": retrieval_metrics(records)}
    if not retrieval_only:
        summary["answers"] = answer_metrics(records)
        summary["citations"] = citation_metrics(records)
        summary["refusals"] = refusal_metrics(records)
    summary["latency"] = latency_metrics(records)
    return summary
