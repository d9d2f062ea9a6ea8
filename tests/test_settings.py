"""Settings: overrides validated like environment values, one clear line for a bad one,
and no global side effects from importing the library."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsqa import NewsQA, Settings, SettingsError
from newsqa.generative import chat_model_from_settings
from newsqa.settings import default

NEWSQA = Path(sys.executable).parent / "newsqa"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    return {**env, **extra}


def test_keyword_overrides_are_converted_like_environment_values(tmp_path: Path) -> None:
    qa = NewsQA(data_dir=str(tmp_path / "lib"), top_k="3", llm_gguf=str(tmp_path / "m.gguf"))
    assert qa.settings.data_dir == tmp_path / "lib" and isinstance(qa.settings.data_dir, Path)
    assert qa.settings.top_k == 3
    assert qa.settings.llm_gguf == tmp_path / "m.gguf"
    # Nothing was opened or loaded by building it.
    assert not (tmp_path / "lib").exists()
    # On top of a given Settings, the others stay as given.
    base = Settings(data_dir=tmp_path / "a", top_k=9)
    over = NewsQA(base, chroma_url="http://127.0.0.1:8000/").settings
    assert (over.data_dir, over.top_k, over.chroma_url) == (
        tmp_path / "a",
        9,
        "http://127.0.0.1:8000",
    )


def test_an_empty_variable_means_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("NEWSQA_DATA_DIR", "")
    monkeypatch.setenv("NEWSQA_TOP_K", "")
    monkeypatch.setenv("NEWSQA_CHROMA_URL", "")
    settings = Settings()
    assert settings.data_dir == tmp_path / "newsqa"  # not the current directory
    assert settings.top_k == default("top_k")
    assert settings.chroma_url is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"top_k": 0}, "top_k (NEWSQA_TOP_K): Input should be greater than or equal to 1, got 0"),
        ({"top_k": "many"}, "top_k (NEWSQA_TOP_K): Input should be a valid integer"),
        ({"chroma_url": "localhost:8000"}, "chroma_url (NEWSQA_CHROMA_URL): must look like"),
        ({"answer_mode": "poetry"}, "answer_mode (NEWSQA_ANSWER_MODE): Input should be"),
        ({"top_kk": 3}, "top_kk (NEWSQA_TOP_KK): no such setting"),
    ],
)
def test_a_bad_override_is_one_clear_error(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        NewsQA(data_dir=tmp_path, **overrides)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bad_environment_value_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_MAX_ANSWER_SENTENCES", "three")
    with pytest.raises(
        SettingsError, match=r"max_answer_sentences \(NEWSQA_MAX_ANSWER_SENTENCES\)"
    ):
        Settings()


def test_defaults_live_in_settings_only() -> None:
    from newsqa.answering import ExtractiveAnswerer
    from newsqa.articles import DEFAULT_MAX_BYTES
    from newsqa.retrieval import HybridSearch

    assert default("top_k") == Settings.model_fields["top_k"].default == 6
    assert Settings().max_file_bytes == DEFAULT_MAX_BYTES
    answerer = inspect.signature(ExtractiveAnswerer).parameters
    assert answerer["min_confidence"].default == Settings().min_confidence
    assert answerer["max_chars"].default == Settings().max_answer_chars
    search = inspect.signature(HybridSearch).parameters
    assert (search["candidates"].default, search["rrf_k"].default) == (
        Settings().candidates,
        Settings().rrf_k,
    )


def test_llama_threads_default_to_every_core_and_follow_the_setting(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    pytest.importorskip("llama_cpp", reason="the llm extra (llama-cpp-python) is not installed")
    from newsqa.generative import available_cores

    chat = chat_model_from_settings(Settings(data_dir=tmp_path, llm_gguf=model))
    assert chat.n_threads is None  # type: ignore[attr-defined]
    assert available_cores() == len(os.sched_getaffinity(0))
    chat = chat_model_from_settings(Settings(data_dir=tmp_path, llm_gguf=model, llm_threads=3))
    assert chat.n_threads == 3  # type: ignore[attr-defined]


def test_importing_newsqa_changes_no_global_state() -> None:
    # The libraries newsqa builds on first (some set their own loggers as they load),
    # then newsqa: it must add no change of its own.
    code = """
import logging, os
import bm25s, chromadb, charset_normalizer, langchain_core, tqdm, trafilatura
before = dict(os.environ)
levels = {n: logging.getLogger(n).level for n in ("trafilatura", "htmldate", "charset_normalizer")}
import newsqa, newsqa.cli, newsqa.qa, newsqa.ingest, newsqa.articles, newsqa.generative
from newsqa import NewsQA, Settings
NewsQA(data_dir="/tmp/unused-newsqa-lib")
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
assert {n: logging.getLogger(n).level for n in levels} == levels
print("clean")
"""
    env = {k: v for k, v in clean_env().items() if not k.startswith(("HF_", "OMP_"))}
    env.pop("TOKENIZERS_PARALLELISM", None)
    env.pop("ANONYMIZED_TELEMETRY", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "clean" in done.stdout, done.stderr


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = clean_env(NEWSQA_DATA_DIR=str(tmp_path / "lib"), NEWSQA_TOP_K="0")
    done = subprocess.run(
        [str(NEWSQA), "articles", "list"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert "bad setting: top_k (NEWSQA_TOP_K)" in done.stderr
    assert "Traceback" not in done.stderr
