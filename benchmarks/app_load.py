"""The chat app under many users, and with a large library: before and after, one run.

Two measurements (issue 14), each against this tree and, with ``--baseline REV ...``,
against the app and library code of each REV (exported with ``git archive`` under
``benchmarks/out/app-load/``) in the same run, so that all see the same load:

``load``   ``streamlit run ui/app.py`` over a library. N Chromium sessions (one
           browser, a context each, so each is its own Streamlit session) open the
           app as soon as the server answers its health check, while the library is
           still loading. Each types its questions one after another, the next as
           soon as the previous answer is on screen: no pause, as in the issue.
           Per N: how many questions were shown exactly once, in order, and
           answered; seconds from Enter to the question on screen and to its answer
           (p50/p95); the CPU used over the run by the app server, by the harness
           (Chromium, Playwright and this script) and by everything else, as shares
           of the machine; the websocket messages the pages received per question
           (each one a change the browser renders: with many tabs on two cores the
           tabs' rendering is most of the machine); the load average. The variants
           alternate per N.
``rerun``  The server time of one rerun of the app with a large library, from
           ``streamlit.testing.v1.AppTest`` in a child process per variant: the
           script's own run time (measured inside that process around the app's
           ``main()``) and ``AppTest.run``'s wall time, for plain reruns, turning a
           library page and searching it (this tree only), and asking a question.

Libraries, built once under ``benchmarks/out/app-load/`` (git-ignored) and reused:

``seed+bbc``  the seed article and the 2,225 BBC News articles (2,226 articles)
``seed+bbc300`` the seed article and the first 300 BBC News articles: the library
              the issue's figures (p95 3.4 s at 8 sessions) were measured on
``10k``       those plus the 2017 news articles and Reuters-21578 bodies, to
              10,000 articles
``10k-hashed`` the same 10,000 articles, stored with stand-in vectors (a unit
              vector seeded by each text's hash) instead of MiniLM's: no model
              time in the build (store writes remain: 39k passages), for the
              ``rerun`` figures, whose reruns read article records, never
              vectors. Its answers are meaningless; its "ask a question" row
              times the path, not the answer.

The "before" is 834fce8, the last commit before the issue-14 work (c021819). Its
code opens a library written by this tree's, but does not read it as it was
written: since 60f30ba the sentence vectors live in a sidecar, not in the passage
records 834fce8 reads, so it would embed every candidate sentence at question
time. ``build seed+bbc --revision 834fce8`` has 834fce8's own ``newsqa ingest``
write it a library of its own (``seed+bbc@834fce8``), which ``--baseline 834fce8``
then uses; without one a baseline reads this tree's library (fine for ``rerun``
over ``10k-hashed``, whose reruns list article records).

How to run::

    .venv/bin/python benchmarks/app_load.py build seed+bbc      # once
    .venv/bin/python benchmarks/app_load.py build seed+bbc --revision 834fce8
    .venv/bin/python benchmarks/app_load.py load --sessions 1 8 20 --baseline 834fce8
    .venv/bin/python benchmarks/app_load.py load --sessions 8 --floor   # + a bare chat
    .venv/bin/python benchmarks/app_load.py build 10k-hashed     # once (no model)
    .venv/bin/python benchmarks/app_load.py rerun --library 10k-hashed --baseline 834fce8
    .venv/bin/python benchmarks/app_load.py build 10k            # once (hours on 2 cores)
    .venv/bin/python benchmarks/app_load.py rerun --baseline 834fce8
    .venv/bin/python benchmarks/app_load.py library    # no store: the list's share of a rerun

Results go to ``benchmarks/out/app-load-LIBRARY.json`` and
``benchmarks/out/app-load-rerun-LIBRARY.json``, with their provenance.
``tests/test_app_load.py`` runs the ``load`` harness with 8 sessions in CI. The
machine is shared: read the ratios within one run, next to the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import OUT, ROOT, SHARED_DATA, load_str, log, median, need, percentile, save_json, table

APP_OUT = OUT / "app-load"
LIBRARIES = {
    "seed+bbc": APP_OUT / "seed+bbc",
    "seed+bbc300": APP_OUT / "seed+bbc300",
    "10k": APP_OUT / "10k",
    "10k-hashed": APP_OUT / "10k-hashed",
}
BBC = SHARED_DATA / "bbc_news" / "bbc_news_2225.jsonl"
# BBC articles in each library built from the seed and the BBC file.
BBC_ARTICLES = {"seed+bbc": 2_225, "seed+bbc300": 300}
TEN_K = 10_000
# $CHROMIUM, or `chromium` on PATH: the lookup `.ci/run` and tests/test_browser.py use.
CHROMIUM = Path(shutil.which(os.environ.get("CHROMIUM") or "chromium") or "/usr/bin/chromium")
# From docs/STACK.md: no sandbox in containers, and no background network at all.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
STARTUP_S = 300  # the server's health check; then the first question waits for the model
FIRST_QUESTION_S = 300  # the input box takes questions once the library is loaded
SHOWN_S = 60  # a question not on screen by then is counted lost
ANSWER_S = 180

# Non-stale chat messages as the page shows them: role, text, and whether the
# assistant side holds an answer (text or a refusal) or an error/warning.
TRANSCRIPT_JS = """() => Array.from(
    document.querySelectorAll('[data-testid="stChatMessageContent"]'))
  .filter(c => !c.closest('[data-stale="true"]'))
  .map(c => ({
    role: (c.getAttribute('aria-label') || '').replace('Chat message from ', ''),
    text: c.innerText.trim(),
    answered: !!c.querySelector('.nqa-answer, [data-testid="stAlertContentInfo"]'),
    failed: !!c.querySelector(
      '[data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]'),
  }))"""
SHOWN_JS = f"""(q) => ({TRANSCRIPT_JS})().some(m => m.role === 'user' && m.text === q)"""
ANSWERED_JS = f"""(q) => {{
  const t = ({TRANSCRIPT_JS})();
  const i = t.findIndex(m => m.role === 'user' && m.text === q);
  return i >= 0 && i + 1 < t.length && (t[i + 1].answered || t[i + 1].failed);
}}"""
STATE_JS = """() => {
  const app = document.querySelector('[data-test-script-state]');
  const errors = Array.from(document.querySelectorAll('[data-testid="stException"]'));
  return {
    script: app && app.getAttribute('data-test-script-state'),
    connection: app && app.getAttribute('data-test-connection-state'),
    exceptions: errors.map(e => e.innerText.slice(0, 300)),
  };
}"""
APP_SECONDS = re.compile(r"answered in ([0-9.]+) s")
IDLE_JS = """() => {
  const app = document.querySelector('[data-test-script-state]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


@dataclass(frozen=True)
class Question:
    text: str
    expect: str | None = None  # a substring the answer must hold (None: any answer)


@dataclass
class Asked:
    question: str
    input_wait_s: float = 0.0  # until the box took the text (disabled while it cannot)
    shown_s: float | None = None  # Enter -> question on screen; None: never shown
    answer_s: float | None = None  # Enter -> answer (or error) on screen
    entered_at: float = 0.0  # when Enter was pressed (perf_counter)
    app_s: float | None = None  # NewsQA.ask's own time, from the "answered in" caption


@dataclass
class SessionResult:
    asked: list[Asked]
    transcript: list[dict[str, Any]]
    # Of the questions asked: shown exactly once, in the order asked, each followed
    # by an answer (holding the expected text, when one is given).
    kept: int = 0
    problems: list[str] = field(default_factory=list)
    messages: int = 0  # websocket messages the page received from the server


@dataclass
class LoadResult:
    variant: str
    sessions: int
    asked: int
    kept: int
    lost: int  # never shown on screen
    errors: int  # shown with an error instead of an answer
    answer_p50: float
    answer_p95: float
    shown_p50: float
    shown_p95: float
    input_wait_p50: float  # after an answer, until the box took the next question
    input_wait_p95: float
    server_cpu: float  # share of the machine (all cores), over the run
    harness_cpu: float
    other_cpu: float
    load: str  # 1/5/15-minute load average at the end of the run
    wall_s: float
    problems: list[str]
    load_start: str = ""  # ... and before the server started
    # Websocket messages from the server per question asked (page loads included): each
    # is a change the browser re-renders, which is what the tabs spend their CPU on.
    messages_per_question: float = 0.0
    # Each session's first question is typed the moment the library has loaded, when
    # every tab draws the whole page at once; the later ones are the steady state.
    first_answer_p50: float = 0.0
    first_answer_p95: float = 0.0
    later_answer_p50: float = 0.0
    later_answer_p95: float = 0.0
    # NewsQA.ask's own time (the answer's "answered in" caption): what the app computes,
    # against what the person waits for; the rest is queueing, the run and the browser.
    app_first_p50: float = 0.0
    app_later_p50: float = 0.0
    app_later_p95: float = 0.0
    # One row per question: session, index, seconds from the run's start to Enter, to
    # shown and answered (from Enter), and the app's own time.
    timeline: list[dict[str, Any]] = field(default_factory=list)


# -- the app server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def streamlit_server(app_root: Path, data_dir: Path, log_path: Path) -> Iterator[Server]:
    """``streamlit run <app_root>/ui/app.py`` on a free port, with ``<app_root>/src`` first
    on the path (so a baseline export runs its own library code), from ``app_root``
    (so its own ``.streamlit/config.toml`` applies)."""
    env = {
        **os.environ,
        "NEWSQA_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(app_root / "src"),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    for name in ("NEWSQA_CHROMA_URL", "NEWSQA_LLM_GGUF", "NEWSQA_LLM_BASE_URL"):
        env.pop(name, None)
    port = free_port()
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app_root / "ui" / "app.py"),
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
            ],
            cwd=app_root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not come up in {STARTUP_S} s")
            time.sleep(0.25)
        yield Server(url, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- CPU accounting -------------------------------------------------------------------------


def _tree_cpu(pid: int, exclude: set[int] = frozenset()) -> float:  # type: ignore[assignment]
    """CPU seconds (user + system) of a process and its descendants: the live ones, and
    those that ended and were reaped by a live one. A closed browser tab's renderer is
    gone by the time the run is counted; its time is in its parent's children times."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    skip: set[int] = set()
    for p in procs:
        if p.pid in exclude:
            skip.add(p.pid)
            with suppress(psutil.NoSuchProcess):
                skip.update(c.pid for c in p.children(recursive=True))
    for p in procs:
        if p.pid in skip:
            continue
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class CpuMeter:
    """CPU seconds used by the server, the harness and the whole machine since start()."""

    server_pid: int
    t0: float = 0.0
    server0: float = 0.0
    harness0: float = 0.0
    machine0: float = 0.0

    @staticmethod
    def _machine() -> float:
        import psutil

        t = psutil.cpu_times()
        return sum(t) - t.idle - getattr(t, "iowait", 0.0)

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.server0 = _tree_cpu(self.server_pid)
        self.harness0 = _tree_cpu(os.getpid(), {self.server_pid})
        self.machine0 = self._machine()

    def shares(self) -> tuple[float, float, float, float]:
        """(server, harness, everything else) as shares of all cores, and the wall time."""
        wall = time.perf_counter() - self.t0
        capacity = wall * (os.cpu_count() or 1)
        server = (_tree_cpu(self.server_pid) - self.server0) / capacity
        harness = (_tree_cpu(os.getpid(), {self.server_pid}) - self.harness0) / capacity
        machine = (self._machine() - self.machine0) / capacity
        return server, harness, max(machine - server - harness, 0.0), wall


# -- sessions -------------------------------------------------------------------------------


async def _wait(page: Any, js: str, arg: str, timeout_s: float) -> float | None:
    """Seconds until ``js(arg)`` holds in the page (checked every 50 ms); None on timeout."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    t0 = time.perf_counter()
    try:
        await page.wait_for_function(js, arg=arg, polling=50, timeout=timeout_s * 1000)
    except PlaywrightTimeout:
        return None
    return time.perf_counter() - t0


async def _follow(page: Any, record: Asked, t0: float) -> None:
    """Wait for a submitted question to show, then for its answer; note when each came."""
    if await _wait(page, SHOWN_JS, record.question, SHOWN_S) is None:
        return  # lost
    record.shown_s = time.perf_counter() - t0
    if await _wait(page, ANSWERED_JS, record.question, ANSWER_S) is not None:
        record.answer_s = time.perf_counter() - t0


def _count(counter: list[int]) -> None:
    counter[0] += 1


async def run_session(
    browser: Any,
    url: str,
    questions: Sequence[Question],
    *,
    wait_for_answers: bool = True,
    evidence: Path | None = None,
) -> SessionResult:
    """One user: open the app, type each question the moment the last answer shows (or,
    with ``wait_for_answers=False``, all of them straight away, one after another)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    received = [0]
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: _count(received)))
    gave_up = ""
    try:
        asked: list[Asked] = []
        typed: list[tuple[Asked, float]] = []
        try:
            await page.goto(url, timeout=STARTUP_S * 1000)
        except PlaywrightTimeout:
            gave_up = f"the page did not load in {STARTUP_S} s"
            asked.extend(Asked(q.text) for q in questions)
            questions_to_ask: Sequence[Question] = ()
        else:
            questions_to_ask = questions
        box = page.get_by_test_id("stChatInputTextArea")
        for i, question in enumerate(questions_to_ask):
            # fill() waits until the box takes text: at first, until the app is ready.
            timeout = FIRST_QUESTION_S if i == 0 else ANSWER_S
            t_fill = time.perf_counter()
            try:
                await box.fill(question.text, timeout=timeout * 1000)
            except PlaywrightTimeout:
                # The app never offered an input box that takes text: this question and
                # the rest are lost (never shown), not a crash of the harness.
                gave_up = f"the chat input took no text for {timeout} s: {question.text!r}"
                asked.extend(Asked(q.text) for q in questions[i:])
                break
            t0 = time.perf_counter()
            await box.press("Enter")
            record = Asked(question.text, input_wait_s=t0 - t_fill if i else 0.0, entered_at=t0)
            asked.append(record)
            if wait_for_answers:
                await _follow(page, record, t0)
            else:
                typed.append((record, t0))
        for record, t0 in typed:
            await _follow(page, record, t0)
        transcript: list[dict[str, Any]] = []
        if questions_to_ask:
            # Let the last run finish before reading what the page finally shows.
            await _wait(page, IDLE_JS, "", ANSWER_S)
            await page.wait_for_timeout(300)
            transcript = await page.evaluate(TRANSCRIPT_JS)
        result = check_transcript(asked, transcript, questions)
        result.messages = received[0]
        if gave_up:
            result.problems.append(gave_up)
        if result.problems and evidence is not None:
            # What the person would have seen, for whoever reads the failure.
            await page.screenshot(path=str(evidence.with_suffix(".png")))
            state = await page.evaluate(STATE_JS)
            result.problems.append(f"page state: {state}; screenshot {evidence}.png")
    finally:
        await context.close()
    return result


def check_transcript(
    asked: list[Asked], transcript: list[dict[str, Any]], questions: Sequence[Question]
) -> SessionResult:
    """Count the questions kept: shown once, in order, each followed by its answer."""
    result = SessionResult(asked, transcript)
    users = [(i, m["text"]) for i, m in enumerate(transcript) if m["role"] == "user"]
    texts = [t for _, t in users]
    if texts != [q.text for q in questions]:
        result.problems.append(
            f"questions on screen {texts!r}, asked {[q.text for q in questions]!r}"
        )
    for question in questions:
        where = [i for i, text in users if text == question.text]
        if len(where) != 1:
            result.problems.append(f"{question.text!r} is shown {len(where)} times")
            continue
        reply = transcript[where[0] + 1] if where[0] + 1 < len(transcript) else None
        if reply is None or reply["role"] != "assistant" or not reply["answered"]:
            result.problems.append(f"{question.text!r} has no answer: {reply!r}")
            continue
        took = APP_SECONDS.search(reply["text"])
        for record in asked:
            if record.question == question.text and took:
                record.app_s = float(took[1])
        if question.expect is not None and question.expect not in reply["text"]:
            result.problems.append(
                f"{question.text!r} was answered without {question.expect!r}: {reply['text']!r}"
            )
            continue
        result.kept += 1
    if texts != [q.text for q in questions]:
        # Out of order or lost: only an exact, in-order transcript keeps every question.
        result.kept = min(
            result.kept, sum(a == q.text for a, q in zip(texts, questions, strict=False))
        )
    return result


async def _run_sessions(
    url: str,
    plan: Sequence[Sequence[Question]],
    wait_for_answers: bool,
    meter: CpuMeter,
    evidence: Path,
) -> tuple[list[SessionResult], tuple[float, float, float, float]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            meter.start()
            sessions = await asyncio.gather(
                *(
                    run_session(
                        browser,
                        url,
                        qs,
                        wait_for_answers=wait_for_answers,
                        evidence=evidence.with_name(f"{evidence.name}-session-{i}"),
                    )
                    for i, qs in enumerate(plan)
                )
            )
            # Before the browser closes: its processes' CPU time goes with them.
            return list(sessions), meter.shares()
        finally:
            await browser.close()


def run_load(
    app_root: Path,
    data_dir: Path,
    plan: Sequence[Sequence[Question]],
    *,
    variant: str = "this tree",
    log_dir: Path | None = None,
    wait_for_answers: bool = True,
) -> tuple[LoadResult, list[SessionResult], str]:
    """Start the app over ``data_dir`` and run one browser session per entry of ``plan``
    at once. Returns the figures, each session's result and the server's log."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="newsqa-load-"))
    log_path = log_dir / f"streamlit-{slug(variant)}-{len(plan)}.log"
    load_start = load_str()
    with streamlit_server(app_root, data_dir, log_path) as server:
        meter = CpuMeter(server.process.pid)
        sessions, shares = asyncio.run(
            _run_sessions(server.url, plan, wait_for_answers, meter, log_path.with_suffix(""))
        )
        server_cpu, harness_cpu, other_cpu, wall = shares
        load = load_str()
    asked = [a for s in sessions for a in s.asked]
    answers = [a.answer_s for a in asked if a.answer_s is not None]
    first = [s.asked[0].answer_s for s in sessions if s.asked and s.asked[0].answer_s is not None]
    later = [a.answer_s for s in sessions for a in s.asked[1:] if a.answer_s is not None]
    shown = [a.shown_s for a in asked if a.shown_s is not None]
    waits = [a.input_wait_s for s in sessions for a in s.asked[1:]]
    errors = sum(
        1 for s in sessions for m in s.transcript if m["role"] == "assistant" and m["failed"]
    )
    app_first = [s.asked[0].app_s for s in sessions if s.asked and s.asked[0].app_s is not None]
    app_later = [a.app_s for s in sessions for a in s.asked[1:] if a.app_s is not None]
    start = min((a.entered_at for a in asked if a.entered_at), default=0.0)
    timeline = [
        {
            "session": n,
            "index": i,
            "entered_s": round(a.entered_at - start, 3),
            "shown_s": a.shown_s,
            "answer_s": a.answer_s,
            "app_s": a.app_s,
        }
        for n, s in enumerate(sessions)
        for i, a in enumerate(s.asked)
    ]
    result = LoadResult(
        variant=variant,
        sessions=len(plan),
        asked=len(asked),
        kept=sum(s.kept for s in sessions),
        lost=sum(1 for a in asked if a.shown_s is None),
        errors=errors,
        answer_p50=median(answers),
        answer_p95=percentile(answers, 95),
        shown_p50=median(shown),
        shown_p95=percentile(shown, 95),
        input_wait_p50=median(waits),
        input_wait_p95=percentile(waits, 95),
        server_cpu=server_cpu,
        harness_cpu=harness_cpu,
        other_cpu=other_cpu,
        load=load,
        wall_s=wall,
        problems=[p for s in sessions for p in s.problems],
        load_start=load_start,
        messages_per_question=sum(s.messages for s in sessions) / max(len(asked), 1),
        first_answer_p50=median(first),
        first_answer_p95=percentile(first, 95),
        later_answer_p50=median(later),
        later_answer_p95=percentile(later, 95),
        app_first_p50=median(app_first),
        app_later_p50=median(app_later),
        app_later_p95=percentile(app_later, 95),
        timeline=timeline,
    )
    return result, sessions, log_path.read_text(errors="replace")


# -- variants -------------------------------------------------------------------------------


def short_sha(rev: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", rev],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def export_revision(rev: str) -> Path:
    """The app and library code of ``rev`` (``ui/``, ``src/``, ``.streamlit/``), exported
    once under benchmarks/out/app-load/ so that it runs next to this tree."""
    sha = short_sha(rev)
    target = APP_OUT / f"rev-{sha}"
    if not (target / "ui" / "app.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", sha, "ui", "src", ".streamlit"],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def revision_library(name: str, rev: str) -> Path:
    """Where ``build NAME --revision REV`` puts the library REV's own code writes."""
    return APP_OUT / f"{name}@{short_sha(rev)}"


@dataclass(frozen=True)
class Variant:
    name: str  # "this tree", or "REV (before)"
    root: Path  # its ui/, src/ and .streamlit/
    library: Path  # the library it runs over


def variants(library: str, baselines: Sequence[str] = ()) -> list[Variant]:
    """This tree over ``library``; and each of ``baselines``, over the library its own
    code wrote (``build NAME --revision REV``) if there is one, else over the same
    library. A baseline named by a branch is named with its commit too (``main =
    35f84bd``): the branch moves, the figures stay with the commit."""
    out = [Variant("this tree", ROOT, library_path(library))]
    for baseline in baselines:
        sha = short_sha(baseline)
        own = revision_library(library, baseline)
        if (own / "complete").exists():
            data_dir = own
        else:
            data_dir = out[0].library
            log(f"{baseline} reads the library this tree wrote ({data_dir})")
        name = baseline if sha.startswith(baseline) else f"{baseline} = {sha}"
        out.append(Variant(f"{name} (before)", export_revision(baseline), data_dir))
    return out


# The floor: a bare Streamlit chat that answers every question at once, with no library,
# no sidebar and no sources. Whatever it waits for is the harness's and Streamlit's (the
# tabs rendering on the same cores), which no change to newsqa can take away.
FLOOR_APP = """
import time

import streamlit as st

st.title("bare chat")
turns = st.session_state.setdefault("turns", [])
question = st.chat_input("Ask about your articles")
if question:
    t = time.perf_counter()
    turns.append((question, f"An answer to {question}", time.perf_counter() - t))
for question, answer, took in turns:
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        st.html(f'<div class="nqa-answer">{answer}</div>')
        st.caption(f"answered in {took:.2f} s")
"""


def floor_variant(library: Path) -> Variant:
    """The bare chat of :data:`FLOOR_APP`, with this tree's ``.streamlit`` settings."""
    root = APP_OUT / "floor"
    (root / "ui").mkdir(parents=True, exist_ok=True)
    (root / "ui" / "app.py").write_text(FLOOR_APP.lstrip(), encoding="utf-8")
    shutil.copytree(ROOT / ".streamlit", root / ".streamlit", dirs_exist_ok=True)
    return Variant("floor: a bare Streamlit chat", root, library)


# -- libraries ------------------------------------------------------------------------------


class HashedVectors:
    """Stand-in for the ingest model: each text's vector is a unit vector seeded by its
    hash. Only for ``10k-hashed``, a library built to time reruns, not to answer."""

    def __init__(self) -> None:
        # Imported here, not at the top: the rerun worker runs this file with another
        # revision's newsqa first on the path.
        from newsqa.store.records import DIM

        self.dim = DIM

    def _unit(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return vector / float(np.linalg.norm(vector))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._unit(t) for t in texts])

    def encode_passages(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        on_batch: Callable[[int], object] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        sentences = [self.encode([t[a:b] for a, b in s]) for t, s in zip(texts, spans, strict=True)]
        if on_batch is not None:
            on_batch(len(texts))
        return self.encode(texts), sentences


def extra_records(path: Path, wanted: int) -> Path:
    """The first ``wanted`` non-BBC news records (2017 news, Reuters) as JSONL."""
    from common import news_records

    with path.open("w", encoding="utf-8") as out:
        n = 0
        for title, text, day, source in news_records():
            if n == wanted:
                break
            if source.startswith("bbc:"):
                continue  # ingested from the BBC file itself
            out.write(json.dumps({"title": title, "text": text, "date": day, "source": source}))
            out.write("\n")
            n += 1
    return path


def top_up(qa: Any, ingest: Callable[[list[Path]], Any], path: Path) -> Any:
    """Ingest news records from ``path`` until the library holds 10,000 articles.

    Duplicates and refused records (too short) do not count, so the file grows by the
    shortfall and is ingested again (the records already in are "unchanged") until
    none is left. Returns the last ingest report.
    """
    report = None
    while (short := TEN_K - len(qa.articles())) > 0:
        written = sum(1 for _ in path.open()) if path.exists() else 0
        log(f"{short} articles short of {TEN_K:,}: {written + short} news records")
        report = ingest([extra_records(path, written + short)])
    return report


def build_library(name: str) -> Path:
    """Build a library once (reused by later runs): seed+bbc, 10k on top of it, or
    10k-hashed from scratch."""
    from newsqa import NewsQA, Settings

    target = LIBRARIES[name]
    if (target / "complete").exists():
        log(f"{name}: already built at {target}")
        return target
    if name in BBC_ARTICLES:
        qa = NewsQA(Settings(data_dir=target))
        report = qa.ingest(seed_and_bbc(name), progress=True)
    elif name == "10k-hashed":
        from newsqa.ingest import ingest_paths

        qa = NewsQA(Settings(data_dir=target))
        vectors: Any = HashedVectors()

        def ingest(paths: list[Path]) -> Any:
            return ingest_paths(qa.store, vectors, paths, qa.settings, progress=True)

        report = ingest([ROOT / "seeds", need(BBC)])
        report = top_up(qa, ingest, APP_OUT / "10k-hashed-extra.jsonl") or report
    else:
        base = build_library("seed+bbc")
        if not target.exists():
            shutil.copytree(base, target, ignore=shutil.ignore_patterns("complete"))
        qa = NewsQA(Settings(data_dir=target))
        report = top_up(
            qa, lambda paths: qa.ingest(paths, progress=True), APP_OUT / "10k-extra.jsonl"
        )
    count = len(qa.articles())
    log(f"{name}: {count} articles, {qa.store.count_passages()} passages; {report.summary()}")
    (target / "complete").write_text(f"{count}\n")
    return target


def seed_and_bbc(name: str) -> list[Path]:
    """What ``name`` (seed+bbc or seed+bbc300) ingests: seeds/ and a file of its BBC
    articles, the first ones of the BBC file."""
    wanted = BBC_ARTICLES[name]
    if wanted == BBC_ARTICLES["seed+bbc"]:
        return [ROOT / "seeds", need(BBC)]
    part = APP_OUT / f"bbc-{wanted}.jsonl"
    if not part.exists():
        APP_OUT.mkdir(parents=True, exist_ok=True)
        with need(BBC).open(encoding="utf-8") as f:
            part.write_text("".join(line for _, line in zip(range(wanted), f, strict=False)))
    return [ROOT / "seeds", part]


def build_with_revision(name: str, rev: str) -> Path:
    """A seed+bbc library written by REV's own code: its ``newsqa ingest`` in a child
    process (its ``src`` first on the path), into a library of its own, built once."""
    if name not in BBC_ARTICLES:
        sys.exit(f"only {' and '.join(BBC_ARTICLES)} can be built with another revision's code")
    target = revision_library(name, rev)
    if (target / "complete").exists():
        log(f"{name} by {rev}: already built at {target}")
        return target
    root = export_revision(rev)
    log_path = target.with_name(f"{target.name}-build.log")
    log(f"{name} by {rev}: ingesting with {root / 'src'} (progress: {log_path})")
    with log_path.open("w") as out:
        sources = [str(path) for path in seed_and_bbc(name)]
        done = subprocess.run(
            [sys.executable, "-m", "newsqa", "--data-dir", str(target), "ingest", *sources],
            env={**os.environ, "PYTHONPATH": str(root / "src")},
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    summary = [line for line in log_path.read_text().splitlines() if line.startswith("added ")]
    # exit 1 means some article failed (its line says which); the rest is stored
    if done.returncode not in (0, 1) or not summary:
        sys.exit(f"{rev}'s ingest failed (exit {done.returncode}): see {log_path}")
    log(f"{name} by {rev}: {summary[-1]}")
    (target / "complete").write_text(summary[-1] + "\n")
    return target


def bbc_questions(
    total: int, per_session: int, articles: int = BBC_ARTICLES["seed+bbc"], seed: int = 14
) -> list[list[Question]]:
    """Questions about the titles of the first ``articles`` BBC articles (those the
    library holds), dealt out to sessions (distinct within one)."""
    titles = []
    with need(BBC).open(encoding="utf-8") as f:
        for _, line in zip(range(articles), f, strict=False):
            titles.append(json.loads(line)["title"])
    chosen = random.Random(seed).sample(titles, total * per_session)
    questions = [Question(f"What happened: {t}?") for t in chosen]
    return [questions[i * per_session : (i + 1) * per_session] for i in range(total)]


# -- reruns with a large library ---------------------------------------------------------------

RERUN_WRAPPER = """\
import sys
import time

import _newsqa_rerun_probe as probe

sys.path.insert(0, probe.UI_DIR)
t = time.perf_counter()
try:
    import app

    app.main()
finally:
    probe.times.append(time.perf_counter() - t)
"""


def rerun_worker(app_root: Path, data_dir: Path, reruns: int) -> dict[str, Any]:
    """In a child process: AppTest over the app of ``app_root``; time each kind of rerun."""
    import types

    from streamlit.testing.v1 import AppTest

    os.environ["NEWSQA_DATA_DIR"] = str(data_dir)
    probe = types.ModuleType("_newsqa_rerun_probe")
    probe.UI_DIR = str(app_root / "ui")  # type: ignore[attr-defined]
    probe.times = []  # type: ignore[attr-defined]
    sys.modules[probe.__name__] = probe
    script = Path(tempfile.mkdtemp()) / "rerun_wrapper.py"
    script.write_text(RERUN_WRAPPER)
    at = AppTest.from_file(str(script), default_timeout=600)
    t0 = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t0
    if at.exception:
        raise RuntimeError(str(at.exception))

    def timed(action: Any) -> tuple[float, float]:
        probe.times.clear()
        t = time.perf_counter()
        action()
        wall = time.perf_counter() - t
        if at.exception:
            raise RuntimeError(str(at.exception))
        return sum(probe.times), wall

    def series(action: Any) -> dict[str, float]:
        got = [timed(action) for _ in range(reruns)]
        script_s, wall_s = [g[0] for g in got], [g[1] for g in got]
        return {
            "script_p50": median(script_s),
            "script_p95": percentile(script_s, 95),
            "apptest_p50": median(wall_s),
        }

    out: dict[str, Any] = {"cold_s": cold, "plain rerun": series(at.run)}
    keys = {b.key for b in at.button}
    if "library_forward" in keys:

        def next_page() -> None:
            forward = at.button(key="library_forward")
            if forward.disabled:
                at.button(key="library_back").click().run()
            else:
                forward.click().run()

        out["turn a library page"] = series(next_page)
        words = iter(["reuters", "bank", "march 2017", "oil prices", "election"] * reruns)
        out["search the library"] = series(
            lambda: at.text_input(key="library_query").set_value(next(words)).run()
        )
        at.text_input(key="library_query").set_value("").run()
    questions = iter([f"What happened to {w}?" for w in ("oil", "the dollar", "Kenya")] * reruns)
    out["ask a question"] = series(lambda: at.chat_input[0].set_value(next(questions)).run())
    # "2,226 articles · 12,031 passages" (older versions print no thousands separator)
    summary = next(c.value for c in at.sidebar.caption if " article" in c.value)
    out["articles"] = int(summary.split()[0].replace(",", ""))
    return out


def run_rerun(app_root: Path, data_dir: Path, reruns: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(app_root / "src")}
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "_rerun-worker",
            "--app-root",
            str(app_root),
            "--library",
            str(data_dir),
            "--reruns",
            str(reruns),
        ],
        env=env,
        cwd=app_root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rerun worker failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the sidebar's share of a rerun, with 10,000 articles ----------------------------------------


def cmd_library(args: argparse.Namespace) -> None:
    """What a rerun spends on the library list, without a store: 10,000 real news
    titles, dates and sources as the store lists them. Before: main's sidebar drew
    every article, and both pickers offered every article, on every rerun. After:
    one page of the catalog, and the pickers' first matches."""
    sys.path.insert(0, str(ROOT / "ui"))
    from common import news_records
    from newsqa_ui import article_label, library_html

    from newsqa.catalog import Catalog
    from newsqa.store import ArticleInfo

    articles = []
    for i, (title, _text, day, source) in enumerate(news_records()):
        if i == args.articles:
            break
        articles.append(ArticleInfo(f"{i:016x}", title, day, source, 5, 3_000))
    articles.sort(key=lambda a: a.date or "", reverse=True)

    def before() -> None:
        library_html(articles)
        for _picker in range(2):
            [article_label(a) for a in articles]

    catalog = Catalog("v1", articles)
    queries = iter(["", "march 2017", "oil", "reuters", "bank", "election"] * args.reruns)

    def after() -> None:
        query = next(queries)
        page = catalog.page(query, 3, 10)
        library_html(page.articles)
        for _picker in range(2):
            [article_label(a) for a in catalog.search(query)[:50]]

    def fresh_search() -> None:
        Catalog("v2", articles).search("march 2017")  # builds the haystacks, then scans

    rows = []
    for name, action in [
        ("before: every article, every rerun", before),
        ("after: one page + 50 picker options", after),
        ("after, once per library change: new catalog + first search", fresh_search),
    ]:
        times = []
        for _ in range(args.reruns):
            t = time.perf_counter()
            action()
            times.append((time.perf_counter() - t) * 1000)
        rows.append([name, median(times), percentile(times, 95)])
    print(f"\n## The library list's share of one rerun, {len(articles):,} articles\n")
    print(table(["what", "ms p50", "ms p95"], rows))
    print(f"\nload 1/5/15: {load_str()}")


# -- command line -----------------------------------------------------------------------------


def slug(library: str) -> str:
    """A library's name as part of a result file's name: ``seed+bbc`` -> ``seed-bbc``."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in Path(library).name)


def library_path(name: str) -> Path:
    path = LIBRARIES.get(name, Path(name))
    if not (path / "chroma").exists():
        sys.exit(f"no library at {path}: build it first (app_load.py build {name})")
    return path


def cmd_load(args: argparse.Namespace) -> None:
    runs: list[LoadResult] = []
    measured = variants(args.library, args.baseline)
    if args.floor:
        measured.append(floor_variant(measured[0].library))
    for n in args.sessions:
        plan = bbc_questions(
            n, args.questions, BBC_ARTICLES.get(args.library, BBC_ARTICLES["seed+bbc"])
        )
        for repeat in range(args.repeats):
            for v in measured:
                log(f"{v.name}: {n} sessions x {args.questions} questions (repeat {repeat + 1})")
                result, _, server_log = run_load(
                    v.root, v.library, plan, variant=v.name, log_dir=APP_OUT
                )
                if "Traceback" in server_log:
                    result.problems.append("the server logged a traceback")
                runs.append(result)
                log(
                    f"  kept {result.kept}/{result.asked}, answer p50 {result.answer_p50:.2f} s "
                    f"p95 {result.answer_p95:.2f} s, server {result.server_cpu:.0%} harness "
                    f"{result.harness_cpu:.0%}, {result.messages_per_question:.0f} messages "
                    f"per question; first questions {result.first_answer_p50:.2f} s p50 "
                    f"(the app's own {result.app_first_p50:.2f} s), later ones "
                    f"{result.later_answer_p50:.2f} s (the app's own {result.app_later_p50:.2f} s)"
                )
    rows = [
        [
            r.variant,
            r.sessions,
            f"{r.kept} / {r.asked}",
            r.lost,
            r.errors,
            r.answer_p50,
            r.answer_p95,
            f"{r.first_answer_p50:.2f} / {r.first_answer_p95:.2f}",
            f"{r.later_answer_p50:.2f} / {r.later_answer_p95:.2f}",
            r.shown_p50,
            r.shown_p95,
            f"{r.server_cpu:.0%}",
            f"{r.harness_cpu:.0%}",
            f"{r.other_cpu:.0%}",
            round(r.messages_per_question),
            r.load,
        ]
        for r in runs
    ]
    print(f"\n## The app under load ({args.library}; {args.questions} questions per session)\n")
    print(
        table(
            [
                "variant",
                "sessions",
                "kept (shown once, answered)",
                "lost",
                "errors",
                "answer p50 s",
                "answer p95 s",
                "1st question p50 / p95 s",
                "later p50 / p95 s",
                "shown p50 s",
                "shown p95 s",
                "server CPU",
                "harness CPU",
                "others' CPU",
                "messages / question",
                "load 1/5/15",
            ],
            rows,
        )
    )
    if len(measured) > 1:
        print("\nRatios, this tree / before (same sessions, same run):\n")
        ratio_rows = []
        for n, v in ((n, v) for n in args.sessions for v in measured[1:]):
            mine = [r for r in runs if r.sessions == n and r.variant == "this tree"]
            before = [r for r in runs if r.sessions == n and r.variant == v.name]
            if mine and before:
                ratio_rows.append(
                    [
                        n,
                        v.name,
                        median([r.answer_p50 for r in mine])
                        / median([r.answer_p50 for r in before]),
                        median([r.answer_p95 for r in mine])
                        / median([r.answer_p95 for r in before]),
                    ]
                )
        print(table(["sessions", "before", "answer p50 ratio", "answer p95 ratio"], ratio_rows))
    for r in runs:
        for problem in r.problems[:10]:
            print(f"- {r.variant}, {r.sessions} sessions: {problem}")
    path = save_json(
        args.out or f"app-load-{slug(args.library)}.json",
        {
            "libraries": {v.name: str(v.library) for v in measured},
            "questions_per_session": args.questions,
            "runs": [asdict(r) for r in runs],
        },
    )
    log(f"raw results: {path}")


def cmd_rerun(args: argparse.Namespace) -> None:
    results: dict[str, dict[str, Any]] = {}
    for v in variants(args.library, args.baseline):
        log(f"{v.name}: reruns with {v.library}")
        load_start = load_str()
        results[v.name] = run_rerun(v.root, v.library, args.reruns)
        results[v.name].update(library=str(v.library), load_start=load_start, load=load_str())
    rows = []
    for variant, got in results.items():
        for action, figures in got.items():
            if isinstance(figures, dict) and "script_p50" in figures:
                rows.append(
                    [
                        variant,
                        action,
                        figures["script_p50"] * 1000,
                        figures["script_p95"] * 1000,
                        figures["apptest_p50"] * 1000,
                        got["articles"],
                        got["load"],
                    ]
                )
    print(f"\n## One rerun of the app, {args.library} library ({args.reruns} of each)\n")
    print(
        table(
            [
                "variant",
                "rerun",
                "script ms p50",
                "script ms p95",
                "AppTest.run ms p50",
                "articles",
                "load 1/5/15",
            ],
            rows,
        )
    )
    path = save_json(f"app-load-rerun-{slug(args.library)}.json", results)
    log(f"raw results: {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a library once")
    build.add_argument("name", choices=sorted(LIBRARIES))
    build.add_argument(
        "--revision", help="build it with this git revision's own code (seed+bbc libraries only)"
    )
    load = sub.add_parser("load", help="browser sessions typing without pauses")
    load.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 20])
    load.add_argument("--questions", type=int, default=5, help="per session")
    load.add_argument("--library", default="seed+bbc")
    load.add_argument(
        "--baseline", nargs="*", default=[], help="git revisions to measure in the same run"
    )
    load.add_argument("--repeats", type=int, default=1)
    load.add_argument(
        "--floor",
        action="store_true",
        help="also a bare Streamlit chat that answers at once: the harness's own floor",
    )
    load.add_argument("--out", help="the results file's name (default app-load-LIBRARY.json)")
    rerun = sub.add_parser("rerun", help="server time of a rerun with a large library")
    rerun.add_argument("--library", default="10k")
    rerun.add_argument(
        "--baseline", nargs="*", default=[], help="git revisions to measure in the same run"
    )
    rerun.add_argument("--reruns", type=int, default=15)
    library = sub.add_parser("library", help="the library list's share of a rerun (no store)")
    library.add_argument("--articles", type=int, default=TEN_K)
    library.add_argument("--reruns", type=int, default=30)
    worker = sub.add_parser("_rerun-worker")
    worker.add_argument("--app-root", type=Path, required=True)
    worker.add_argument("--library", type=Path, required=True)
    worker.add_argument("--reruns", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "build" and args.revision:
        build_with_revision(args.name, args.revision)
    elif args.command == "build":
        build_library(args.name)
    elif args.command == "load":
        cmd_load(args)
    elif args.command == "rerun":
        cmd_rerun(args)
    elif args.command == "library":
        cmd_library(args)
    else:
        print(json.dumps(rerun_worker(args.app_root, args.library, args.reruns)))


if __name__ == "__main__":
    main()
