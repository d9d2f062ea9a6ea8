"""What the store writes for an article and its passages, and how it reads them back.

The one place that knows the record layout. To store a new article field (a
story id, date spans), add it to :func:`article_fields` (it then lands on the
article record and on each of its passages, where filters and BM25 can see it)
and read it back in :func:`article_info` / :func:`stored_passage`.

Chroma metadata values must be scalars, so structured values are flattened:
sentence offsets as ``"s-e;s-e"``, dates also as an int (Chroma compares numbers
only). Sentence vectors are int8 (x127, cosines within ~0.01 of fp32); the
embedded store keeps them as bytes in a sidecar (:mod:`newsqa.store.sentences`),
a Chroma server as base64 text in the passage's metadata (``sentence_vectors``),
which is also where libraries written before the sidecar have them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from newsqa.models import Article, Filters, Passage, Span, date_to_int

DIM = 384  # MiniLM's vector size
SENTENCE_VECTORS = "sentence_vectors"  # the metadata key of the base64 form


@dataclass(frozen=True)
class ArticleInfo:
    """An article as listed in the library (no text)."""

    id: str
    title: str
    date: str | None
    source: str
    passages: int
    chars: int


@dataclass(frozen=True)
class StoredPassage:
    """A passage read back from the store with its article's metadata."""

    passage: Passage
    title: str
    date: str | None
    source: str
    # float32 [len(passage.sentences), 384], or None when none were stored or read.
    sentence_vectors: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EmbeddedArticle:
    """An article, its passages and their vectors: what one write stores for it."""

    article: Article
    passages: Sequence[Passage]
    passage_vectors: np.ndarray  # float32 [len(passages), 384], unit length
    sentence_vectors: Sequence[np.ndarray]  # per passage: [len(passage.sentences), 384]
    vector: np.ndarray  # the article record's own vector, [384]


# -- sentence vectors ---------------------------------------------------------------------


def quantize(vectors: np.ndarray) -> bytes:
    """Unit vectors as int8 bytes (x127): 384 bytes per vector."""
    return np.round(np.asarray(vectors, dtype=np.float32) * 127).astype(np.int8).tobytes()


def dequantize(raw: bytes) -> np.ndarray:
    """The inverse of :func:`quantize`, renormalised; all-zero rows stay zero."""
    vectors = np.frombuffer(raw, dtype=np.int8).reshape(-1, DIM).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def pack_vectors(vectors: np.ndarray) -> str:
    """:func:`quantize`, as base64 text for a metadata value (512 characters a vector)."""
    return base64.b64encode(quantize(vectors)).decode("ascii")


def unpack_vectors(packed: str) -> np.ndarray:
    """The inverse of :func:`pack_vectors`."""
    return dequantize(base64.b64decode(packed))


def fitting(vectors: np.ndarray | None, passage: Passage) -> np.ndarray | None:
    """``vectors`` if there is one per sentence of ``passage``, else None."""
    return vectors if vectors is not None and len(vectors) == len(passage.sentences) else None


# -- articles and passages -----------------------------------------------------------------


def article_fields(article: Article) -> dict[str, Any]:
    """The article's metadata, on its record and on each of its passages."""
    return {
        "title": article.title,
        "date": article.date or "",
        "date_int": article.date_int,
        "source": article.source,
        "origin": article.origin,
    }


def article_metadata(article: Article, passages: int) -> dict[str, Any]:
    return {
        **article_fields(article),
        "passages": passages,
        "chars": len(article.text),
        "ingested_at": time.time(),
    }


def _encode_spans(spans: Sequence[Span]) -> str:
    return ";".join(f"{s.start}-{s.end}" for s in spans)


def _decode_spans(value: str) -> tuple[Span, ...]:
    pairs = (item.split("-") for item in value.split(";") if item)
    return tuple(Span(int(a), int(b)) for a, b in pairs)


def passage_metadata(
    article: Article, passage: Passage, sentence_vectors: np.ndarray | None = None
) -> dict[str, Any]:
    """A passage's metadata; ``sentence_vectors`` only where they travel in it (server)."""
    meta = {
        **article_fields(article),
        "article_id": article.id,
        "index": passage.index,
        "start": passage.start,
        "end": passage.end,
        "sentences": _encode_spans(passage.sentences),
    }
    if sentence_vectors is not None:
        meta[SENTENCE_VECTORS] = pack_vectors(sentence_vectors)
    return meta


def stored_passage(
    text: str, meta: dict[str, Any], sentence_vectors: np.ndarray | None = None
) -> StoredPassage:
    """A passage from its text and metadata; its sentence vectors from the metadata
    when they are there, else ``sentence_vectors`` (the sidecar's)."""
    passage = Passage(
        article_id=str(meta["article_id"]),
        index=int(meta["index"]),
        start=int(meta["start"]),
        end=int(meta["end"]),
        text=text,
        sentences=_decode_spans(str(meta["sentences"])),
    )
    packed = meta.get(SENTENCE_VECTORS)
    vectors = unpack_vectors(str(packed)) if packed else sentence_vectors
    return StoredPassage(
        passage,
        str(meta["title"]),
        str(meta["date"]) or None,
        str(meta["source"]),
        fitting(vectors, passage),
    )


def with_vectors(stored: StoredPassage, vectors: np.ndarray | None) -> StoredPassage:
    """``stored`` carrying ``vectors`` as its sentence vectors (None if they do not fit)."""
    return replace(stored, sentence_vectors=fitting(vectors, stored.passage))


def article_info(article_id: str, meta: dict[str, Any]) -> ArticleInfo:
    return ArticleInfo(
        id=article_id,
        title=str(meta["title"]),
        date=str(meta["date"]) or None,
        source=str(meta["source"]),
        passages=int(meta["passages"]),
        chars=int(meta["chars"]),
    )


def article_origin(meta: dict[str, Any]) -> str:
    """Where an article came from; records older than ``origin`` give their source."""
    return str(meta.get("origin") or meta["source"])


# -- filters --------------------------------------------------------------------------------


def where(filters: Filters | None) -> dict[str, Any] | None:
    """A Chroma ``where`` clause for a date range and/or a set of articles."""
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.date_from:
        clauses.append({"date_int": {"$gte": date_to_int(filters.date_from)}})
    if filters.date_to:
        clauses.append({"date_int": {"$lte": date_to_int(filters.date_to)}})
    if filters.article_ids is not None:
        clauses.append({"article_id": {"$in": list(filters.article_ids)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def by_articles(article_ids: Sequence[str]) -> dict[str, Any]:
    """A ``where`` clause for the passages of these articles."""
    return {"article_id": {"$in": list(article_ids)}}
