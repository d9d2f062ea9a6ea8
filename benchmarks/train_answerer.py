"""Train the learned answerer (``src/newsqa/answerer.json``) on external question sets.

    .venv/bin/python benchmarks/train_answerer.py             # train, report, write the model
    .venv/bin/python benchmarks/train_answerer.py --compare   # also: hand rules, LR, trees, MLP
    .venv/bin/python benchmarks/train_answerer.py --check     # retrain, compare with the shipped

Needs ``pip install -e '.[train]'`` (scikit-learn; answering itself needs only numpy).

1. **Data.** The training libraries of ``suite.py`` (every RealTime QA snippet with
   1,800 real news distractors, and "What did <person> say?" about those
   distractors; the QuAIL texts; the XQuAD paragraphs). Every
   question of the train and validation splits, and its negative-rejection twin,
   is resolved and retrieved exactly as ``ask`` does (top ``k`` passages), and each
   candidate sentence becomes a row of :data:`newsqa.features.SENTENCE_FEATURES`.
   A candidate is a positive when it is in the gold document and holds the gold
   answer or a gold evidence sentence. QuAIL has no sentence labels: it trains the
   answerable model only (its label: the text was retrieved and the question is
   answerable).
2. **Sentence model**, fit on train questions with a positive among their
   candidates. Its logits for train questions are cross-fitted (5 folds by unit), so
   the answerable model learns from logits like those it will see.
3. **Answerable model** on :data:`newsqa.features.QUESTION_FEATURES`, label: the
   question is answerable and a positive (or, for QuAIL, its text) was retrieved.
   Platt scaling is fit on its cross-fitted train logits.
4. **Choices on validation**: the refusal threshold is the highest at which the
   external validation sets refuse no more than ``MAX_REFUSED`` of their answerable
   questions (averaged, each set weighing the same);
   ``keep_within`` is the cut for further cited sentences that maximises gold
   document cited + gold answer in the answer + citation precision.

Everything is seeded; the same data gives the same model. Extracted features are
cached under ``benchmarks/out/`` (keyed by the code that computes them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

# One thread: the fits are small, and on a busy machine OpenMP's spinning threads
# slowed gradient boosting down a hundredfold. Also keeps the runs repeatable.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import suite
from common import OUT, ROOT, log, machine, table

from newsqa.answering import MODEL_FILE, AnswerModel, Forest, Scorer
from newsqa.conversation import resolve
from newsqa.evaluation.datasets import EvalQuestion
from newsqa.evaluation.metrics import contains_answer, squeeze
from newsqa.features import (
    SENTENCE_FEATURES,
    candidates,
    question_base,
    question_features,
    question_form,
    sentence_features,
)
from newsqa.qa import NewsQA
from newsqa.retrieval import Filters

SETS = ("news", "quotes", "xquad", "quail")
SENTENCE_SETS = ("news", "quotes", "xquad")  # sets with sentence-level labels
LIBRARY_OF = {"quotes": "news"}  # sets asked against another set's library
THRESHOLD_SETS = ("news", "xquad", "quail")  # the refusal target is set on these
MAX_REFUSED = 0.10
SEED = 7
FOLDS = 5
MODEL_PATH = ROOT / "src" / "newsqa" / MODEL_FILE
TRAIN_DISTRACTORS = suite.DISTRACTORS  # the benchmark's news library, so stores are shared


# -- data ---------------------------------------------------------------------------------


# Data's per-question fields that are plain arrays, cached as they are.
PER_QUESTION = (
    "qset",
    "split",
    "group",
    "answerable",
    "negative",
    "retrieved",
    "has_golds",
    "question",
)


@dataclass
class Data:
    """Every question's candidates, flattened: rows and per-question offsets."""

    rows: np.ndarray  # [candidates, SENTENCE_FEATURES]
    labels: np.ndarray  # [candidates] 1 = answers the question
    in_gold: np.ndarray  # [candidates] in a gold document
    holds_answer: np.ndarray  # [candidates] holds a gold answer string
    chars: np.ndarray  # [candidates] sentence length
    offsets: np.ndarray  # [questions + 1] candidate rows of question i: offsets[i]:offsets[i+1]
    base: np.ndarray  # [questions, QUESTION_BASE]
    qset: np.ndarray  # [questions] set name
    split: np.ndarray  # [questions] train / val
    group: np.ndarray  # [questions] unit (for folds)
    answerable: np.ndarray  # [questions]
    negative: np.ndarray  # [questions] negative-rejection twin
    retrieved: np.ndarray  # [questions] the answer (or, for QuAIL, the text) was retrieved
    has_golds: np.ndarray  # [questions] gold answer strings are known
    question: np.ndarray  # [questions] the standalone question

    def __len__(self) -> int:
        return len(self.qset)

    def cands(self, i: int | np.integer) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))


