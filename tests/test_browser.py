"""End to end in a real headless Chromium: `streamlit run ui/app.py`, then chat and upload.

Drives Debian's chromium through Playwright (never `playwright install`): the
`chromium` on PATH, or the one $CHROMIUM names, the same lookup as `.ci/run`,
which installs it. Screenshots go to screenshots/ (git-ignored). Run with `-s`
to see the timings (question submitted -> answer rendered).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import ROOT, SEEDS

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.slow, pytest.mark.browser]


SCREENSHOTS = ROOT / "screenshots"
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
SEED_TITLE = "The German government has strongly denied"
COUNCIL_TITLE = "Millbrook council approves riverside bike lanes"
COUNCIL_ARTICLE = f"""---
title: {COUNCIL_TITLE}
date: 2025-06-12
source: Millbrook Gazette
---
The Millbrook city council voted 7 to 2 on Tuesday to build protected bike lanes along \
Riverside Avenue. Mayor Elena Ortiz said the lanes would open before the end of next year.

The project will cost 4.2 million dollars, paid mostly from a state transport grant. Shop \
owners on Riverside Avenue had asked the council to keep street parking, and 40 of the 120 \
spaces will remain.

Councillor Tom Becker, who voted against the plan, said the money should go to repairing \
roads first.
"""
STARTUP_TIMEOUT_S = 180  # first model load on a busy 2-core machine
ANSWER_TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def chromium() -> str | None:
    """$CHROMIUM, or `chromium` on PATH: what `.ci/run` checks and installs."""
    return shutil.which(os.environ.get("CHROMIUM") or "chromium")


CHROMIUM = chromium()


def _bin(name: str) -> str:
    """A console script from this test's virtual environment."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"`{name}` is not installed in this environment")
    return found


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def diagnose(self) -> str:
        """Every thread's stack (the app dumps them on SIGUSR1: newsqa.runtime) and the
        end of the log; conftest adds it to a failed test's report. (Before a page has
        run the app there is no handler yet, and the signal ends the server: its test
        has failed anyway, and each module has its own server.)"""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(2)
        lines = self.log.read_text(errors="replace").splitlines()
        # Import machinery frames say nothing a reader needs, and crowd out the rest.
        return "\n".join(line for line in lines if "<frozen importlib" not in line)[-20_000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`streamlit run` on a free port over a library seeded the way `make run` does."""
    if CHROMIUM is None:
        pytest.skip(
            f"{os.environ.get('CHROMIUM') or 'chromium'} not found: install Debian's "
            "chromium (`apt-get install chromium`, as .ci/run does) or set CHROMIUM"
        )
    pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path_factory.mktemp("browser-library")
    env = {
        **os.environ,
        "NEWSQA_DATA_DIR": str(data_dir),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    subprocess.run([_bin("newsqa"), "ingest", str(SEEDS)], env=env, check=True, capture_output=True)
    port = _free_port()
    log = data_dir / "streamlit.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                _bin("streamlit"),
                "run",
                str(ROOT / "ui" / "app.py"),
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
            ],
            cwd=ROOT,  # picks up .streamlit/config.toml
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited early:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not come up in {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
                )
            time.sleep(0.5)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Timing:
    """Seconds from pressing Enter to the answer on screen, and what the app measured."""

    browser_s: float
    app_s: float | None  # NewsQA.ask's own total, from the "answered in" caption


def _ask(page: Page, question: str, expect: str) -> Timing:
    """Submit ``question`` in the chat box and wait for a reply containing ``expect``."""
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    before = page.get_by_test_id("stChatMessage").count()
    t0 = time.perf_counter()
    box.press("Enter")
    # The new assistant message is the second of the two this question adds.
    reply = page.get_by_test_id("stChatMessage").nth(before + 1)
    reply.filter(has_text=expect).wait_for(timeout=ANSWER_TIMEOUT_MS)
    elapsed = time.perf_counter() - t0
    # Streamlit may still be finishing the run (spinner); let it settle for screenshots.
    page.get_by_test_id("stSpinner").wait_for(state="detached", timeout=ANSWER_TIMEOUT_MS)
    caption = reply.get_by_test_id("stCaptionContainer").first.inner_text()
    found = re.search(r"answered in ([0-9.]+) s", caption)
    return Timing(elapsed, float(found[1]) if found else None)


def test_chat_and_upload_in_chromium(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    timings: dict[str, Timing] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            # Playwright gives every launch a fresh, temporary profile (user data dir).
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            t0 = time.perf_counter()
            page.goto(server.url)
            # The example questions appear once the model is loaded and the library read.
            page.get_by_role("button", name="What did Peskov say?").wait_for(
                timeout=STARTUP_TIMEOUT_S * 1000
            )
            timings["page load until ready (model load)"] = Timing(time.perf_counter() - t0, None)
            page.screenshot(path=str(SCREENSHOTS / "01-welcome.png"))

            # Cold: the first question this server process answers for a browser.
            timings["first question (cold)"] = _ask(
                page, "What did Peskov say?", "We want to know what the investigation found"
            )
            answer = page.get_by_test_id("stChatMessage").last
            expect(answer.locator(".nqa-card .nqa-title")).to_contain_text(SEED_TITLE)
            expect(answer.locator("mark.nqa-hl")).to_contain_text("We want to know")
            page.screenshot(path=str(SCREENSHOTS / "02-answer-with-source.png"))

            timings["second question (warm)"] = _ask(
                page, "How long was the recording?", "38-minute recording"
            )
            timings["third question (warm)"] = _ask(page, "Who is Maria Zakharova?", "Zakharova")
            timings["follow-up (warm)"] = _ask(page, "What did she say?", "said Maria Zakharova")
            timings["refusal (warm)"] = _ask(page, "What did Macron say?", "don't answer")
            refusal = page.get_by_test_id("stChatMessage").last
            expect(refusal.get_by_test_id("stAlertContentInfo")).to_be_visible()
            expect(refusal.locator(".nqa-card")).to_have_count(0)
            page.screenshot(path=str(SCREENSHOTS / "03-refusal.png"))

            # Upload a second article through the sidebar.
            article = tmp_path / "millbrook-bike-lanes.md"
            article.write_text(COUNCIL_ARTICLE, encoding="utf-8")
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("Add articles").click()
            # A chosen file is added at once: no second click to lose.
            sidebar.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(article))
            expect(sidebar.get_by_test_id("stAlertContentSuccess")).to_contain_text(
                f"Added “{COUNCIL_TITLE}”", timeout=ANSWER_TIMEOUT_MS
            )
            expect(sidebar.get_by_test_id("stFileUploaderFile")).to_have_count(0)
            expect(sidebar.locator(".nqa-lib-title")).to_have_count(2)
            page.screenshot(path=str(SCREENSHOTS / "04-uploaded.png"))

            timings["question about the upload (warm)"] = _ask(
                page,
                "How did the Millbrook council vote on the bike lanes?",
                "voted 7 to 2",
            )
            answer = page.get_by_test_id("stChatMessage").last
            expect(answer.locator(".nqa-card .nqa-title")).to_have_text(COUNCIL_TITLE)
            expect(answer.locator(".nqa-card .nqa-title")).to_have_count(1)
            page.screenshot(path=str(SCREENSHOTS / "05-answer-from-upload.png"))
            # Streamlit scrolls inside its own main area, so full_page=True would not show
            # more: a tall viewport captures the whole conversation instead.
            page.set_viewport_size({"width": 1360, "height": 3600})
            page.wait_for_timeout(500)
            page.screenshot(path=str(SCREENSHOTS / "06-whole-chat.png"))
        finally:
            browser.close()

    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log, log
    print("\nbrowser timings: question submitted -> answer rendered (NewsQA.ask's own share)")
    for name, t in timings.items():
        inside = f"  (ask {t.app_s:.2f} s)" if t.app_s is not None else ""
        print(f"  {name:<36} {t.browser_s:6.2f} s{inside}")
