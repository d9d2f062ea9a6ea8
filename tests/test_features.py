"""The learned answerer's inputs: question kinds, answer types, candidate rows.

These are fast (no model): the features are plain functions of text and vectors.
"""

from __future__ import annotations

import numpy as np
import pytest

from newsqa.conversation import resolve
from newsqa.features import (
    KINDS,
    QUESTION_BASE,
    QUESTION_FEATURES,
    SENTENCE_FEATURES,
    answer_type,
    candidates,
    has_answer_type,
    question_base,
    question_features,
    question_form,
    sentence_features,
)
from newsqa.models import Hit, Passage, Span


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What did Peskov say about the talks?", "quote"),
        ("How many people were killed?", "number"),
        ("How long was the recording?", "length"),
        ("When did the ceasefire start?", "time"),
        ("Who leaked the recording?", "person"),
        ("Who is Maria Zakharova?", None),
        ("Where did the officers meet?", "place"),
        ("Why was the meeting cancelled?", "reason"),
        # News quiz forms: the noun after what/which/this says what is asked for.
        ("A US embassy in what country was attacked by protesters?", "place"),
        ("This artist is the first to score a No. 1 hit across four decades.", "person"),
        ("Which company agreed to buy Twitter?", "name"),
        ("What team won the Super Bowl?", "name"),
        ("In what year did the war begin?", "time"),
    ],
)
def test_answer_type(question: str, kind: str | None) -> None:
    assert answer_type(question) == kind


def test_answer_types_in_sentences() -> None:
    assert has_answer_type("place", "Protesters stormed the embassy in Baghdad.", [])
    assert has_answer_type("person", "The song was written by Mariah Carey.", [])
    # A name the question already gives is not the answer to "who".
    assert not has_answer_type("person", "Peskov declined to comment.", ["Peskov"])
    assert has_answer_type("number", "Twenty-five people died.", [])
    assert not has_answer_type("time", "The talks went well.", [])


def _hit(
    article: str, text: str, rank_score: float, dense: float | None, vectors: np.ndarray | None
) -> Hit:
    spans: list[Span] = []
    start = 0
    for sentence in text.split(". "):
        end = start + len(sentence) + (1 if not sentence.endswith(".") else 0)
        spans.append(Span(start, min(end, len(text))))
        start = end + 1
    passage = Passage(article, 0, 0, len(text), text, tuple(spans))
    return Hit(passage, f"{article} title", "2024-03-05", "test", rank_score, dense, 1.0, vectors)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_rows_have_every_feature_and_follow_the_evidence() -> None:
    rng = np.random.default_rng(0)
    vectors = [_unit(rng, 2), _unit(rng, 2)]
    hits = [
        _hit(
            "a1",
            "Protesters attacked the US embassy in Baghdad. It was a cold day.",
            0.03,
            0.6,
            vectors[0],
        ),
        _hit("a2", "The weather was mild. Markets rose on Monday.", 0.02, None, vectors[1]),
    ]
    cands = candidates(hits)
    assert cands[0].text.startswith("Protesters attacked")
    resolved = resolve("A US embassy in what country was attacked by protesters?")
    query = vectors[0][0]  # the question "is" the first sentence, as far as MiniLM goes
    rows, view = sentence_features(resolved, cands, query)
    assert rows.shape == (4, len(SENTENCE_FEATURES))
    assert np.isfinite(rows).all()
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    assert view.kind == "place"
    assert rows[0, col["dense"]] == pytest.approx(1.0, abs=1e-5)
    assert rows[0, col["lexical"]] > rows[2, col["lexical"]]
    assert rows[0, col["type_ok"]] == 1.0 and rows[0, col["type_ok_place"]] == 1.0
    assert rows[1, col["type_ok"]] == 0.0
    assert rows[0, col[f"kind_{KINDS[KINDS.index('place')]}"]] == 1.0
    # A BM25-only hit has no passage cosine: its best sentence's stands in.
    assert rows[2, col["passage_dense"]] == pytest.approx(max(rows[2:, col["dense"]]), abs=1e-5)

    base = question_base(view, rows, hits)
    assert base.shape == (len(QUESTION_BASE),)
    logits = np.array([2.0, -1.0, -2.0, -3.0])
    qrow = question_features(base, question_form(resolved.standalone), rows, logits)
    assert qrow.shape == (len(QUESTION_FEATURES),)
    assert qrow[0] == 2.0 and qrow[2] == pytest.approx(3.0)  # top, margin


def test_overlapping_passages_share_candidates() -> None:
    text = "One sentence here. Another sentence there."
    rng = np.random.default_rng(1)
    first = _hit("a1", text, 0.03, 0.5, _unit(rng, 2))
    again = _hit("a1", text, 0.02, 0.4, None)
    cands = candidates([first, again])
    assert len(cands) == 2 and all(c.rank == 0 for c in cands)