def _supports(text: str, evidence: Sequence[str]) -> bool:
    cand = squeeze(text)
    return any(
        e in cand or (cand in e and len(cand) >= 0.5 * len(e)) for e in map(squeeze, evidence)
    )


def _code_key(k: int) -> str:
    digest = hashlib.sha256()
    for module in (
        "features.py",
        "conversation.py",
        "text.py",
        "retrieval.py",
        "lexical.py",
        "chunking.py",
        "dates.py",  # resolved dates are sentence terms (features._date_terms)
        "settings.py",  # retrieval's defaults (top_k, candidates, rrf_k) shape the candidates
    ):
        digest.update((ROOT / "src" / "newsqa" / module).read_bytes())
    digest.update((ROOT / "benchmarks" / "suite.py").read_bytes())
    digest.update(f"k={k};{sorted(TRAIN_DISTRACTORS.items())}".encode())
    return digest.hexdigest()[:12]


def extract_set(qa: NewsQA, lib: suite.Library, set_name: str, k: int) -> dict[str, list[Any]]:
    """Features and labels of every train/val question of one set."""
    out: dict[str, list[Any]] = {key: [] for key in Data.__dataclass_fields__}
    questions = [q for _, q in suite.iter_questions(lib, ["train", "val"], [set_name])]
    all_ids = [a.id for a in lib.articles]
    t0 = time.perf_counter()
    for n, q in enumerate(questions, start=1):
        if n % 500 == 0:
            log(f"  {set_name}: {n}/{len(questions)} ({time.perf_counter() - t0:.0f} s)")
        item = _extract_one(qa, q, k, all_ids, set_name in SENTENCE_SETS)
        if item is None:
            continue
        rows, labels, in_gold, holds, chars, base, retrieved = item
        out["rows"].append(rows)
        out["labels"].append(labels)
        out["in_gold"].append(in_gold)
        out["holds_answer"].append(holds)
        out["chars"].append(chars)
        out["offsets"].append(len(labels))
        out["base"].append(base)
        out["qset"].append(set_name)
        out["split"].append(suite.question_split(set_name, q))
        out["group"].append(f"{set_name}:{q.group}")
        out["answerable"].append(q.answerable)
        out["negative"].append(q.type == "negative")
        out["retrieved"].append(retrieved)
        out["has_golds"].append(bool(q.answers))
        out["question"].append(resolve(q.question, list(q.history)).standalone)
    return out


def _extract_one(
    qa: NewsQA, q: EvalQuestion, k: int, all_ids: list[str], sentence_labels: bool
) -> tuple[np.ndarray, ...] | None:
    resolved = resolve(q.question, list(q.history))
    filters = None
    if q.excluded:
        filters = Filters(article_ids=tuple(a for a in all_ids if a not in q.excluded))
    hits = qa.search.search(resolved.standalone, k, filters).hits
    cands = candidates(hits)
    if not cands or any(c.vector is None for c in cands):
        return None
    query = qa.embeddings.query_vector(resolved.standalone)
    rows, view = sentence_features(resolved, cands, query)
    supports = np.array([_supports(c.text, q.evidence) for c in cands])
    # Own-format sets name evidence sentences, not documents: the gold documents are
    # the articles those sentences are in.
    found = zip(cands, supports, strict=True)
    gold = set(q.gold_docs) or {c.hit.passage.article_id for c, ok in found if ok}
    in_gold = np.array([c.hit.passage.article_id in gold for c in cands])
    holds = np.array([bool(q.answers) and contains_answer(c.text, q.answers) > 0 for c in cands])
    if sentence_labels:
        labels = in_gold & (holds | supports)
        retrieved = bool(labels.any())
    else:  # QuAIL: its gold answers are paraphrases; was the text retrieved?
        labels = np.zeros(len(cands), dtype=bool)
        retrieved = bool(in_gold.any())
    return (
        rows,
        labels.astype(np.int8),
        in_gold,
        holds,
        np.array([len(c.text) for c in cands], dtype=np.int32),
        question_base(view, rows, hits),
        np.array(retrieved),
    )


