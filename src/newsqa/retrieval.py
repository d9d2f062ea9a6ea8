"""Hybrid retrieval: dense (MiniLM in Chroma) and BM25, fused by reciprocal rank.

MiniLM alone is a weak retriever and BM25 alone misses paraphrases; RRF needs no
score calibration between the two and beats either (see benchmarks/retrieval.py).
The same search as a LangChain retriever: :mod:`newsqa.retriever`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from newsqa.embeddings import MiniLMEmbeddings
from newsqa.lexical import LexicalIndex
from newsqa.models import Filters, Hit, date_to_int
from newsqa.settings import default
from newsqa.store import Store, StoredPassage
from newsqa.stories import shingles

# Which dense search answered: no filter; the nearest ids filtered in memory; or
# Chroma's own metadata filter (narrow filters, and the fallback).
DensePath = Literal["unfiltered", "in-memory filter", "chroma filter"]


@dataclass
class RetrievalResult:
    hits: list[Hit]
    query_vector: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    dense_path: DensePath = "unfiltered"


# A filtered dense search fetches unfiltered neighbours: enough that OVERFETCH times
# the candidates should pass (from the share of the library that passes), then 4x
# more while too few did, up to MAX_OVERFETCH (~20 ms at 79k passages, against
# ~300 ms for Chroma's own filter there).
OVERFETCH = 2
MAX_OVERFETCH = 4_000


def rrf(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings that hold an id."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


class HybridSearch:
    """Dense + BM25 over the store's passages; ``embeddings`` encodes the questions."""

    def __init__(
        self,
        store: Store,
        lexical: LexicalIndex,
        embeddings: MiniLMEmbeddings,
        *,
        candidates: int = default("candidates"),
        rrf_k: int = default("rrf_k"),
        fold_copies: bool = True,
    ) -> None:
        self.store = store
        self.lexical = lexical
        self.embeddings = embeddings
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.fold_copies = fold_copies  # off only to measure what folding changes

    def _dense(
        self, vector: np.ndarray, filters: Filters
    ) -> tuple[list[tuple[StoredPassage, float]], DensePath]:
        """The nearest ``candidates`` passages that pass the filters, with their cosine,
        and which path found them.

        Chroma's metadata filter scans metadata, which grows with the library (about
        10x an unfiltered query at 6k passages, 20x at 79k; see benchmarks/RESULTS.md).
        So a filtered search first asks for the nearest ids alone, enough of them that
        about ``OVERFETCH x candidates`` should pass (the BM25 index knows what share
        of the library passes), and filters them with the index's in-memory dates and
        article ids: when enough pass, they are the filtered top (every passage nearer
        than the last one kept is among those ids, up to the HNSW index's own
        approximation). A narrow filter (a few articles), or bad luck, falls back to
        Chroma's filter.
        """
        if not (filters.date_from or filters.date_to or filters.article_ids is not None):
            return self.store.dense_search(vector, self.candidates), "unfiltered"
        date_from, date_to = date_to_int(filters.date_from), date_to_int(filters.date_to)
        articles = list(filters.article_ids) if filters.article_ids is not None else None
        chosen = self._nearest_passing(vector, date_from, date_to, articles)
        if chosen is not None:
            found = {sp.passage.id: sp for sp in self.store.get_passages([p for p, _ in chosen])}
            if len(found) == len(chosen):  # else one was removed meanwhile: ask Chroma
                return [(found[pid], similarity) for pid, similarity in chosen], "in-memory filter"
        return self.store.dense_search(vector, self.candidates, filters), "chroma filter"

    def _nearest_passing(
        self, vector: np.ndarray, date_from: int, date_to: int, articles: list[str] | None
    ) -> list[tuple[str, float]] | None:
        """(id, cosine) of the nearest ``candidates`` passages that pass, from
        unfiltered neighbours; None when Chroma's filter should do it."""
        total = self.store.count_passages()
        share = self.lexical.share_allowed(date_from, date_to, articles)
        if not share or share * total < self.candidates:
            return None  # unknown, or so few pass that Chroma's filter finds them fast
        n = min(math.ceil(self.candidates * OVERFETCH / share), total)
        # A question's neighbours may pass the filter far less often than the library
        # does (a question about 1987 trade news filtered to 2017): ask for more.
        while n <= MAX_OVERFETCH or n == total:
            nearest = self.store.nearest(vector, n)
            keep = self.lexical.allowed([pid for pid, _ in nearest], date_from, date_to, articles)
            if keep is None:
                return None
            chosen = [near for near, ok in zip(nearest, keep, strict=True) if ok]
            if len(chosen) >= self.candidates or n == total:
                return chosen[: self.candidates]
            n = min(n * 4, total)
        return None

    def search(self, query: str, k: int, filters: Filters | None = None) -> RetrievalResult:
        filters = filters or Filters()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = self.embeddings.query_vector(query)
        t1 = time.perf_counter()
        dense, dense_path = self._dense(vector, filters)
        t2 = time.perf_counter()
        sparse = self.lexical.search(
            query,
            self.candidates,
            date_to_int(filters.date_from),
            date_to_int(filters.date_to),
            list(filters.article_ids) if filters.article_ids is not None else None,
        )
        t3 = time.perf_counter()

        found: dict[str, StoredPassage] = {sp.passage.id: sp for sp, _ in dense}
        dense_scores = {sp.passage.id: score for sp, score in dense}
        bm25_scores = dict(sparse)
        missing = [pid for pid, _ in sparse if pid not in found]
        for sp in self.store.get_passages(missing):
            found[sp.passage.id] = sp
        fused = rrf([[sp.passage.id for sp, _ in dense], [pid for pid, _ in sparse]], self.rrf_k)
        ranked = sorted((pid for pid in fused if pid in found), key=lambda p: -fused[p])
        hits = [
            Hit(
                passage=found[pid].passage,
                title=found[pid].title,
                date=found[pid].date,
                source=found[pid].source,
                score=fused[pid],
                dense_score=dense_scores.get(pid),
                bm25_score=bm25_scores.get(pid),
                sentence_vectors=found[pid].sentence_vectors,
                story=found[pid].story,
            )
            for pid in ranked
        ]
        hits = fold_copies(hits, k) if self.fold_copies else hits[:k]
        # Sentence vectors only for the passages kept (folded copies are not answered from).
        top = self.store.with_sentence_vectors([found[h.passage.id] for h in hits])
        hits = [
            replace(h, sentence_vectors=sp.sentence_vectors)
            for h, sp in zip(hits, top, strict=True)
        ]
        t4 = time.perf_counter()
        timings.update(embed=t1 - t0, dense=t2 - t1, bm25=t3 - t2, fusion=t4 - t3)
        return RetrievalResult(hits, vector, timings, dense_path)


