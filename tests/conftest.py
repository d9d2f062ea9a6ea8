"""Shared fixtures: real model, real Chroma, each test library in its own temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsqa import NewsQA, Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = SEEDS / "000_6eff8e50bb41c3d7.txt"
TEST_DATA = Path(__file__).resolve().parent / "data"
SHARED_DATA = ROOT.parent / "shared" / "data"


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
