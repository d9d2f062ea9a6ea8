"""The reference every newsqa figure is shown beside: the plain LangChain RAG recipe.

RecursiveCharacterTextSplitter (1000 characters, 200 overlap), the same packaged
MiniLM embeddings in a ``langchain_chroma`` store, dense similarity search only, and
the top passage returned as the answer and as its one citation. It never refuses:
that is what the recipe does, so its refusal figures are the honest reference.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import chromadb
from langchain_chroma import Chroma
from langchain_core.documents import Document
from tqdm import tqdm

from newsqa.embeddings import MiniLMEmbeddings
from newsqa.evaluation.datasets import EvalQuestion
from newsqa.evaluation.records import Cited, IngestStats, Outcome, Retrieved
from newsqa.models import Article

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
# Chunks per add call: keeps the progress bar moving and stays under Chroma's batch cap.
ADD_BATCH = 256


def split_articles(articles: Sequence[Article]) -> list[Document]:
    """The recipe's chunks, each with its article id and start offset in the article."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter  # the `eval` extra

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
    )
    documents = [
        Document(page_content=a.text, metadata={"article_id": a.id, "title": a.title})
        for a in articles
    ]
    return splitter.split_documents(documents)


class BaselineSystem:
    """Dense-only retrieval over 1000/200 character chunks; the top chunk is the answer."""

    name = "baseline"

    def __init__(self, data_dir: Path, embeddings: MiniLMEmbeddings | None = None) -> None:
        client = chromadb.PersistentClient(
            path=str(data_dir), settings=chromadb.Settings(anonymized_telemetry=False)
        )
        self.store = Chroma(
            collection_name="baseline",
            embedding_function=embeddings or MiniLMEmbeddings(),
            client=client,
        )

    def ingest(self, articles: Sequence[Article], *, progress: bool) -> IngestStats:
        t0 = time.perf_counter()
        chunks = split_articles(articles)
        ids = [f"{c.metadata['article_id']}:{i}" for i, c in enumerate(chunks)]
        with tqdm(
            total=len(chunks),
            desc="Embedding (baseline)",
            unit="chunk",
            disable=not progress,
            file=sys.stderr,
        ) as bar:
            for i in range(0, len(chunks), ADD_BATCH):
                self.store.add_documents(chunks[i : i + ADD_BATCH], ids=ids[i : i + ADD_BATCH])
                bar.update(len(chunks[i : i + ADD_BATCH]))
        return IngestStats(len(articles), len(chunks), time.perf_counter() - t0)

    def run(self, question: EvalQuestion, depth: int, *, answer: bool) -> Outcome:
        # The recipe has no notion of a conversation: the question is searched as asked.
        t0 = time.perf_counter()
        # Held-out articles (the negative-rejection variant) are filtered out, as
        # if they had never been ingested.
        where: dict[str, Any] | None = (
            {"article_id": {"$nin": sorted(question.excluded)}} if question.excluded else None
        )
        docs = self.store.similarity_search(question.question, k=depth, filter=where)
        top = docs[:1] if answer else []
        seconds = time.perf_counter() - t0
        citations = [
            Cited(
                article_id=str(d.metadata["article_id"]),
                text=d.page_content,
                start=int(d.metadata["start_index"]),
                end=int(d.metadata["start_index"]) + len(d.page_content),
            )
            for d in top
        ]
        return Outcome(
            answer=top[0].page_content if top else ("" if answer else None),
            refused=answer and not top,
            citations=citations,
            retrieved=[Retrieved(str(d.metadata["article_id"]), d.page_content) for d in docs],
            seconds=seconds,
        )
