"""Shared fixtures: real model, real Chroma, each test library in its own temp dir.

With ``CI=true`` a skipped test fails the run, unless its reason starts with one of
``CI_ALLOWED_SKIPS`` (the README's Development section lists them): in CI the
fault, browser, server and model tests must really run, and ``.ci/run`` installs
what they need.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from newsqa import NewsQA, Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_6eff8e50bb41c3d7.txt"
TEST_DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"

# The only reasons a test may skip in CI. Keep it short, and keep the README in step.
CI_ALLOWED_SKIPS = (
    # The external data sets (../shared/data) are never part of a clone.
    "needs external data at",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    # A failed browser test shows what its app server was doing (tests/test_browser.py).
    server = getattr(item, "funcargs", {}).get("server")
    if report.when == "call" and report.failed and hasattr(server, "diagnose"):
        report.sections.append(("app server: threads and log", server.diagnose()))
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if not reason.startswith(CI_ALLOWED_SKIPS):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI (CI=true): {reason}\n"
            "Only these reasons may skip in CI: "
            f"{', '.join(repr(r) for r in CI_ALLOWED_SKIPS)}. Install what the test needs "
            "(.ci/run does, as root), or unset CI to allow the skip."
        )


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs external data at {path} (see ../shared/data/README.md)")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an empty library in a fresh temp dir."""
    return Settings(data_dir=tmp_path / "newsqa")


@pytest.fixture
def qa(settings: Settings) -> NewsQA:
    """An empty library."""
    return NewsQA(settings)


@pytest.fixture(scope="session")
def seeded_qa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NewsQA]:
    """A library holding the seed article, shared by read-only tests."""
    qa = NewsQA(Settings(data_dir=tmp_path_factory.mktemp("seeded")))
    report = qa.ingest([SEEDS])
    assert report.ok and report.count("added") == 1
    yield qa
