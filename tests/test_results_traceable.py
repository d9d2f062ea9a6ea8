"""Every published figure can be traced to a run: the JSON files the README and
benchmarks/RESULTS.md name are committed under ``benchmarks/results/`` and record the
commit they were measured at, on a clean tree; every table in RESULTS.md names its
file, or says it is untraced."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", ROOT / "benchmarks" / "RESULTS.md"]
NAMED = re.compile(r"results/([\w.-]+\.json)")
UNTRACED = "*Untraced*"


def named_files() -> dict[str, list[str]]:
    """Result file name -> the documents that name it."""
    named: dict[str, list[str]] = {}
    for doc in DOCS:
        for name in NAMED.findall(doc.read_text(encoding="utf-8")):
            named.setdefault(name, []).append(doc.name)
    return named


def test_every_named_result_is_committed() -> None:
    missing = {n: docs for n, docs in named_files().items() if not (RESULTS / n).is_file()}
    assert not missing, f"named but not in benchmarks/results/: {missing}"


def test_every_committed_result_is_named() -> None:
    orphans = sorted({p.name for p in RESULTS.glob("*.json")} - set(named_files()))
    assert not orphans, f"committed but named by no table or sentence: {orphans}"


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_each_result_records_its_commit_on_a_clean_tree(path: Path) -> None:
    provenance = json.loads(path.read_text(encoding="utf-8")).get("provenance") or {}
    assert re.fullmatch(r"[0-9a-f]{40}", provenance.get("commit") or ""), provenance
    assert provenance.get("dirty") is False, f"measured with uncommitted changes: {provenance}"
    assert provenance.get("command") and provenance.get("machine"), provenance
    assert path.stat().st_size < 200_000, "results/ holds small files only"


def test_every_table_in_results_md_names_its_file() -> None:
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    sections = re.split(r"\n(?=## )", text)
    unnamed = [
        section.splitlines()[0]
        for section in sections
        if any(line.lstrip().startswith("|") for line in section.splitlines())
        and not NAMED.search(section)
        and UNTRACED not in section
    ]
    assert not unnamed, f"sections with a table but no results/ file: {unnamed}"
