"""Every published figure can be traced to a run: the JSON files the README and
benchmarks/RESULTS.md name are committed under ``benchmarks/results/`` and record the
commit they were measured at, on a clean tree; every section of the README and of
RESULTS.md that quotes a measured figure names the file it comes from."""

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
# What a measured figure looks like in prose: a time, a size or a rate with its unit,
# a ratio ("0.89x"), a score or a share ("0.721"), a count out of a set ("3 of 11").
FIGURE = re.compile(
    r"\b\d[\d,]*(?:\.\d+)?\s?(?:ms|s|KB|MiB|GiB|passages/s)\b"
    r"|\b\d+\.\d+x\b|\b\d+x (?:faster|slower)\b"
    r"|(?<![\d.])0\.\d{2,4}\b"
    r"|\b\d+ of \d+\b"
)


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


def sections(doc: Path) -> list[str]:
    """The document cut at its ``##`` and ``###`` headings."""
    return re.split(r"\n(?=#{2,3} )", doc.read_text(encoding="utf-8"))


def figures(section: str) -> list[str]:
    """The measured figures a section quotes, outside code (commands, paths, values)."""
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return FIGURE.findall(prose)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_section_quoting_a_figure_names_its_file(doc: Path) -> None:
    unnamed = {
        section.splitlines()[0]: found[:5]
        for section in sections(doc)
        if (found := figures(section)) and not NAMED.search(section)
    }
    assert not unnamed, f"{doc.name}: sections quoting figures but no results/ file: {unnamed}"


def test_every_table_in_results_md_names_its_file() -> None:
    unnamed = [
        section.splitlines()[0]
        for section in sections(ROOT / "benchmarks" / "RESULTS.md")
        if any(line.lstrip().startswith("|") for line in section.splitlines())
        and not NAMED.search(section)
    ]
    assert not unnamed, f"sections with a table but no results/ file: {unnamed}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_figure_is_left_untraced(doc: Path) -> None:
    assert UNTRACED not in doc.read_text(encoding="utf-8"), (
        f"{doc.name} still has an *Untraced* section: re-measure it or drop it"
    )


def test_the_figure_detector_finds_figures() -> None:
    # Guards the two tests above against a pattern that quietly matches nothing.
    quoted = "ingest at 0.89x raw, 38.0 passages/s; p50 28.8 ms; 3 of 11 refused; nDCG 0.721"
    assert figures(quoted) == ["0.89x", "38.0 passages/s", "28.8 ms", "3 of 11", "0.721"]
    assert figures("7x faster; within 3x that; `speed.py --sizes 1000` (`0.5 s`)") == ["7x faster"]
