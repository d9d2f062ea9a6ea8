"""Answers on the seed article: grounded, cited, verified, refusing, following up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from newsqa import NewsQA, QuestionError
from newsqa.citations import verify

from .conftest import SEEDS, TEST_DATA

pytestmark = pytest.mark.slow


def _check_citations(qa: NewsQA, answer_text: str, citations: list) -> None:  # type: ignore[type-arg]
    assert citations, "an answer must cite"
    for c in citations:
        article = qa.store.article_text(c.article_id)
        assert article is not None and article[c.start : c.end] == c.text
        assert c.verified and verify(c, article)
        assert f"[{c.n}]" in answer_text
        assert c.date == "2024-03-05" and c.title and c.source.endswith(".txt")


def test_what_did_peskov_say(seeded_qa: NewsQA) -> None:
    answer = seeded_qa.ask("What did Peskov say?")
    assert answer.answerable
    assert "We want to know what the investigation found" in answer.text
    assert 1 <= len(answer.citations) <= 3
    _check_citations(seeded_qa, answer.text, answer.citations)


@pytest.mark.parametrize("question", ["What did Macron say?", "What is the capital of Australia?"])
def test_refuses_what_the_articles_do_not_answer(seeded_qa: NewsQA, question: str) -> None:
    answer = seeded_qa.ask(question)
    assert not answer.answerable
    assert answer.citations == []
    assert answer.text.startswith("The articles don't answer this question")


def test_follow_up_keeps_the_subject(seeded_qa: NewsQA) -> None:
    first = seeded_qa.ask("Who is Maria Zakharova?")
    assert first.answerable and "Zakharova" in first.text
    follow = seeded_qa.ask("What did she say?", history=[(first.question, first.text)])
    assert follow.answerable
    assert "bad consequences for Germany" in follow.text
    assert "Zakharova" in follow.standalone_question
    # A new topic after it is not dragged back to Zakharova.
    other = seeded_qa.ask(
        "What did Peskov say?",
        history=[(first.question, first.text), ("What did she say?", follow.text)],
    )
    assert "We want to know" in other.text


def test_elliptical_follow_up(seeded_qa: NewsQA) -> None:
    first = seeded_qa.ask("What did Maria Zakharova say?")
    follow = seeded_qa.ask("And Peskov?", history=[(first.question, first.text)])
    assert follow.answerable and "We want to know" in follow.text


def test_answer_to_dict_is_json(seeded_qa: NewsQA) -> None:
    data = seeded_qa.ask("How long was the recording?").to_dict()
    assert json.loads(json.dumps(data)) == data
    cite = data["citations"][0]
    assert set(cite) >= {
        "n",
        "article_id",
        "title",
        "date",
        "source",
        "text",
        "start",
        "end",
        "score",
    }


def test_filters_by_date_and_article(seeded_qa: NewsQA) -> None:
    article_id = seeded_qa.articles()[0].id
    assert seeded_qa.ask(
        "What did Peskov say?", date_from="2024-03-01", date_to="2024-03-31"
    ).answerable
    later = seeded_qa.ask("What did Peskov say?", date_from="2024-04-01")
    assert not later.answerable and not later.citations
    assert seeded_qa.ask("What did Peskov say?", article_ids=[article_id]).answerable
    assert not seeded_qa.ask("What did Peskov say?", article_ids=["0000000000000000"]).answerable


def test_hybrid_retrieval_finds_both_sides(seeded_qa: NewsQA) -> None:
    result = seeded_qa.search.search("What did Peskov say?", 3)
    top = result.hits[0]
    assert "Peskov" in top.passage.text
    assert top.bm25_score is not None and top.dense_score is not None
    assert set(result.timings) == {"embed", "dense", "bm25", "fusion"}


def test_langchain_retriever_and_chain(seeded_qa: NewsQA) -> None:
    docs = seeded_qa.retriever(k=2).invoke("Who is Maria Zakharova?")
    assert len(docs) == 2 and any("Zakharova" in d.page_content for d in docs)
    assert docs[0].metadata["date"] == "2024-03-05"
    answer = seeded_qa.chain().invoke({"question": "What did Scholz promise?", "history": []})
    assert answer.answerable and "investigate" in answer.text


@pytest.mark.parametrize("bad", ["", "   ", "x" * 5_000])
def test_bad_questions_get_clear_errors(seeded_qa: NewsQA, bad: str) -> None:
    with pytest.raises(QuestionError, match=r"empty|limit"):
        seeded_qa.ask(bad)


def test_empty_library_says_so(qa: NewsQA) -> None:
    answer = qa.ask("What did Peskov say?")
    assert not answer.answerable and "empty" in answer.text


def test_dev_question_set_pass_rate(seeded_qa: NewsQA) -> None:
    """The calibration set: answerable ones cite gold evidence, unanswerable ones refuse."""
    rows = [json.loads(line) for line in (TEST_DATA / "seed_dev.jsonl").read_text().splitlines()]
    passed = []
    for row in rows:
        answer = seeded_qa.ask(row["question"], [tuple(h) for h in row["history"]])
        if row["answerable"]:
            cited = " ".join(c.text for c in answer.citations)
            ok = answer.answerable and any(ev in cited or cited in ev for ev in row["evidence"])
        else:
            ok = not answer.answerable
        passed.append(ok)
    rate = sum(passed) / len(passed)
    print(f"dev set pass rate: {rate:.1%} of {len(rows)}")
    assert len(rows) >= 30
    # The learned answerer (issue 11) passes 28 of 41, held within two questions.
    # The hand rules passed >= 80% here but were tuned on this very set; on the
    # external sets the learned one is far ahead (README, "Answer quality").
    assert rate >= 26 / 41


def test_cli_ask_json_and_text(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "newsqa", "--data-dir", str(tmp_path / "lib")]
    subprocess.run([*base, "ingest", str(SEEDS)], check=True, capture_output=True, timeout=300)
    out = subprocess.run(
        [*base, "ask", "What did Peskov say?", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["answerable"] and data["citations"][0]["verified"]
    text = subprocess.run(
        [*base, "ask", "What did Macron say?"], capture_output=True, text=True, timeout=300
    )
    assert "don't answer" in text.stdout
    listed = subprocess.run(
        [*base, "articles", "list"], capture_output=True, text=True, timeout=300
    )
    assert "2024-03-05" in listed.stdout and "1 articles" in listed.stdout
    article_id = listed.stdout.split()[0]
    removed = subprocess.run(
        [*base, "articles", "remove", article_id], capture_output=True, timeout=300
    )
    assert removed.returncode == 0
    gone = subprocess.run(
        [*base, "articles", "remove", article_id], capture_output=True, text=True, timeout=300
    )
    assert gone.returncode == 1 and "no article" in gone.stderr
    empty = subprocess.run([*base, "ask", "   "], capture_output=True, text=True, timeout=300)
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_contracted_question_words_are_not_names() -> None:
    from newsqa.text import names

    assert names("What's his name?") == []
    assert names("Who's Peskov?") == ["Peskov"]
