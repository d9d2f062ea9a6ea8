"""What the store writes for an article and its passages, and how it reads them back.

The one place that knows the record layout. To store a new article field, add
it to :func:`article_fields` (it lands on the article record) and read it back in
:func:`article_info` / :func:`stored_passage`; a field that filters or sweeps
select passages by goes in :func:`passage_fields` too.

An article record holds the article's metadata, and its text: as the Chroma
document on a server, in the sidecar when embedded (:mod:`newsqa.store.sidecar`).
A passage record holds no text and no copy of its article's title, source, date
or story: its text is its article's text between its offsets, and the rest is
read from the article record with it (:class:`ArticleView`). Libraries written
before that have both on each passage; they are read as they are.

Chroma metadata values must be scalars, so structured values are flattened:
sentence offsets as ``"s-e;s-e"``, dates also as an int (Chroma compares numbers
only), resolved relative dates as ``"s-e=YYYY-MM-DD/granularity;..."``, a story's
MinHash signature as base64 (``minhash``, on the article record only). Records
written before stories existed have no ``story`` and read as their own story.
Sentence vectors are int8 (x127, cosines within ~0.01 of fp32); the embedded
store keeps them as bytes in the sidecar, a Chroma server as base64 text in the
passage's metadata (``sentence_vectors``), which is also where libraries written
before the sidecar have them.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from newsqa.models import Article, DateSpan, Filters, Passage, Span, date_to_int

DIM = 384  # MiniLM's vector size
SENTENCE_VECTORS = "sentence_vectors"  # the metadata key of the base64 form
SIGNATURE_VALUES = 128  # a story signature's MinHash values (newsqa.stories.NUM_PERM)


@dataclass(frozen=True)
class ArticleInfo:
    """An article as listed in the library (no text)."""

    id: str
    title: str
    date: str | None
    source: str
    passages: int
    chars: int
    story: str = ""  # wire copies share one (newsqa.stories): the id of its first article


@dataclass(frozen=True)
class StoredPassage:
    """A passage read back from the store with its article's metadata."""

    passage: Passage
    title: str
    date: str | None
    source: str
    # float32 [len(passage.sentences), 384], or None when none were stored or read.
    sentence_vectors: np.ndarray | None = field(default=None, repr=False, compare=False)
    story: str = ""


@dataclass(frozen=True)
class EmbeddedArticle:
    """An article, its passages and their vectors: what one write stores for it."""

    article: Article
    passages: Sequence[Passage]
    passage_vectors: np.ndarray  # float32 [len(passages), 384], unit length
    sentence_vectors: Sequence[np.ndarray]  # per passage: [len(passage.sentences), 384]
    vector: np.ndarray  # the article record's own vector, [384]
    # Its story (newsqa.stories: set under the writer lock, just before the write) and
    # its MinHash signature (uint32 [128]), by which later copies find it.
    story: str = ""
    signature: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ArticleRecord:
    """An article as story grouping reads it: its text only when asked for."""

    id: str
    title: str
    date: str | None
    source: str
    story: str
    ingested_at: float
    signature: np.ndarray | None = field(default=None, repr=False, compare=False)
    text: str = field(default="", repr=False)


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
    """The article's metadata, on its record."""
    return {
        "title": article.title,
        "date": article.date or "",
        "source": article.source,
        **passage_fields(article),
    }


def passage_fields(article: Article) -> dict[str, Any]:
    """What passages are selected by, on each passage too: the date (filters) and the
    origin (``Store.delete_orphans``)."""
    return {"date_int": article.date_int, "origin": article.origin}


@dataclass(frozen=True)
class ArticleView:
    """What a passage read needs of its article record: the text and the metadata."""

    text: str
    title: str
    date: str | None
    source: str
    story: str


def article_view(article_id: str, text: str, meta: dict[str, Any]) -> ArticleView:
    return ArticleView(
        text,
        str(meta["title"]),
        str(meta["date"]) or None,
        str(meta["source"]),
        str(meta.get("story") or article_id),
    )


def article_metadata(embedded: EmbeddedArticle) -> dict[str, Any]:
    article = embedded.article
    meta = {
        **article_fields(article),
        "passages": len(embedded.passages),
        "chars": len(article.text),
        "ingested_at": time.time(),
        "story": embedded.story or article.id,
    }
    if embedded.signature is not None:
        meta["minhash"] = pack_signature(embedded.signature)
    return meta


