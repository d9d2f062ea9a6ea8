"""Hybrid retrieval: dense (MiniLM in Chroma) and BM25, fused by reciprocal rank.

MiniLM alone is a weak retriever and BM25 alone misses paraphrases; RRF needs no
score calibration between the two and beats either (see benchmarks/retrieval.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from newsqa.lexical import LexicalIndex
from newsqa.models import Hit, date_to_int
from newsqa.store import Store, StoredPassage, date_filter, stored_passage


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to a date range (inclusive, ISO dates) and/or some articles."""

    date_from: str | None = None
    date_to: str | None = None
    article_ids: tuple[str, ...] | None = None


@dataclass
class RetrievalResult:
    hits: list[Hit]
    query_vector: list[float]
    timings: dict[str, float] = field(default_factory=dict)


def rrf(rankings: list[list[str]], k: int = 60) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1 / (k + rank) over the rankings that hold an id."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return scores


class HybridSearch:
    """Dense + BM25 over the store's passages."""

    def __init__(self, store: Store, lexical: LexicalIndex, candidates: int = 40, rrf_k: int = 60):
        self.store = store
        self.lexical = lexical
        self.candidates = candidates
        self.rrf_k = rrf_k

    def search(self, query: str, k: int, filters: Filters | None = None) -> RetrievalResult:
        filters = filters or Filters()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        vector = self.store.embeddings.embed_query(query)
        t1 = time.perf_counter()
        where = date_filter(filters.date_from, filters.date_to, filters.article_ids)
        dense = self.store.dense_search(vector, self.candidates, where)
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
        if missing:
            got = self.store.passages_collection.get(
                ids=missing, include=["documents", "metadatas"]
            )

            for text, meta in zip(got["documents"] or [], got["metadatas"] or [], strict=True):
                sp = stored_passage(text, dict(meta))
                found[sp.passage.id] = sp
        fused = rrf([[sp.passage.id for sp, _ in dense], [pid for pid, _ in sparse]], self.rrf_k)
        ranked = sorted((pid for pid in fused if pid in found), key=lambda p: -fused[p])[:k]
        t4 = time.perf_counter()
        timings.update(embed=t1 - t0, dense=t2 - t1, bm25=t3 - t2, fusion=t4 - t3)
        hits = [
            Hit(
                passage=found[pid].passage,
                title=found[pid].title,
                date=found[pid].date,
                source=found[pid].source,
                score=fused[pid],
                dense_score=dense_scores.get(pid),
                bm25_score=bm25_scores.get(pid),
            )
            for pid in ranked
        ]
        return RetrievalResult(hits, vector, timings)


def hit_to_document(hit: Hit) -> Document:
    p = hit.passage
    return Document(
        id=p.id,
        page_content=p.text,
        metadata={
            "article_id": p.article_id,
            "title": hit.title,
            "date": hit.date,
            "source": hit.source,
            "start": p.start,
            "end": p.end,
            "score": hit.score,
        },
    )


class NewsRetriever(BaseRetriever):
    """The hybrid search as a LangChain retriever, for use in any LCEL chain."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    search: HybridSearch
    k: int = 6
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        result = self.search.search(query, self.k, self.filters)
        return [hit_to_document(hit) for hit in result.hits]
