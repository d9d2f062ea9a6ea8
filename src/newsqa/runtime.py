"""Process-wide setup for newsqa's entry points: the CLI, the app and ``ingest/``.

Importing the library changes no global state; a program that embeds newsqa
keeps its own environment and logging. The library is offline on its own: the
model loads from a local folder with ``local_files_only``, Chroma gets
``anonymized_telemetry=False``. What only the environment can switch (the
hub's progress bars and telemetry, tokenizer fork warnings, how llama.cpp's
OpenMP threads wait) and the noise of third-party loggers are set here, by the
programs newsqa ships, before the libraries that read them load.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import logging
import os
import platform
import signal
import sys
import tempfile
from functools import cache
from pathlib import Path

# setdefault: a user who knows what they are doing may still override these.
ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "TOKENIZERS_PARALLELISM": "false",
    # onnxruntime writes a telemetry device id under ~/.cache without it.
    "ORT_DISABLE_TELEMETRY": "1",
}
# llama.cpp's OpenMP threads spin while they wait for each other. On a busy machine
# (2 shared cores) that cut generation from ~30 to ~2 tokens/s; sleeping instead costs
# it next to nothing on an idle one. torch shares the OpenMP runtime (one libgomp.so.1
# per process, which reads this once, when the first of them loads), and its forward
# passes do wait between layers: set only where a local model may run.
LOCAL_LLM_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}

# They log a warning for every page or file they discard; newsqa's own per-file
# error already says why, so for users their chatter is noise.
QUIET_LOGGERS = ("trafilatura", "htmldate", "courlan", "justext", "charset_normalizer")

# glibc's M_ARENA_MAX, for mallopt: how many heaps ("arenas") its malloc may keep.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 1


def _limit_malloc_arenas() -> None:
    """One malloc heap for the whole process, as MALLOC_ARENA_MAX=1 would give.

    By default glibc gives threads their own heaps, up to 8 per core, and each keeps
    what it grew to. Ingest allocates on many threads (the writer thread, Chroma's
    own, torch's) and its RSS grew ~12 KB with every passage stored, against ~7 KB
    with one heap; its speed was the same (benchmarks/RESULTS.md). glibc fixes the
    number of heaps once the ninth is made, so this must run before the threads
    start: entry points call it first. A MALLOC_ARENA_MAX set by the user wins.
    """
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (looked up once: ``libc_ver`` reads the
    interpreter's binary, and the app calls ``configure_process`` on every rerun)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def mallopt(param: int, value: int) -> None:
    """Tune glibc's malloc (``mallopt(3)``); nothing to do on another libc."""
    libc = _glibc()
    if libc is not None:
        libc.mallopt(param, value)


def release_free_memory() -> None:
    """Return the free memory in malloc's heaps to the system (``malloc_trim(3)``;
    nothing to do off glibc). Worth it after large, short-lived allocations, like a
    forward pass's activations (ingest calls it every ``ingest.TRIM_EVERY`` passages)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def malloc_heaps() -> int | None:
    """How many malloc heaps (arenas) this process has, by ``malloc_info(3)``; None
    off glibc."""
    libc = _glibc()
    if libc is None:
        return None
    libc.fdopen.restype = ctypes.c_void_p
    with tempfile.TemporaryFile() as f:
        stream = ctypes.c_void_p(libc.fdopen(os.dup(f.fileno()), b"w"))
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        f.seek(0)
        return f.read().decode().count("<heap nr=")


def _dump_stacks_on_sigusr1() -> None:
    """``kill -USR1 <pid>`` writes every thread's Python stack to stderr.

    How to see what a running app or ingest is doing when it seems stuck (it is how
    the browser test's stalled upload was traced to Streamlit's garbage collection:
    .streamlit/config.toml). Left alone where Python code already handles SIGUSR1,
    and where there is no such signal (Windows).
    """
    usr1 = getattr(signal, "SIGUSR1", None)
    # The process's own stderr: sys.stderr may be a stand-in without a file descriptor
    # (click's CliRunner, a program capturing output), which faulthandler cannot use.
    stderr = sys.__stderr__
    if usr1 is None or stderr is None or signal.getsignal(usr1) != signal.SIG_DFL:
        return
    # A closed or descriptor-less stderr too: then there is nowhere to write.
    with contextlib.suppress(OSError, ValueError):
        faulthandler.register(usr1, file=stderr, all_threads=True)


def configure_process(data_dir: Path | None = None, local_llm: bool = False) -> None:
    """Set the environment, logging and allocator newsqa's programs run with
    (idempotent), and make SIGUSR1 dump every thread's stack to stderr.
    ``local_llm``: the process may run a GGUF model with llama.cpp
    (``NEWSQA_LLM_GGUF`` is set); call it before torch or llama.cpp loads.

    With the library's ``data_dir``: torch makes its compile cache folder as it
    loads (``/tmp/torchinductor_<user>`` by default), though newsqa compiles
    nothing; it goes in the data dir, like everything else newsqa writes.
    """
    _limit_malloc_arenas()
    _dump_stacks_on_sigusr1()
    for key, value in (ENVIRONMENT | (LOCAL_LLM_ENVIRONMENT if local_llm else {})).items():
        os.environ.setdefault(key, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if data_dir is not None:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(data_dir / "cache" / "torch"))


__all__ = [
    "ENVIRONMENT",
    "LOCAL_LLM_ENVIRONMENT",
    "QUIET_LOGGERS",
    "configure_process",
    "malloc_heaps",
    "mallopt",
    "release_free_memory",
]