def pack_signature(values: np.ndarray) -> str:
    """A story signature (uint32 values) as base64 text for a metadata value."""
    return base64.b64encode(np.asarray(values).astype("<u4").tobytes()).decode("ascii")


def unpack_signature(packed: str) -> np.ndarray | None:
    """The inverse of :func:`pack_signature`; None for anything that is not one."""
    try:
        values = np.frombuffer(base64.b64decode(packed, validate=True), dtype="<u4")
    except ValueError:
        return None
    return values.astype(np.uint32) if len(values) == SIGNATURE_VALUES else None


def pack_dates(spans: Sequence[DateSpan]) -> str:
    """Resolved dates as one metadata value: "start-end=date/granularity;..."."""
    return ";".join(f"{s.start}-{s.end}={s.date}/{s.granularity}" for s in spans)


def unpack_dates(value: str) -> tuple[DateSpan, ...]:
    """The inverse of :func:`pack_dates`."""
    out = []
    for item in value.split(";"):
        if not item:
            continue
        where, _, what = item.partition("=")
        a, _, b = where.partition("-")
        day, _, granularity = what.partition("/")
        out.append(DateSpan(int(a), int(b), day, granularity or "day"))
    return tuple(out)


def _encode_spans(spans: Sequence[Span]) -> str:
    return ";".join(f"{s.start}-{s.end}" for s in spans)


def _decode_spans(value: str) -> tuple[Span, ...]:
    pairs = (item.split("-") for item in value.split(";") if item)
    return tuple(Span(int(a), int(b)) for a, b in pairs)


def passage_metadata(
    article: Article, passage: Passage, sentence_vectors: np.ndarray | None = None
) -> dict[str, Any]:
    """A passage's metadata; ``sentence_vectors`` only where they travel in it (server)."""
    if passage.text != article.text[passage.start : passage.end]:
        # Stored passages keep no text of their own: it must be the article's, exactly.
        raise ValueError(f"passage {passage.id} is not its article's text at its offsets")
    meta = {
        **passage_fields(article),
        "article_id": article.id,
        "index": passage.index,
        "start": passage.start,
        "end": passage.end,
        "sentences": _encode_spans(passage.sentences),
        "dates": pack_dates(passage.dates),
    }
    if sentence_vectors is not None:
        meta[SENTENCE_VECTORS] = pack_vectors(sentence_vectors)
    return meta


def stored_passage(
    meta: dict[str, Any],
    article: ArticleView,
    own_text: str | None = None,
    sentence_vectors: np.ndarray | None = None,
) -> StoredPassage:
    """A passage from its metadata and its article; its text is the article's between
    its offsets, or ``own_text`` (older libraries stored it with the passage). Its
    sentence vectors come from the metadata when they are there, else
    ``sentence_vectors`` (the sidecar's)."""
    start, end = int(meta["start"]), int(meta["end"])
    passage = Passage(
        article_id=str(meta["article_id"]),
        index=int(meta["index"]),
        start=start,
        end=end,
        text=own_text if own_text else article.text[start:end],
        sentences=_decode_spans(str(meta["sentences"])),
        dates=unpack_dates(str(meta.get("dates") or "")),
    )
    packed = meta.get(SENTENCE_VECTORS)
    vectors = unpack_vectors(str(packed)) if packed else sentence_vectors
    return StoredPassage(
        passage,
        article.title,
        article.date,
        article.source,
        fitting(vectors, passage),
        story=article.story,
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
        story=str(meta.get("story") or article_id),
    )


def article_record(article_id: str, text: str, meta: dict[str, Any]) -> ArticleRecord:
    return ArticleRecord(
        id=article_id,
        title=str(meta["title"]),
        date=str(meta["date"]) or None,
        source=str(meta["source"]),
        story=str(meta.get("story") or article_id),
        ingested_at=float(meta.get("ingested_at") or 0.0),
        signature=unpack_signature(str(meta.get("minhash") or "")),
        text=text,
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


def by_stories(stories: Sequence[str]) -> dict[str, Any]:
    """A ``where`` clause for the articles (or passages) of these stories."""
    return {"story": {"$in": list(stories)}}
