"""The hybrid search as a LangChain retriever, for use in any LCEL chain.

Kept apart from :mod:`newsqa.retrieval`: importing LangChain's retriever base class
imports its runnables, tracers and langsmith (~0.3 s), which answering a question
(``newsqa ask``) does not need.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from newsqa.models import Filters, Hit
from newsqa.retrieval import HybridSearch


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
