"""All settings in one place: ``NEWSQA_*`` environment variables, CLI options on top.

Importing this module also switches off every outbound call the stack would
otherwise make (Hugging Face hub, Chroma telemetry, Streamlit usage stats), so
no user has to remember to.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# setdefault: a user who knows what they are doing may still override these.
_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "TOKENIZERS_PARALLELISM": "false",
}
for _key, _value in _OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "newsqa"


class Settings(BaseSettings):
    """newsqa's configuration. Every field can be set as ``NEWSQA_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded Chroma store, the BM25 index and the lock live.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="http://host:port of a Chroma server; unset = embedded store in data_dir.",
    )
    collection: str = Field(default="newsqa", description="Chroma collection name prefix.")

    # Chunking: passages of whole sentences, roughly this many characters, with overlap.
    chunk_chars: int = Field(default=600, ge=100)
    chunk_overlap_sentences: int = Field(default=1, ge=0)

    # Retrieval
    top_k: int = Field(default=6, ge=1, le=100, description="Passages given to the answerer.")
    candidates: int = Field(default=40, ge=1, description="Candidates per retriever before fusion.")
    rrf_k: int = Field(default=60, ge=1)

    # Answering
    answer_mode: Literal["extractive", "generative"] = "extractive"
    max_answer_sentences: int = Field(default=3, ge=1)
    # Calibrated on tests/data/seed_dev.jsonl with `python benchmarks/calibrate.py`.
    min_support: float = Field(default=0.36, description="Refuse below this evidence score.")

    # Input limits
    max_file_bytes: int = Field(default=20_000_000, ge=1)
    # About 170,000 words: far beyond any news article, and still under a minute to embed.
    max_article_chars: int = Field(default=1_000_000, ge=1)
    max_question_chars: int = Field(default=2_000, ge=1)

    # Fetching pages and feeds (`newsqa ingest URL`, `newsqa feeds`). A page is held to
    # max_file_bytes like a file.
    fetch_timeout: float = Field(
        default=20.0, gt=0, description="Seconds to connect, to wait for data, and in all."
    )
    max_redirects: int = Field(default=5, ge=0, le=30)
    # "1" allows every address; a comma-separated list of networks ("10.1.0.0/16,
    # 192.168.1.5") allows those only. Without it, a link cannot make newsqa read the
    # user's router, intranet or a cloud metadata service (169.254.169.254).
    allow_private_urls: str = Field(
        default="",
        description="Allow loopback, private and link-local addresses: 1, or networks.",
    )

    batch_size: int = Field(default=32, ge=1, description="Embedding batch size.")
    # Passages embedded, then written, per step of an ingest. Each step sorts its
    # passages by length to pad little: 128 ran ~9% slower than 512. A killed ingest
    # loses at most one step (~15 s of work on 2 cores).
    ingest_batch: int = Field(default=512, ge=1)
    # "onnx-int8" (extra `newsqa[fast]`) is ~1.6x faster on CPU, same retrieval quality;
    # keep one embedder per library: vectors from the two differ slightly.
    embedder: Literal["minilm", "onnx-int8"] = "minilm"

    # Generative mode (optional extra `newsqa[llm]`)
    llm_gguf: Path | None = None
    llm_base_url: str | None = None
    llm_model: str = "local"
    llm_api_key: str | None = None

    @field_validator("allow_private_urls")
    @classmethod
    def _check_networks(cls, value: str) -> str:
        from newsqa.addresses import AddressPolicy

        AddressPolicy.parse(value)  # raises ValueError with the bad entry
        return value.strip()

    @field_validator("chroma_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"chroma_url must look like http://host:port, got {value!r}")
        return value.rstrip("/")