def load_data(k: int, sets: Sequence[str] = SETS) -> Data:
    """Every set's features, each from its cache when the code that makes them is unchanged."""
    parts: dict[str, list[Any]] = {key: [] for key in Data.__dataclass_fields__}
    for set_name in sets:
        got = _set_data(set_name, k)
        for key in Data.__dataclass_fields__:
            parts[key].append(got[key])
    sizes = [np.diff(o) for o in parts["offsets"]]
    return Data(
        **{
            key: np.concatenate(parts[key]) for key in Data.__dataclass_fields__ if key != "offsets"
        },
        offsets=np.concatenate([[0], np.cumsum(np.concatenate(sizes))]).astype(np.int64),
    )


def _set_data(set_name: str, k: int) -> dict[str, np.ndarray]:
    cache = OUT / f"answerer-data-{set_name}-{_code_key(k)}.npz"
    if cache.exists():
        log(f"{set_name}: features from {cache.name}")
        with np.load(cache, allow_pickle=False) as z:
            return {key: z[key] for key in z.files}
    lib = suite.load_library(LIBRARY_OF.get(set_name, set_name), distractors=TRAIN_DISTRACTORS)
    qa = suite.open_library(lib)
    log(f"{set_name}: extracting features")
    got = extract_set(qa, lib, set_name, k)
    data = {
        "rows": np.concatenate(got["rows"]).astype(np.float32),
        "labels": np.concatenate(got["labels"]),
        "in_gold": np.concatenate(got["in_gold"]),
        "holds_answer": np.concatenate(got["holds_answer"]),
        "chars": np.concatenate(got["chars"]),
        "offsets": np.concatenate([[0], np.cumsum(got["offsets"])]).astype(np.int64),
        "base": np.stack(got["base"]).astype(np.float32),
        **{key: np.array(got[key]) for key in PER_QUESTION},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **data)
    return data


