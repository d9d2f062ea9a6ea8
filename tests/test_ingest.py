"""Ingest: formats, idempotent re-ingest, replacement, bad input, batching."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import chromadb.api.client
import pytest
from chromadb.api.models.Collection import Collection

from newsqa import NewsQA, Settings

from .conftest import SEED_FILE, SEEDS

pytestmark = pytest.mark.slow


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _passage_ids(qa: NewsQA) -> list[str]:
    return qa.store.passage_ids()


def test_every_format_ingests_with_dates_titles_and_sources(qa: NewsQA, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(docs, "seed.txt", SEED_FILE.read_text(encoding="utf-8"))
    _write(
        docs,
        "note.md",
        "---\ntitle: Council vote\ndate: 2024-04-01\n---\nThe city council of Utrecht voted 23 to 14 to build a new bridge over the canal.\n",
    )
    _write(
        docs,
        "page.html",
        "<html><head><title>Harbour news</title></head><body><article><h1>Harbour news</h1><p>The harbour of Rotterdam handled a record 470 million tonnes of cargo last year, the port authority said on Tuesday.</p><p>Officials expect growth to continue.</p></article></body></html>",
    )
    _write(
        docs,
        "feed.jsonl",
        json.dumps(
            {
                "title": "Rail strike",
                "date": "2024-05-02",
                "text": "Train drivers in Belgium went on strike for two days over pension reforms.",
                "url": "https://example.org/rail",
            }
        )
        + "\n",
    )
    report = qa.ingest([docs])
    assert report.ok, report.failed
    assert report.count("added") == 4
    infos = {i.title: i for i in qa.articles()}
    assert infos["Council vote"].date == "2024-04-01"
    assert infos["Rail strike"].source == "https://example.org/rail"
    assert any(i.date == "2024-03-05" for i in infos.values())
    assert len(_passage_ids(qa)) == sum(i.passages for i in infos.values())


def test_reingest_adds_nothing_and_changed_file_replaces(qa: NewsQA, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    path = _write(
        docs,
        "a.txt",
        "date 2024-01-02 The mayor of Ghent opened a new library on Monday. It holds 200,000 books.",
    )
    first = qa.ingest([docs])
    ids = _passage_ids(qa)
    again = qa.ingest([docs])
    assert (first.count("added"), again.count("unchanged"), again.count("added")) == (1, 1, 0)
    assert _passage_ids(qa) == ids

    path.write_text(
        "date 2024-01-02 The mayor of Ghent opened a new library on Tuesday. It holds 250,000 books."
    )
    changed = qa.ingest([docs])
    assert changed.count("replaced") == 1
    infos = qa.articles()
    assert len(infos) == 1 and "Tuesday" in (qa.store.article_text(infos[0].id) or "")
    assert all(pid.startswith(infos[0].id) for pid in _passage_ids(qa))


def test_bad_files_fail_alone_and_keep_the_library(qa: NewsQA, tmp_path: Path) -> None:
    qa.ingest([SEEDS])
    before = (qa.articles(), sorted(_passage_ids(qa)))
    docs = tmp_path / "batch"
    _write(
        docs,
        "good.txt",
        "date 2024-02-03 Heavy snow closed the airport of Oslo for six hours on Saturday.",
    )
    _write(docs, "binary.txt", b"\x00\x01\x02\xff" * 100)
    _write(docs, "empty.txt", "   \n")
    _write(docs, "broken.json", '{"title": "x", "text": ')
    _write(
        docs,
        "baddate.txt",
        "date 2024-02-30 This date does not exist, so the file must be refused.",
    )
    report = qa.ingest([docs, tmp_path / "missing-folder"])
    reasons = {Path(r.source).name: r.error for r in report.failed}
    assert report.count("added") == 1
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.txt"]
    assert "JSON" in reasons["broken.json"]
    assert "2024-02-30" in reasons["baddate.txt"]
    assert any("missing-folder" in r.source for r in report.failed)
    after_ids = set(_passage_ids(qa))
    assert set(before[1]) <= after_ids
    assert {a.id for a in before[0]} <= {a.id for a in qa.articles()}


def test_large_articles_are_written_in_chunks_under_chromas_limit(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chroma refuses more records per call than it reports (5,461 embedded); a lower
    # report shows the split without embedding thousands of passages. The spy sits on
    # Chroma's own upsert and records every call's ids, per collection.
    calls: list[tuple[str, list[str]]] = []
    upsert = Collection.upsert

    def spy(self: Collection, *args: Any, **kwargs: Any) -> Any:
        calls.append((self.name, list(kwargs["ids"])))
        return upsert(self, *args, **kwargs)

    monkeypatch.setattr(chromadb.api.client.Client, "get_max_batch_size", lambda self: 7)
    monkeypatch.setattr(Collection, "upsert", spy)
    body = " ".join(f"Sentence {j} says that value {j} rose." for j in range(60))
    _write(tmp_path / "big", "big.txt", f"date 2024-01-05 {body}")
    qa = NewsQA(settings, chunk_chars=100, chunk_overlap_sentences=0)
    report = qa.ingest([tmp_path / "big"])
    assert report.ok
    n = report.results[0].passages
    assert n > 20 and n % 7, n  # a remainder shows the last, shorter call
    passage_calls = [ids for name, ids in calls if name.endswith("_passages")]
    assert [len(ids) for ids in passage_calls] == [7] * (n // 7) + [n % 7]
    written = [pid for ids in passage_calls for pid in ids]
    assert len(set(written)) == n and sorted(written) == sorted(_passage_ids(qa))
    assert [len(ids) for name, ids in calls if name.endswith("_articles")] == [1]
    assert qa.store.count_passages() == n


def test_cli_ingest_summary_and_exit_code(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    _write(
        docs,
        "good.txt",
        "date 2024-02-03 Heavy snow closed the airport of Oslo for six hours on Saturday.",
    )
    _write(docs, "bad.json", "[1, 2")
    cmd = [sys.executable, "-m", "newsqa", "--data-dir", str(tmp_path / "lib"), "ingest", str(docs)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert "added 1, unchanged 0, replaced 0, failed 1" in run.stdout
    assert "bad.json" in run.stderr and "Traceback" not in run.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "added 0, unchanged 1" in again.stdout


def test_articles_sharing_a_source_name_do_not_replace_each_other(
    qa: NewsQA, tmp_path: Path
) -> None:
    # "source: Reuters" names a publication, not a file: both articles must stay.
    docs = tmp_path / "docs"
    _write(
        docs,
        "a.md",
        "---\ntitle: A story\nsource: Reuters\n---\nThe port of Antwerp reopened after a two-day strike by pilots.\n",
    )
    _write(
        docs,
        "b.md",
        "---\ntitle: B story\nsource: Reuters\n---\nFarmers in Lyon protested against new water rules on Thursday.\n",
    )
    assert qa.ingest([docs]).count("added") == 2
    uploaded = qa.ingest_files(
        [
            (
                "c.md",
                b"---\ntitle: C story\nsource: Reuters\n---\nA new tram line opened in Porto, carrying 9,000 riders on day one.\n",
            )
        ]
    )
    assert uploaded.count("added") == 1
    assert sorted(a.title for a in qa.articles()) == ["A story", "B story", "C story"]
    # The same upload name with new content is a new version of that upload.
    again = qa.ingest_files(
        [
            (
                "c.md",
                b"---\ntitle: C story\nsource: Reuters\n---\nA new tram line opened in Porto, carrying 12,000 riders on day one.\n",
            )
        ]
    )
    assert again.count("replaced") == 1
    assert sorted(a.title for a in qa.articles()) == ["A story", "B story", "C story"]


def test_pipelined_batches_store_everything_and_the_bar_ends_exact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Batches of ~10 passages: chunking, embedding and writing overlap across ~8 steps.
    qa = NewsQA(Settings(data_dir=tmp_path / "lib", ingest_batch=10))
    docs = tmp_path / "docs"
    for i in range(16):
        body = " ".join(
            f"Report {i} on the harbour, part {j}: the crane lifted {j + i} containers today."
            for j in range(40)
        )
        _write(docs, f"r{i:02d}.txt", f"Harbour report {i}\n\n{body}\n")
    report = qa.ingest([docs], progress=True)
    assert report.ok and report.count("added") == 16
    total = sum(r.passages for r in report.results)
    assert total == qa.store.count_passages() == len(set(_passage_ids(qa)))
    assert {a.passages for a in qa.articles()} == {r.passages for r in report.results}
    # The bar's total started as a guess from the texts' lengths; it ends exact.
    final = capsys.readouterr().err.strip().split("\r")[-1]
    assert f"{total}/{total}" in final, final
    # Every passage has its sentences' vectors.
    stored = qa.store.with_sentence_vectors(list(qa.store.iter_passages()))
    assert all(sp.sentence_vectors is not None for sp in stored)


@pytest.mark.slow
def test_every_stored_passage_keeps_its_resolved_dates(tmp_path: Path) -> None:
    # Dates are resolved on the worker thread while the batch is embedded; the write
    # must store the dated passages, not the copies the embedder read (a race once
    # stored most of them undated).
    from .test_faults import write_corpus

    qa = NewsQA(Settings(data_dir=tmp_path / "lib"))
    write_corpus(tmp_path / "docs", range(40))
    assert qa.ingest([tmp_path / "docs"]).ok
    monday = [sp for sp in qa.store.iter_passages() if "on Monday" in sp.passage.text]
    assert len(monday) == 40
    assert all(len(sp.passage.dates) == 1 for sp in monday), [sp.passage.dates for sp in monday]
