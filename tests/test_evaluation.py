"""newsqa.evaluation: metrics on hand-computed cases, the three loaders, reports,
and one end-to-end run of the seed test set through the real pipeline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsqa.cli import main
from newsqa.evaluation import (
    DatasetError,
    EvalReport,
    SystemRun,
    detect_format,
    format_markdown,
    format_table,
    load_dataset,
    summarize,
    to_json,
    write_report,
)
from newsqa.evaluation.datasets import EvalQuestion, answer_sentences
from newsqa.evaluation.metrics import (
    citation_metrics,
    contains_answer,
    exact_match,
    judge,
    mrr_at_k,
    ndcg_at_k,
    normalize_answer,
    percentile,
    rank_targets,
    recall_at_k,
    refusal_metrics,
    token_f1,
)
from newsqa.evaluation.records import Cited, IngestStats, Outcome, QuestionRecord, Retrieved
from newsqa.models import content_id

from . import floors
from .conftest import SEEDS, TEST_DATA

# -- answers ----------------------------------------------------------------------------


def test_normalize_answer_follows_squad() -> None:
    assert normalize_answer("  The Cat's, hat!  ") == "cats hat"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_takes_the_best_gold() -> None:
    assert exact_match("the Denver Broncos.", ["Panthers", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0


def test_token_f1_by_hand() -> None:
    # pred {denver, broncos, won} vs gold {denver, broncos}: P = 2/3, R = 1, F1 = 0.8.
    assert token_f1("Denver Broncos won", ["Panthers", "Denver Broncos"]) == pytest.approx(0.8)
    # A token shared once counts once: pred "x b b" vs gold "b": P = 1/3, R = 1, F1 = 0.5.
    assert token_f1("x b b", ["b"]) == pytest.approx(0.5)
    assert token_f1("nothing shared", ["Denver"]) == 0.0
    assert token_f1("", ["Denver"]) == 0.0


def test_containment_needs_whole_tokens() -> None:
    assert contains_answer("They gave up 308 points [1].", ["308"]) == 1.0
    assert contains_answer("They gave up 3080 points.", ["308"]) == 0.0
    assert contains_answer("Said the spokesperson.", ["a spokesperson"]) == 1.0


# -- retrieval ------------------------------------------------------------------------------


def test_document_metrics_by_hand() -> None:
    ranks = [frozenset(), frozenset({"a"}), frozenset(), frozenset({"b"})]
    targets = {"a": 1, "b": 1, "c": 1}
    assert recall_at_k(ranks, targets, 1) == 0.0
    assert recall_at_k(ranks, targets, 5) == pytest.approx(2 / 3)
    assert mrr_at_k(ranks, targets, 10) == 0.5
    assert mrr_at_k(ranks, targets, 1) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranks, targets, 10) == pytest.approx(dcg / idcg)


def test_graded_ndcg_by_hand() -> None:
    ranks = [frozenset({"b"}), frozenset({"a"})]
    targets = {"a": 2, "b": 1}
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(ranks, targets, 10) == pytest.approx(expected)


def test_evidence_counted_once_across_overlapping_passages() -> None:
    targets = {"e0": 1, "e1": 1}
    # One passage holding all the evidence is perfect.
    assert ndcg_at_k([frozenset({"e0", "e1"})], targets, 10) == pytest.approx(1.0)
    # The second passage repeats e0 (chunk overlap): no gain, and the ideal has 2 units.
    ranks = [frozenset({"e0"}), frozenset({"e0"}), frozenset({"e1"})]
    assert ndcg_at_k(ranks, targets, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert recall_at_k(ranks, targets, 2) == 0.5
    assert recall_at_k(ranks, targets, 3) == 1.0


def test_rank_targets_documents_by_best_passage() -> None:
    question = EvalQuestion("q", "?", gold_docs={"B": 1})
    retrieved = [Retrieved("A", "x"), Retrieved("A", "y"), Retrieved("B", "z")]
    assert rank_targets(question, retrieved) == [frozenset(), frozenset({"B"})]


def test_rank_targets_evidence_ignores_line_breaks() -> None:
    question = EvalQuestion("q", "?", evidence=("It rained on Monday.",))
    retrieved = [Retrieved("A", "No."), Retrieved("A", "Well. It rained\non Monday. Then")]
    assert rank_targets(question, retrieved) == [frozenset(), frozenset({"e0"})]


def test_percentile_interpolates() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == pytest.approx(2.5)
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


# -- citations and refusals -----------------------------------------------------------------


def _record(
    cited: list[tuple[frozenset[str], bool]],
    *,
    evidence: tuple[str, ...] = ("e0", "e1"),
    answerable: bool = True,
    refused: bool = False,
) -> QuestionRecord:
    return QuestionRecord(
        id="q",
        question="?",
        answerable=answerable,
        answer="" if refused else "answer",
        refused=refused,
        golds=("answer",) if answerable else (),
        targets=dict.fromkeys(evidence, 1),
        evidence=evidence,
        cited=cited,
    )


def test_citation_metrics_by_hand() -> None:
    records = [
        # Two citations, one holds e0: precision 1/2, recall 1/2.
        _record([(frozenset({"e0"}), True), (frozenset(), True)]),
        # One citation holding both: precision 1, recall 1; it fails verification.
        _record([(frozenset({"e0", "e1"}), False)]),
        # Refused: no precision, recall 0.
        _record([], refused=True),
        # Unanswerable but answered: not in precision/recall, its citation is verified.
        _record([(frozenset(), True)], evidence=(), answerable=False),
    ]
    metrics = citation_metrics(records)
    assert metrics["precision"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["recall"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert metrics["evidence_cited"] == pytest.approx(2 / 3)
    assert metrics["verified"] == pytest.approx(3 / 4)


def test_refusal_metrics_by_hand() -> None:
    records = [
        _record([], answerable=False, evidence=(), refused=True),
        _record([], answerable=False, evidence=(), refused=False),
        _record([], refused=True),
        _record([(frozenset({"e0"}), True)]),
        _record([(frozenset({"e0"}), True)]),
        _record([(frozenset({"e0"}), True)]),
    ]
    metrics = refusal_metrics(records)
    assert metrics["refusal_accuracy"] == 0.5
    assert metrics["wrongly_refused"] == 0.25


def test_judge_checks_citations_against_the_source_text() -> None:
    text = "First sentence. The cat sat on the mat. Last one."
    aid = content_id(text)
    question = EvalQuestion(
        "q",
        "Where did the cat sit?",
        answers=("on the mat",),
        evidence=("The cat sat on the mat.",),
    )
    good = Cited(aid, "The cat sat on the mat.", 16, 39)
    moved = Cited(aid, "The cat sat on the mat.", 15, 38)  # offsets off by one
    fragment = Cited(aid, "sat", 24, 27)  # verbatim, but too small a part of the evidence
    outcome = Outcome(
        answer="The cat sat on the mat. [1]",
        refused=False,
        citations=[good, moved, fragment],
        retrieved=[Retrieved(aid, text)],
        seconds=0.25,
    )
    record = judge(question, outcome, {aid: text})
    assert record.cited == [
        (frozenset({"e0"}), True),
        (frozenset({"e0"}), False),
        (frozenset(), True),
    ]
    assert record.ranks == [frozenset({"e0"})]
    summary = summarize([record])
    # "cat sat on mat" vs "on mat" after normalisation: P = 2/4, R = 1, F1 = 2/3.
    assert summary["answers"] == {
        "containment": 1.0,
        "exact_match": 0.0,
        "f1": pytest.approx(2 / 3),
        "answer_chars": 23.0,
    }
    assert summary["latency"]["p50_ms"] == pytest.approx(250.0)


# -- loaders -----------------------------------------------------------------------------------


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_detect_format(tmp_path: Path) -> None:
    (tmp_path / "beir").mkdir()
    (tmp_path / "beir" / "corpus.jsonl").write_text("")
    (tmp_path / "beir" / "queries.jsonl").write_text("")
    assert detect_format(tmp_path / "beir") == "beir"
    assert detect_format(tmp_path / "set.jsonl") == "own"
    assert detect_format(tmp_path / "dev.json") == "squad"
    with pytest.raises(DatasetError, match="--format"):
        detect_format(tmp_path / "notes.txt")
    with pytest.raises(DatasetError, match="BEIR"):
        detect_format(tmp_path)


def test_own_format_with_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "articles"
    corpus.mkdir()
    (corpus / "a.txt").write_text("date 2024-01-02 Anna Berg won the race in Oslo on Sunday.")
    (corpus / "bad.txt").write_text("tiny")
    path = _write_jsonl(
        tmp_path / "set.jsonl",
        [
            {
                "id": "t1",
                "question": "Who won?",
                "history": [],
                "answers": ["Anna Berg"],
                "evidence": ["Anna Berg won the race in Oslo on Sunday."],
                "answerable": True,
                "type": "who",
            },
            {"question": "And where?", "history": [["Who won?", "Anna Berg [1]"]], "answers": []},
            {"question": "What did the mayor say?", "answerable": False},
        ],
    )
    evalset = load_dataset(path, corpus=[corpus])
    assert evalset.format == "own" and evalset.retrieval_level == "evidence"
    assert [a.text for a in evalset.articles] == ["Anna Berg won the race in Oslo on Sunday."]
    assert evalset.skipped and "bad.txt" in evalset.skipped[0]
    first, second, third = evalset.questions
    assert first.id == "t1" and first.answers == ("Anna Berg",) and first.type == "who"
    assert second.history == (("Who won?", "Anna Berg [1]"),) and second.id == "q0002"
    assert not second.answerable  # no answers and no evidence given
    assert not third.answerable
    assert len(load_dataset(path, corpus=[corpus], limit=1).questions) == 1


def test_own_format_finds_the_seeds_folder(tmp_path: Path) -> None:
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "s.txt").write_text("The council met on Monday to vote on the budget.")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    path = _write_jsonl(tmp_path / "tests" / "data" / "q.jsonl", [{"question": "Who met?"}])
    assert load_dataset(path).corpus == [tmp_path / "seeds"]
    # Three levels up is as far as it looks: a seeds/ folder further away is not used.
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    with pytest.raises(DatasetError, match="--corpus"):
        load_dataset(_write_jsonl(deep / "q.jsonl", [{"question": "Who met?"}]))


def test_own_format_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"question": "ok"}\n{"question": ""}\n')
    with pytest.raises(DatasetError, match=r"set\.jsonl:2: 'question'"):
        load_dataset(path, corpus=[SEEDS])
    path.write_text('{"question": "q", "answerable": false, "answers": ["x"]}\n')
    with pytest.raises(DatasetError, match="unanswerable"):
        load_dataset(path, corpus=[SEEDS])
    path.write_text('{"question": "q", "history": ["just text"]}\n')
    with pytest.raises(DatasetError, match="history"):
        load_dataset(path, corpus=[SEEDS])


def test_the_seed_sets_load() -> None:
    for name, minimum in (("seed_dev.jsonl", 40), ("seed_test.jsonl", 40)):
        evalset = load_dataset(TEST_DATA / name)
        assert len(evalset.questions) >= minimum
        assert sum(not q.answerable for q in evalset.questions) >= 8
        text = evalset.articles[0].text
        for q in evalset.questions:
            assert all(e in text for e in q.evidence), q.id


def test_squad_paragraphs_become_articles(tmp_path: Path) -> None:
    context = "Paris is the capital. It has 2 million people. The Seine runs through it."
    squad = {
        "version": "1.1",
        "data": [
            {
                "title": "Paris_City",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "p1",
                                "question": "How many people live in Paris?",
                                "answers": [
                                    {"answer_start": 29, "text": "2 million"},
                                    {"answer_start": 0, "text": "2 million people"},  # bad offset
                                ],
                            }
                        ],
                    },
                    {"context": "Lyon is a city on the Rhone.", "qas": []},
                ],
            }
        ],
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(squad))
    evalset = load_dataset(path)
    assert evalset.format == "squad" and evalset.retrieval_level == "document"
    assert [a.title for a in evalset.articles] == ["Paris City [0]", "Paris City [1]"]
    (q,) = evalset.questions
    assert q.answers == ("2 million", "2 million people")
    assert q.evidence == ("It has 2 million people.",)
    assert q.gold_docs == {content_id(context): 1}
    with pytest.raises(DatasetError, match="--corpus"):
        load_dataset(path, corpus=[SEEDS])


def test_answer_sentences_spanning_two_sentences() -> None:
    context = "One. Two is here. Three."
    assert answer_sentences(context, [(5, "Two is here. Three")]) == ["Two is here.", "Three."]


def _beir(folder: Path, splits: dict[str, str]) -> Path:
    folder.mkdir()
    _write_jsonl(
        folder / "corpus.jsonl",
        [
            {"_id": "d1", "title": "Cats", "text": "Cats sleep most of the day."},
            {"_id": "d2", "title": "", "text": "Dogs need daily walks outside."},
            {"_id": "d3", "title": "Empty", "text": ""},
        ],
    )
    _write_jsonl(
        folder / "queries.jsonl",
        [
            {"_id": "q1", "text": "How long do cats sleep?"},
            {"_id": "q2", "text": "Do dogs need walks?"},
            {"_id": "q3", "text": "Unjudged query"},
        ],
    )
    (folder / "qrels").mkdir()
    for split, body in splits.items():
        (folder / "qrels" / f"{split}.tsv").write_text(body)
    return folder


def test_beir_folder(tmp_path: Path) -> None:
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t2\nq2\td1\t0\n"
    folder = _beir(tmp_path / "tiny", {"train": qrels})
    evalset = load_dataset(folder)
    assert evalset.format == "beir" and evalset.retrieval_only and evalset.split == "train"
    assert len(evalset.articles) == 2  # the empty document is dropped
    titles = sorted(a.title for a in evalset.articles)
    assert titles == ["Cats", "Dogs need daily walks outside."]
    ids = {a.source: a.id for a in evalset.articles}
    q1, q2 = evalset.questions  # q3 has no judgement: not asked
    assert q1.gold_docs == {ids["beir:d1"]: 1}
    assert q2.gold_docs == {ids["beir:d2"]: 2}  # grade 0 is not relevant


def test_beir_split_choice(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "two", {"train": "q1\td1\t1\n", "dev": "q2\td2\t1\n"})
    with pytest.raises(DatasetError, match="available: dev, train"):
        load_dataset(folder)
    assert load_dataset(folder, split="dev").questions[0].id == "q2"
    with pytest.raises(DatasetError, match="no such qrels split"):
        load_dataset(folder, split="test")


# -- reports -----------------------------------------------------------------------------------


def _report() -> EvalReport:
    ours = [
        _record([(frozenset({"e0"}), True)]),
        _record([], evidence=(), answerable=False, refused=True),
    ]
    ours[0].ranks = [frozenset({"e0"}), frozenset({"e1"})]
    theirs = [
        _record([(frozenset(), True)]),
        _record([(frozenset(), True)], evidence=(), answerable=False),
    ]
    for records in (ours, theirs):
        records[0].type, records[1].type = "who", "unanswerable"
    runs = [
        SystemRun(name, IngestStats(1, 3, 0.5), records, summarize(records), 1.0)
        for name, records in (("newsqa", ours), ("baseline", theirs))
    ]
    dataset = {
        "name": "tiny",
        "format": "own",
        "split": None,
        "articles": 1,
        "skipped": [],
        "questions": 2,
        "answerable": 1,
        "unanswerable": 1,
        "retrieval_level": "evidence",
        "retrieval_only": False,
    }
    return EvalReport(dataset, {"k": 6, "retrieval_depth": 10}, runs)


def test_table_json_and_markdown() -> None:
    report = _report()
    table = format_table(report)
    assert "newsqa" in table and "baseline" in table
    assert "Refused when unanswerable" in table and "nDCG@10" in table
    recall_row = next(line for line in table.splitlines() if "Recall@10" in line)
    assert recall_row.split()[-2:] == ["1.000", "0.000"]
    data = json.loads(to_json(report))
    assert data["systems"]["newsqa"]["metrics"]["refusals"]["refusal_accuracy"] == 1.0
    assert data["systems"]["baseline"]["metrics"]["refusals"]["refusal_accuracy"] == 0.0
    markdown = format_markdown(report)
    assert "| Citation precision | 1.000 | 0.000 |" in markdown
    # By type: ours cites the evidence and refuses the unanswerable one; the baseline neither.
    assert "| who | 1 | 1.00 | 0.00 |" in markdown
    assert "| unanswerable | 1 | 1.00 | 0.00 |" in markdown


def test_write_report_folder(tmp_path: Path) -> None:
    written = write_report(_report(), tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["summary.md", "report.json"]
        + [f"{g}.png" for g in ("retrieval", "answers", "citations", "refusals", "latency")]
    )
    assert (tmp_path / "out" / "retrieval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![Citations](citations.png)" in (tmp_path / "out" / "summary.md").read_text()
    full = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(full["systems"]["newsqa"]["questions"]) == 2


def test_cli_reports_dataset_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text("{not json\n")
    result = CliRunner().invoke(main, ["eval", str(path), "--corpus", str(SEEDS)])
    assert result.exit_code == 1
    assert "broken.jsonl:1: invalid JSON" in result.output


# -- end to end --------------------------------------------------------------------------------


@pytest.mark.slow
def test_seed_test_set_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The user's library must stay untouched, whatever the environment points at.
    library = tmp_path / "library"
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(library))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main,
        ["eval", str(TEST_DATA / "seed_test.jsonl"), "--json", "--baseline", "--report", str(out)],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ours = data["systems"]["newsqa"]["metrics"]
    baseline = data["systems"]["baseline"]["metrics"]
    # Within two questions of the figures measured in tests/floors.py.
    misses = floors.misses(floors.SEED_TEST, ours, data["dataset"])
    # Every figure in the message, so a regression shows what else moved.
    assert not misses, f"{misses}; measured: {json.dumps(ours)}"
    assert ours["citations"]["verified"] == 1.0
    # The plain recipe never refuses, so the refusal figures have a real reference.
    assert baseline["refusals"]["refusal_accuracy"] == 0.0
    # And newsqa cites the gold evidence more often, and more precisely, than it.
    behind = floors.lead_misses(floors.SEED_TEST_LEAD_OVER_PLAIN, ours, baseline, data["dataset"])
    assert not behind, f"{behind}; newsqa: {ours['citations']}; plain: {baseline['citations']}"
    assert data["dataset"]["questions"] >= 40 and data["dataset"]["unanswerable"] >= 8
    assert (out / "summary.md").exists() and (out / "citations.png").exists()
    assert not library.exists()