# A passage from another article is folded when at least this share of its word
# 5-shingles is in the passages already kept.
COPY_SHARE = 0.5


def fold_copies(ranked: list[Hit], k: int) -> list[Hit]:
    """The best ``k`` hits such that none is a copy of another (issue 13).

    Walking down the ranking, a passage whose text is mostly in the passages already
    kept from *other* articles is folded into the kept passage it overlaps most
    (``Hit.copies`` keeps it, for "also reported by" and for comparing what copies
    say). Above all that is a wire copy of a story already represented; it is also
    boilerplate two outlets share, or a wire paragraph quoted in another story. A
    passage that adds text the kept ones lack stays. Passages of one article never
    fold (they overlap by a sentence by design).
    """
    kept: list[Hit] = []
    shingled: dict[str, set[str]] = {}

    def shingles_of(hit: Hit) -> set[str]:
        if hit.passage.id not in shingled:
            shingled[hit.passage.id] = shingles(hit.passage.text)
        return shingled[hit.passage.id]

    for hit in ranked:
        if len(kept) >= k:
            break
        others = [i for i, h in enumerate(kept) if h.passage.article_id != hit.passage.article_id]
        if others:
            mine = shingles_of(hit)
            overlap = {i: len(mine & shingles_of(kept[i])) for i in others}
            covered = mine & set().union(*(shingles_of(kept[i]) for i in others))
            if len(covered) >= COPY_SHARE * len(mine):
                # Prefer a kept passage of the same story, then the largest overlap.
                best = max(others, key=lambda i: (kept[i].story == hit.story, overlap[i]))
                kept[best] = replace(kept[best], copies=(*kept[best].copies, hit))
                continue
            # A shorter copy kept earlier (a flash, a trimmed reprint) gives its place to
            # this fuller passage, which then carries it as a copy.
            inside = [i for i in others if overlap[i] >= COPY_SHARE * len(shingles_of(kept[i]))]
            if inside:
                first = inside[0]
                swallowed = tuple(kept[i] for i in inside)
                kept[first] = replace(hit, copies=(*hit.copies, *swallowed))
                kept = [h for i, h in enumerate(kept) if i not in inside[1:]]
                continue
        kept.append(hit)
    return kept
