"""Eight people chat at once, typing without pauses: no question is ever lost.

Eight Chromium sessions open ``streamlit run ui/app.py`` as soon as the server is
up, while the library is still loading, and each types five questions, the next
the moment the previous answer shows. This is the case from issue 14 that lost 10
of 40 questions (the first ones, typed during the warm-up, and ones typed while
the previous run was still rendering). Every question must show exactly once, in
the order asked, answered with the text that answers it; two sessions end on a
follow-up ("What did she say?"), which is read as "What did Maria Zakharova
say?" (the caption under its answer says so) only if it was answered after the
question before it, with that answer in its history.

The harness is ``benchmarks/app_load.py``; its ``load`` command measures the
same thing with 1, 8 and 20 sessions, before and after. Run with ``-s`` to see
the timings.

A second test types questions back to back without waiting for any answer, the
way a person pastes a few questions in a row: the old app stopped the run that
was answering one question when the next arrived, and lost every question but
the last.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SEEDS
from .test_concurrency import MAYORS, TOWNS

# Ten browser sessions and a server on two shared cores: minutes, not seconds.
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1800)]

sys.path.insert(0, str(ROOT / "benchmarks"))
import app_load  # noqa: E402

SESSIONS = 8
QUESTIONS = 5


def plan() -> list[list[app_load.Question]]:
    """Five distinct questions per session, each with the text its answer must hold."""
    towns = [
        app_load.Question(f"What did Mayor {mayor} say?", f"rebuild the {town} footbridge")
        for town, mayor in zip(TOWNS, MAYORS, strict=True)
    ]
    follow_up = [
        app_load.Question("Who is Maria Zakharova?", "Maria Zakharova"),
        app_load.Question("What did she say?", "What did Maria Zakharova say?"),
    ]
    sessions = []
    for s in range(SESSIONS):
        picked = [towns[(s * QUESTIONS + j) % len(towns)] for j in range(QUESTIONS)]
        if s % 4 == 0:
            picked[-2:] = follow_up
        sessions.append(picked)
    return sessions


def town_brief(i: int) -> str:
    """A short dated article (one passage) with one quote from the town's mayor."""
    town, mayor = TOWNS[i], MAYORS[i]
    return (
        f"---\ntitle: {town} council agrees its budget\ndate: 2025-03-{i + 1:02d}\n---\n"
        f'"We will rebuild the {town} footbridge before the spring floods," said Mayor '
        f"{mayor} after the vote. Councillors in {town} debated the library and market "
        "budgets for an hour before the vote.\n"
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed article and sixteen short town articles, ingested by the CLI."""
    if not app_load.CHROMIUM.exists():
        pytest.skip(
            f"{app_load.CHROMIUM} not found: install Debian's chromium "
            "(`apt-get install chromium chromium-driver`, as .ci/run does)"
        )
    pytest.importorskip("playwright.async_api")
    pytest.importorskip("psutil")
    folder = tmp_path_factory.mktemp("towns")
    for i in range(len(TOWNS)):
        (folder / f"town-{i:02d}.md").write_text(town_brief(i), encoding="utf-8")
    data_dir = tmp_path_factory.mktemp("load-library")
    newsqa = Path(sys.executable).parent / "newsqa"
    subprocess.run(
        [str(newsqa), "--data-dir", str(data_dir), "ingest", str(SEEDS), str(folder)],
        env={k: v for k, v in os.environ.items() if k != "NEWSQA_CHROMA_URL"},
        check=True,
        capture_output=True,
    )
    return data_dir


def test_eight_sessions_typing_without_pauses_lose_nothing(library: Path, tmp_path: Path) -> None:
    result, sessions, server_log = app_load.run_load(ROOT, library, plan(), log_dir=tmp_path)
    print(
        f"\n{result.sessions} sessions: {result.kept} of {result.asked} kept; "
        f"answer p50 {result.answer_p50:.2f} s, p95 {result.answer_p95:.2f} s; "
        f"shown p50 {result.shown_p50:.2f} s, p95 {result.shown_p95:.2f} s; "
        f"CPU: server {result.server_cpu:.0%}, harness {result.harness_cpu:.0%}, "
        f"others {result.other_cpu:.0%}; {result.messages_per_question:.0f} messages to the "
        f"browser per question; load {result.load}"
    )
    problems = [problem for s in sessions for problem in s.problems]
    assert result.lost == 0, problems
    assert result.kept == SESSIONS * QUESTIONS, problems
    assert "Traceback" not in server_log, server_log


def test_questions_typed_back_to_back_are_answered_in_order(library: Path, tmp_path: Path) -> None:
    peskov = app_load.Question("What did Peskov say?", "We want to know what the investigation")
    who = app_load.Question("Who is Maria Zakharova?", "Maria Zakharova")
    # A follow-up: right only if answered after the question before it.
    she = app_load.Question("What did she say?", "What did Maria Zakharova say?")
    town = app_load.Question("What did Mayor Hawthorne say?", "rebuild the Hollowmere footbridge")
    plan = [[peskov, who, she, town], [town, peskov, who, she]]
    result, sessions, server_log = app_load.run_load(
        ROOT, library, plan, log_dir=tmp_path, wait_for_answers=False
    )
    problems = [problem for s in sessions for problem in s.problems]
    assert result.lost == 0, problems
    assert result.kept == 8, problems
    assert "Traceback" not in server_log, server_log
