"""`newsqa eval` on a small slice of each kind of external data set, one per format:

- own (JSONL questions + a news corpus): RealTime QA news-quiz questions, answered
  from the news snippets that hold their answers (plus some whose snippet is left
  out, which must be refused);
- SQuAD: two XQuAD articles (document-level gold);
- BEIR: SciFact train queries over their relevant abstracts and distractors.

The slices are cut from ``../shared/data`` into the test's temp dir (nothing is
copied into the repository); each test skips, saying why, when the data is absent.
The figures are held to ``tests/floors.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from newsqa.cli import main

from . import floors
from .conftest import shared_data

pytestmark = pytest.mark.slow

ANSWERABLE, UNANSWERABLE = 24, 6
SQUAD_ARTICLES = slice(1, 3)  # Warsaw and Normans: 10 paragraphs, 31 questions
SCIFACT_QUERIES, SCIFACT_DISTRACTORS = 15, 45


def run_eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, Any]:
    """`newsqa eval ... --json` in this process (the model loads once); its JSON."""
    library = tmp_path / "library"
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(library))
    result = CliRunner().invoke(main, ["eval", *args, "--json"])
    assert result.exit_code == 0, result.output
    assert not library.exists()  # evaluation never touches the user's library
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def held_to(figures: dict[str, floors.Figure], data: dict[str, Any]) -> None:
    """Hold the figures to ``floors``; print them all (`pytest -rA` shows them), which is
    how the slice tables in tests/floors.py are re-set."""
    metrics = data["systems"]["newsqa"]["metrics"]
    print(json.dumps({"dataset": data["dataset"], "newsqa": metrics}, indent=1))
    missed = floors.misses(figures, metrics, data["dataset"])
    assert not missed, f"{missed}; measured: {json.dumps(metrics)}"


def sentences_with(text: str, answer: str) -> list[str]:
    """The sentences of ``text`` (split at . ! ? and a space) that hold ``answer``."""
    found = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if answer in s]
    return found


def realtimeqa_slice(folder: Path) -> Path:
    """Questions whose answer appears word for word in their snippet; the snippets of
    the first ``ANSWERABLE`` are the corpus, the next ``UNANSWERABLE`` (from 2023 on,
    other news) are asked without theirs."""
    source = shared_data("realtimeqa_dev", "questions.jsonl")
    usable = []
    with source.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            answer = (record.get("answer_text") or [""])[0]
            evidence = " ".join((record.get("evidence") or "").split())
            if len(answer) > 2 and sentences_with(evidence, answer):
                usable.append({**record, "evidence": evidence, "answer": answer})
    answerable = usable[:ANSWERABLE]
    later = [r for r in usable if r["date"] >= "2023"][:UNANSWERABLE]
    folder.mkdir()
    corpus = folder / "snippets.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {
                    "title": f"{r['source']} news, {r['date']}",
                    "date": r["date"],
                    "text": r["evidence"],
                    "source": f"realtimeqa:{r['question_id']}",
                }
            )
            + "\n"
            for r in answerable
        ),
        encoding="utf-8",
    )
    questions = [
        {
            "id": r["question_id"],
            "question": r["question"],
            "answers": [r["answer"]],
            "evidence": sentences_with(r["evidence"], r["answer"]),
        }
        for r in answerable
    ] + [{"id": r["question_id"], "question": r["question"], "answerable": False} for r in later]
    path = folder / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    return path


def test_own_format_on_news(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    questions = realtimeqa_slice(tmp_path / "rtqa")
    corpus = tmp_path / "rtqa" / "snippets.jsonl"
    data = run_eval(tmp_path, monkeypatch, str(questions), "--corpus", str(corpus))
    dataset = data["dataset"]
    assert (dataset["format"], dataset["retrieval_level"]) == ("own", "evidence")
    assert (dataset["answerable"], dataset["unanswerable"]) == (ANSWERABLE, UNANSWERABLE)
    assert dataset["articles"] == ANSWERABLE and not dataset["skipped"]
    ours = data["systems"]["newsqa"]["metrics"]
    assert ours["citations"]["verified"] == 1.0
    held_to(floors.REALTIMEQA_SLICE, data)


def test_squad_format_on_xquad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    squad = json.loads(shared_data("squad_xquad", "xquad_en_dev.json").read_text("utf-8"))
    squad["data"] = squad["data"][SQUAD_ARTICLES]
    path = tmp_path / "xquad_slice.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    data = run_eval(tmp_path, monkeypatch, str(path))
    dataset = data["dataset"]
    paragraphs = sum(len(a["paragraphs"]) for a in squad["data"])
    asked = sum(len(p["qas"]) for a in squad["data"] for p in a["paragraphs"])
    assert (dataset["format"], dataset["retrieval_level"]) == ("squad", "document")
    assert (dataset["articles"], dataset["questions"]) == (paragraphs, asked)
    ours = data["systems"]["newsqa"]["metrics"]
    assert ours["citations"]["verified"] == 1.0
    held_to(floors.XQUAD_SLICE, data)


def scifact_slice(folder: Path) -> Path:
    """The first ``SCIFACT_QUERIES`` judged train queries, their relevant abstracts and
    ``SCIFACT_DISTRACTORS`` other abstracts, as a BEIR folder."""
    source = shared_data("beir_scifact")
    qrels: dict[str, dict[str, str]] = {}
    with (source / "qrels" / "train.tsv").open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, doc, score = line.rstrip("\n").split("\t")
            if len(qrels) == SCIFACT_QUERIES and qid not in qrels:
                break
            if int(score) > 0:
                qrels.setdefault(qid, {})[doc] = score
    relevant = {doc for judged in qrels.values() for doc in judged}
    docs, distractors = [], 0
    with (source / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["_id"] in relevant:
                docs.append(line)
            elif distractors < SCIFACT_DISTRACTORS:
                docs.append(line)
                distractors += 1
    with (source / "queries.jsonl").open(encoding="utf-8") as f:
        queries = [line for line in f if json.loads(line)["_id"] in qrels]
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(docs), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(queries), encoding="utf-8")
    rows = [f"{q}\t{d}\t{s}\n" for q, judged in qrels.items() for d, s in judged.items()]
    (folder / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(rows), encoding="utf-8"
    )
    return folder


def test_beir_format_on_scifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = scifact_slice(tmp_path / "scifact")
    data = run_eval(tmp_path, monkeypatch, str(folder))
    dataset = data["dataset"]
    assert (dataset["format"], dataset["split"]) == ("beir", "train")
    assert dataset["retrieval_only"] and dataset["questions"] == SCIFACT_QUERIES
    ours = data["systems"]["newsqa"]["metrics"]
    assert set(ours) == {"retrieval", "latency"}  # retrieval metrics only
    held_to(floors.SCIFACT_SLICE, data)
