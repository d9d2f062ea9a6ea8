"""Sentences and passages keep exact offsets into the article text."""

from __future__ import annotations

import itertools

from newsqa.articles import parse_file
from newsqa.chunking import chunk_article, split_sentences
from newsqa.models import Article

from .conftest import SEED_FILE


def test_sentences_of_the_seed_map_back_exactly() -> None:
    article = parse_file(SEED_FILE)[0]
    spans = split_sentences(article.text)
    assert len(spans) >= 30
    for span in spans:
        piece = article.text[span.start : span.end]
        assert piece == piece.strip() and piece
    texts = [article.text[s.start : s.end] for s in spans]
    assert (
        "The 38-minute recording has German military officers talking about how Kyiv could use Taurus missiles against Russian forces."
        in texts
    )
    assert (
        texts[-1]
        == '"We want to know what the investigation found," said spokesperson Dmitry Peskov.'
    )


def test_passages_cover_every_sentence_with_overlap() -> None:
    article = parse_file(SEED_FILE)[0]
    passages = chunk_article(article, chunk_chars=600, overlap=1)
    sentences = split_sentences(article.text)
    covered = {s for p in passages for s in p.sentences}
    assert covered == set(sentences)
    for before, after in itertools.pairwise(passages):
        assert before.sentences[-1] == after.sentences[0]  # one sentence of overlap
    for p in passages:
        assert p.text == article.text[p.start : p.end]
        assert len(p.text) <= 600 or len(p.sentences) == 1
        assert p.id == f"{article.id}:{p.index:05d}"


def test_long_unpunctuated_text_is_cut_and_still_exact() -> None:
    text = ("word " * 4_000).strip() + ". Final sentence here."
    article = Article(text=text, title="t", date=None, source="s")
    passages = chunk_article(article, chunk_chars=600, overlap=0)
    assert passages[-1].text.endswith("Final sentence here.")
    for p in passages:
        assert p.text == text[p.start : p.end]