# -- models -------------------------------------------------------------------------------


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def fit(kind: str, x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> Any:
    """A fitted model of ``kind`` (``lr``, ``mlp``, ``trees``) with a ``logits(x)`` view;
    ``w`` weighs the examples (the MLP ignores it)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    mean, scale = _standardise(x)
    z = (x - mean) / scale
    if kind == "lr":
        lr = LogisticRegression(C=1.0, max_iter=2000)
        lr.fit(z, y, sample_weight=w)
        return Scorer(
            mean, scale, ((lr.coef_.T.astype(np.float32), lr.intercept_.astype(np.float32)),)
        )
    if kind == "mlp":
        mlp = MLPClassifier(
            hidden_layer_sizes=(32,),
            alpha=1e-3,
            max_iter=300,
            early_stopping=True,
            random_state=SEED,
        )
        mlp.fit(z, y)
        layers = tuple(
            (w.astype(np.float32), b.astype(np.float32))
            for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)
        )
        return Scorer(mean, scale, layers)
    if kind == "trees":
        trees = HistGradientBoostingClassifier(
            max_iter=300,
            learning_rate=0.06,
            max_leaf_nodes=31,
            l2_regularization=1.0,
            random_state=SEED,
        )
        trees.fit(x, y, sample_weight=w)
        forest = to_forest(trees)
        sample = x[:: max(1, len(x) // 2000)]
        if not np.allclose(forest.logits(sample), trees.decision_function(sample), atol=1e-6):
            raise AssertionError("the exported trees disagree with scikit-learn")
        return forest
    raise ValueError(kind)


def to_forest(trees: Any) -> Forest:
    """A fitted ``HistGradientBoostingClassifier`` as numpy arrays (:class:`Forest`),
    checked to give scikit-learn's own decision values."""
    nodes = [predictor[0].nodes for predictor in trees._predictors]
    width = max(len(n) for n in nodes)
    shape = (len(nodes), width)
    feature = np.zeros(shape, dtype=np.int64)
    threshold = np.zeros(shape)
    left, right = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    value = np.zeros(shape)
    for t, n in enumerate(nodes):
        own = np.arange(len(n))
        leaf = n["is_leaf"].astype(bool)
        feature[t, : len(n)] = n["feature_idx"]
        threshold[t, : len(n)] = n["num_threshold"]
        left[t, : len(n)] = np.where(leaf, own, n["left"])
        right[t, : len(n)] = np.where(leaf, own, n["right"])
        value[t, : len(n)] = np.where(leaf, n["value"], 0.0)
    depth = int(max(n["depth"].max() for n in nodes)) + 1
    return Forest(
        float(trees._baseline_prediction.ravel()[0]), feature, threshold, left, right, value, depth
    )


class _HandRules:
    """Today's hand-set evidence score, for comparison (sentence scores only)."""

    col: ClassVar[dict[str, int]] = {name: i for i, name in enumerate(SENTENCE_FEATURES)}

    def logits(self, x: np.ndarray) -> np.ndarray:
        c = self.col
        names = np.where(x[:, c["question_names"]] > 0, x[:, c["names"]], 0.5)
        score = 0.4 * x[:, c["lexical"]] + 0.4 * np.maximum(x[:, c["dense"]], 0) + 0.2 * names
        return np.asarray(score * np.where(x[:, c["type_ok"]] > 0, 1.0, 0.5), dtype=np.float64)


def _folds(groups: np.ndarray) -> np.ndarray:
    """A fold number per item, by a hash of its unit (stable across runs)."""
    return np.array(
        [int(hashlib.sha256(f"{SEED}:{g}".encode()).hexdigest(), 16) % FOLDS for g in groups]
    )


def sentence_logits(kind: str, data: Data) -> tuple[Any, np.ndarray]:
    """The sentence model fit on train, and logits for every candidate: cross-fitted for
    train questions, from the full model for validation ones."""
    train_q = (data.split == "train") & data.answerable & data.retrieved
    train_q &= np.isin(data.qset, SENTENCE_SETS)
    cand_q = np.repeat(np.arange(len(data)), np.diff(data.offsets))
    fit_rows = train_q[cand_q]
    model = fit(kind, data.rows[fit_rows], data.labels[fit_rows])
    logits = model.logits(data.rows)
    folds = _folds(data.group)
    for f in range(FOLDS):
        part = fit_rows & (folds[cand_q] != f)
        inner = fit(kind, data.rows[part], data.labels[part])
        held = (data.split[cand_q] == "train") & (folds[cand_q] == f)
        logits[held] = inner.logits(data.rows[held])
    return model, logits


def question_rows(data: Data, logits: np.ndarray) -> np.ndarray:
    forms = [question_form(str(text)) for text in data.question]
    return np.stack(
        [
            question_features(
                data.base[i], forms[i], data.rows[data.cands(i)], logits[data.cands(i)]
            )
            for i in range(len(data))
        ]
    )


def answerable_weights(data: Data) -> np.ndarray:
    """Each set weighs the same, and within a set the questions to answer weigh as much
    as those to refuse, which split their half between negative-rejection twins and
    questions the text itself does not answer (QuAIL's): the rare, hard kind is the
    one a news reader meets when the library covers a story but not the detail."""
    y = data.answerable & data.retrieved
    kinds = np.where(y, "answer", np.where(data.negative, "twin", "refuse"))
    w = np.zeros(len(data))
    for s in np.unique(data.qset):
        in_set = data.qset == s
        present = [k for k in ("twin", "refuse") if (in_set & (kinds == k)).any()]
        share = {"answer": 0.5, **{k: 0.5 / len(present) for k in present}}
        for k, part in share.items():
            m = in_set & (kinds == k)
            if m.any():
                w[m] = part / m.sum()
    return w * len(data) / w.sum()


def answerable_logits(kind: str, data: Data, qrows: np.ndarray) -> tuple[Any, np.ndarray]:
    """The answerable model fit on train, with cross-fitted logits for train questions."""
    y = (data.answerable & data.retrieved).astype(int)
    w = answerable_weights(data)
    train = data.split == "train"
    model = fit(kind, qrows[train], y[train], w[train])
    logits = model.logits(qrows)
    folds = _folds(data.group)
    for f in range(FOLDS):
        inner_mask = train & (folds != f)
        inner = fit(kind, qrows[inner_mask], y[inner_mask], w[inner_mask])
        held = train & (folds == f)
        logits[held] = inner.logits(qrows[held])
    return model, logits


def platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000)
    lr.fit(logits.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


# -- validation figures -------------------------------------------------------------------


def sentence_report(data: Data, logits: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy (a positive ranked first), gold document first, MRR."""
    top1, doc1, rr = [], [], []
    for i in np.flatnonzero(mask):
        s = data.cands(i)
        order = np.argsort(-logits[s], kind="stable")
        labels = data.labels[s][order]
        top1.append(float(labels[0]))
        doc1.append(float(data.in_gold[s][order][0]))
        hits = np.flatnonzero(labels)
        rr.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
    return {
        "top1": float(np.mean(top1)),
        "doc_top1": float(np.mean(doc1)),
        "mrr": float(np.mean(rr)),
    }


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


def refused_at(
    prob: np.ndarray, data: Data, mask: np.ndarray, threshold: float
) -> dict[str, float]:
    pos = mask & data.answerable
    neg = mask & data.negative
    unans = mask & ~data.answerable & ~data.negative
    out = {
        "answerable_refused": float((prob[pos] < threshold).mean()) if pos.any() else float("nan")
    }
    if neg.any():
        out["negative_refused"] = float((prob[neg] < threshold).mean())
    if unans.any():
        out["unanswerable_refused"] = float((prob[unans] < threshold).mean())
    return out


def choose_threshold(prob: np.ndarray, data: Data) -> float:
    """The highest threshold at which the external validation sets, each weighing the
    same, refuse no more than MAX_REFUSED of their answerable questions.

    The generated "What did X say?" set is left out: its refusals are mostly
    questions whose article retrieval missed, and refusing those is right.
    """
    val = data.split == "val"
    grid = np.arange(0.0, 1.0, 1e-4)
    refused = [
        (np.sort(p)[None, :] < grid[:, None]).mean(axis=1)
        for s in THRESHOLD_SETS
        if len(p := prob[val & (data.qset == s) & data.answerable])
    ]
    ok = np.flatnonzero(np.mean(refused, axis=0) <= MAX_REFUSED)
    return float(grid[ok[-1]]) if len(ok) else 0.0


def simulate_answers(
    data: Data, logits: np.ndarray, mask: np.ndarray, keep_within: float, budget: int = 300
) -> dict[str, float]:
    """What ExtractiveAnswerer._answer would cite: gold document cited, gold answer in
    the cited sentences, citation precision, median length."""
    doc, ans, prec, chars = [], [], [], []
    for i in np.flatnonzero(mask & data.answerable):
        s = data.cands(i)
        order = np.argsort(-logits[s], kind="stable")
        probs = 1 / (1 + np.exp(-logits[s][order]))
        lengths = data.chars[s][order]
        picked = [0]
        used = int(lengths[0])
        for j in range(1, min(len(order), 9)):
            if len(picked) >= 3 or probs[j] < keep_within * probs[0]:
                break
            if used + lengths[j] > budget:
                continue
            picked.append(j)
            used += int(lengths[j])
        doc.append(float(data.in_gold[s][order][picked].any()))
        if data.has_golds[i]:
            ans.append(float(data.holds_answer[s][order][picked].any()))
        prec.append(float(data.labels[s][order][picked].mean()))
        chars.append(used)
    return {
        "doc_cited": float(np.mean(doc)),
        "answer_in": float(np.mean(ans)) if ans else float("nan"),
        "precision": float(np.mean(prec)),
        "chars_p50": float(np.median(chars)),
    }


def choose_keep_within(data: Data, logits: np.ndarray) -> float:
    val = (data.split == "val") & np.isin(data.qset, SENTENCE_SETS)
    best, best_score = 1.0, -1.0
    for kw in np.round(np.arange(0.3, 1.0001, 0.05), 2):
        r = simulate_answers(data, logits, val, float(kw))
        score = r["doc_cited"] + r["answer_in"] + r["precision"]
        if score > best_score + 1e-9:
            best, best_score = float(kw), score
    return best


# -- main ---------------------------------------------------------------------------------


def train(data: Data, kind: str = "lr", k: int = 6) -> tuple[AnswerModel, dict[str, Any]]:
    sentence_model, logits = sentence_logits(kind, data)
    qrows = question_rows(data, logits)
    answer_model, alogits = answerable_logits(kind, data, qrows)
    y = (data.answerable & data.retrieved).astype(int)
    train_mask = data.split == "train"
    a, b = platt(alogits[train_mask], y[train_mask])
    prob = 1 / (1 + np.exp(-(a * alogits + b)))
    threshold = choose_threshold(prob, data)
    keep_within = choose_keep_within(data, logits)
    val = data.split == "val"
    figures: dict[str, Any] = {"threshold": threshold, "keep_within": keep_within}
    for s in SETS:
        m = val & (data.qset == s)
        if not m.any():  # a set used for training only
            continue
        row: dict[str, Any] = {"questions": int(m.sum()), "auc": auc(prob[m], y[m])}
        row.update(refused_at(prob, data, m, threshold))
        if s in SENTENCE_SETS:
            row.update(sentence_report(data, logits, m & data.answerable & data.retrieved))
            row.update(simulate_answers(data, logits, m, keep_within))
        figures[s] = row
    model = AnswerModel(
        sentence=sentence_model,
        answerable=answer_model,
        calibration=(round(a, 6), round(b, 6)),
        threshold=threshold,
        keep_within=keep_within,
        info={
            "trained_by": "benchmarks/train_answerer.py",
            "model": kind,
            "top_k": k,
            "sets": list(SETS),
            "questions": {
                "train": int(train_mask.sum()),
                "val": int(val.sum()),
            },
            "candidates": len(data.labels),
            "validation": figures,
        },
    )
    return model, figures


def compare(data: Data) -> None:
    """Hand rules, logistic regression, gradient-boosted trees and an MLP, on validation."""
    val = data.split == "val"
    y = (data.answerable & data.retrieved).astype(int)
    lines = []
    for kind in ("hand", "lr", "trees", "mlp"):
        t0 = time.perf_counter()
        if kind == "hand":
            logits = _HandRules().logits(data.rows)
            ans_kind = "lr"
        else:
            _, logits = sentence_logits(kind, data)
            ans_kind = kind
        qrows = question_rows(data, logits)
        _, alogits = answerable_logits(ans_kind, data, qrows)
        for s in SETS:
            m = val & (data.qset == s)
            cells = [kind, s, int(m.sum()), f"{auc(alogits[m], y[m]):.3f}"]
            if s in SENTENCE_SETS:
                r = sentence_report(data, logits, m & data.answerable & data.retrieved)
                cells += [f"{r['top1']:.3f}", f"{r['doc_top1']:.3f}", f"{r['mrr']:.3f}"]
            else:
                cells += ["-", "-", "-"]
            lines.append(cells)
        log(f"{kind}: {time.perf_counter() - t0:.0f} s")
    print(
        table(
            [
                "model",
                "set",
                "val questions",
                "answerable AUC",
                "top-1 sentence",
                "top-1 in gold doc",
                "MRR",
            ],
            lines,
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", type=int, default=6, help="passages per question (the top_k)")
    parser.add_argument(
        "--model", default="trees", choices=["lr", "mlp", "trees"], help="what to ship"
    )
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--check", action="store_true", help="compare with the shipped model")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--sets", default=",".join(SETS), help="only these sets (experiments)")
    parser.add_argument("--extract-only", action="store_true", help="cache the features, stop")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    data = load_data(args.k, args.sets.split(","))
    log(f"{len(data)} questions, {len(data.labels)} candidates")
    if args.extract_only:
        return
    if args.compare:
        compare(data)
    model, figures = train(data, args.model, args.k)
    print(json.dumps(figures, indent=2))
    if args.check:
        shipped = AnswerModel.load(MODEL_PATH)
        sys.exit(0 if same_model(shipped, model) else 1)
    model.info["machine"] = machine().get("cpu", "")
    model.info["seconds"] = round(time.perf_counter() - t0)
    args.out.write_text(json.dumps(model.to_dict(), separators=(",", ":")) + "\n", encoding="utf-8")
    log(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")


def same_model(a: AnswerModel, b: AnswerModel, tol: float = 1e-3) -> bool:
    """Whether two models make the same decisions (weights within ``tol``)."""

    def same(x: Any, y: Any) -> bool:
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
        if isinstance(x, list):
            return isinstance(y, list) and len(x) == len(y) and all(map(same, x, y))
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            return abs(x - y) <= tol
        return bool(x == y)

    def close(x: Scorer | Forest, y: Scorer | Forest) -> bool:
        return same(x.to_dict(), y.to_dict())

    return (
        close(a.sentence, b.sentence)
        and close(a.answerable, b.answerable)
        and abs(a.threshold - b.threshold) <= tol
        and abs(a.keep_within - b.keep_within) <= tol
    )


if __name__ == "__main__":
    main()
