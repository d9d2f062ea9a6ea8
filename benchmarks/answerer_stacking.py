"""Does a second stage that sees the whole article help the answerer choose it? (issue 11)

The sentence model scores each candidate sentence on its own features. On the news quiz
its best sentence sits in the answering article for 0.749 of the validation questions
whose article was retrieved; the rest of the loss is the article it picks. This script
asks whether a second model, stacked on the first, picks better when it also sees
aggregates of the first model's logits over each candidate's article: the article's
best and second-best logit, its share of the question's softmax mass, its number of
candidates, its rank among the articles, and its margin over the best other article.

    .venv/bin/python benchmarks/answerer_stacking.py   # ~10 min on 2 cores

Same data, splits and folds as ``train_answerer.py`` (its cached features, top 6): the
first stage's logits are cross-fitted on train, so the second stage learns from logits
like those it meets on validation. Prints top-1 (a positive sentence first), gold
article first, and MRR on validation, first stage beside second; saves
``benchmarks/out/answerer-stacking.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as train_answerer.py: small, repeatable fits

import numpy as np
import train_answerer as ta
from common import log, save_json, table

from newsqa.features import SENTENCE_FEATURES

ARTICLE = SENTENCE_FEATURES.index("article_rank")  # one value per article within a question
AGGREGATES = (
    "logit",
    "gap_to_best",
    "softmax",
    "rank",
    "article_best",
    "article_mass",
    "article_candidates",
    "article_rank_by_best",
    "article_margin",
    "gap_to_article_best",
    "article_second",
    "log_article_mass",
)


def aggregate_rows(data: ta.Data, logits: np.ndarray) -> np.ndarray:
    """Per candidate, :data:`AGGREGATES` of the first stage's logits over its question."""
    out = np.zeros((len(logits), len(AGGREGATES)), dtype=np.float32)
    for i in range(len(data)):
        s = data.cands(i)
        lg = logits[s]
        if not len(lg):
            continue
        p = np.exp(lg - lg.max())
        p /= p.sum()
        rank = np.empty(len(lg))
        rank[np.argsort(-lg, kind="stable")] = np.arange(len(lg))
        _, article = np.unique(data.rows[s, ARTICLE], return_inverse=True)
        n = article.max() + 1
        best = np.full(n, -np.inf)
        np.maximum.at(best, article, lg)
        mass = np.bincount(article, weights=p, minlength=n)
        count = np.bincount(article, minlength=n).astype(float)
        second = np.array(
            [np.sort(lg[article == a])[-2] if count[a] > 1 else -30.0 for a in range(n)]
        )
        by_best = np.empty(n)
        by_best[np.argsort(-best, kind="stable")] = np.arange(n)
        other = np.array([np.delete(best, a).max() if n > 1 else -30.0 for a in range(n)])
        out[s] = np.column_stack(
            [
                lg,
                lg - lg.max(),
                p,
                rank,
                best[article],
                mass[article],
                count[article],
                by_best[article],
                (best - other)[article],
                lg - best[article],
                second[article],
                np.log(mass[article] + 1e-9),
            ]
        )
    return out


def main() -> None:
    data = ta.load_data(6)
    log("first stage: the sentence model, cross-fitted on train")
    _, first = ta.sentence_logits("trees", data)
    aggregates = aggregate_rows(data, first)
    per_question = np.repeat(np.arange(len(data)), np.diff(data.offsets))
    fit_q = (data.split == "train") & data.answerable & data.retrieved
    fit_q &= np.isin(data.qset, ta.SENTENCE_SETS)
    fit_rows = fit_q[per_question]
    variants = {
        "aggregates only": aggregates,
        "sentence features + aggregates": np.hstack([data.rows, aggregates]),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    rows = []
    for name, x in variants.items():
        log(f"second stage: {name}")
        second = ta.fit("trees", x[fit_rows], data.labels[fit_rows]).logits(x)
        for qset in ta.SENTENCE_SETS:
            mask = (data.split == "val") & (data.qset == qset) & data.answerable & data.retrieved
            before = ta.sentence_report(data, first, mask)
            after = ta.sentence_report(data, second, mask)
            results.setdefault(name, {})[qset] = {
                "questions": int(mask.sum()),
                **{f"first_{k}": v for k, v in before.items()},
                **{f"second_{k}": v for k, v in after.items()},
            }
            rows.append(
                [name, qset, int(mask.sum())]
                + [f"{before[k]:.3f} -> {after[k]:.3f}" for k in ("top1", "doc_top1", "mrr")]
            )
    print(table(["second stage", "set", "questions", "top-1", "gold article first", "MRR"], rows))
    path = save_json("answerer-stacking.json", {"aggregates": list(AGGREGATES), "results": results})
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
