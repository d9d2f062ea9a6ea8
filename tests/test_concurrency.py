"""The app and a `newsqa ingest` in another process, on one library at the same time.

Embedded Chroma is not process-safe, so the store serialises writers with a file
lock and readers reopen when the write generation changes (see ``newsqa.store``).
This test runs the real CLI in a subprocess on a folder big enough to need
several write batches, while this process does what the app does: asks
questions, lists the library and uploads a file. Nothing may fail, vanish or
appear twice, during or after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newsqa import NewsQA, Settings

from .conftest import SEEDS

pytestmark = pytest.mark.slow

TOWNS = [
    "Aldermoor", "Brackwell", "Cindervale", "Dunmarrow", "Eastcombe", "Fellbrook",
    "Greyhaven", "Hollowmere", "Ironford", "Juniper Bay", "Kestrel Point", "Larkspur",
    "Marrowgate", "Northwick", "Oakhollow", "Pinecrest",
]  # fmt: skip
MAYORS = [
    "Abernathy", "Bellweather", "Castellane", "Dunmore", "Everleigh", "Fairbanks",
    "Grimsditch", "Hawthorne", "Ingleby", "Jessamy", "Kittredge", "Lockhart",
    "Merriweather", "Nettleship", "Ormerod", "Pemberton",
]  # fmt: skip
UPLOAD = (
    b"---\ntitle: Harbour ferry returns to Lowestead\ndate: 2025-02-03\n---\n"
    b"The ferry between Lowestead and the islands ran again on Monday after six months. "
    b'"Every crossing was full today," said harbour master Ottilie Brandvold.'
)


def town_article(i: int) -> str:
    """A dated article of roughly ten passages about one fictional town."""
    town, mayor = TOWNS[i], MAYORS[i]
    lines = [
        "---",
        f"title: {town} council agrees its budget for the year",
        f"date: 2025-03-{i + 1:02d}",
        "---",
        f'"We will rebuild the {town} footbridge before the spring floods," said Mayor '
        f"{mayor} after the vote.",
    ]
    for j in range(50):
        lines.append(
            f"Item {j + 1} on the {town} agenda covered the {['library', 'market', 'school'][j % 3]}"
            f" budget, which councillors debated for {j + 5} minutes before a vote."
        )
    return "\n".join(lines) + "\n"


# Small ingest steps, so the CLI ingest below writes several times.
WRITE_BATCH = 128


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    newsqa = Path(sys.executable).parent / "newsqa"
    return subprocess.run(
        [str(newsqa), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_ingest_while_the_app_reads_and_writes(tmp_path: Path) -> None:
    data_dir = tmp_path / "library"
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i in range(len(TOWNS)):  # about 10 passages each: two write batches in all
        (folder / f"town-{i:02d}.md").write_text(town_article(i), encoding="utf-8")

    app = NewsQA(Settings(data_dir=data_dir))  # stands in for the Streamlit app's instance
    assert app.ingest([SEEDS]).count("added") == 1

    newsqa = Path(sys.executable).parent / "newsqa"
    writer = subprocess.Popen(
        [str(newsqa), "--data-dir", str(data_dir), "ingest", str(folder), "--json"],
        env={**os.environ, "NEWSQA_INGEST_BATCH": str(WRITE_BATCH)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen_counts: list[int] = []
    uploaded = False
    reads = 0
    try:
        while writer.poll() is None:
            # What every rerun of the app does: list the library, answer a question.
            articles = app.articles()
            ids = [a.id for a in articles]
            assert len(ids) == len(set(ids)), "an article is listed twice"
            assert not seen_counts or len(ids) >= seen_counts[-1], "articles disappeared"
            seen_counts.append(len(ids))
            answer = app.ask("What did Peskov say?")
            assert answer.answerable, f"the seed article was hidden mid-ingest: {answer.text}"
            assert "We want to know what the investigation found" in answer.text
            reads += 1
            # An upload from the app while the CLI holds or wants the writer lock.
            if not uploaded and len(ids) > 1:
                report = app.ingest_files([("lowestead.md", UPLOAD)])
                assert report.ok and report.count("added") == 1, report.to_dict()
                uploaded = True
            time.sleep(0.2)  # leave the writer some of this machine's CPU
        stdout, stderr = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()

    assert writer.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["added"] == len(TOWNS) and report["failed"] == 0, report
    # The folder needs several write batches, so the reader must have seen the library
    # part-way through; otherwise this test would prove nothing about concurrency.
    town_passages = sum(a.passages for a in app.articles() if a.title.endswith("for the year"))
    assert town_passages > WRITE_BATCH
    final = len(TOWNS) + 1 + int(uploaded)
    assert reads > 0
    print(f"\n{reads} reads during the CLI ingest saw these article counts: {seen_counts}")
    assert any(1 < c < final for c in seen_counts), f"no read saw a partial ingest: {seen_counts}"

    # Afterwards the CLI and the app agree: everything there, once.
    listed = json.loads(cli(data_dir, "articles", "list", "--json").stdout)
    cli_ids = [a["id"] for a in listed]
    app_articles = app.articles()
    app_ids = [a.id for a in app_articles]
    assert len(cli_ids) == len(set(cli_ids)) == final
    assert sorted(cli_ids) == sorted(app_ids)
    titles = {a.title for a in app_articles}
    assert {f"{t} council agrees its budget for the year" for t in TOWNS} <= titles
    if uploaded:
        assert "Harbour ferry returns to Lowestead" in titles
    # No orphaned or doubled passages: the passage collection matches the article records.
    assert app.store.count_passages() == sum(a.passages for a in app_articles)

    # The app answers from what the CLI added (dense and BM25 sides both caught up).
    answer = app.ask(f"What did Mayor {MAYORS[7]} say?")
    assert answer.answerable, answer.text
    assert answer.citations[0].title.startswith(TOWNS[7])
    assert f"rebuild the {TOWNS[7]} footbridge" in answer.text
    # And a fresh process (the CLI) answers from what the app uploaded.
    if uploaded:
        asked = cli(data_dir, "ask", "What did Ottilie Brandvold say?", "--json")
        assert asked.returncode == 0, asked.stderr
        assert "Every crossing was full today" in json.loads(asked.stdout)["text"]
