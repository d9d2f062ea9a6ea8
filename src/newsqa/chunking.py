"""Sentences and passages with exact character offsets into the article text."""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd

from newsqa.models import Article, Passage, Span

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# pysbd is rule-based and slows down badly on giant unpunctuated blocks, so
# paragraphs longer than this are cut at whitespace before segmentation.
_MAX_BLOCK = 5_000


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def _blocks(text: str) -> list[Span]:
    """Paragraphs (sentences never cross them), long ones cut at whitespace."""
    blocks: list[Span] = []
    start = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        while end - start > _MAX_BLOCK:
            cut = text.rfind(" ", start + _MAX_BLOCK // 2, start + _MAX_BLOCK)
            cut = cut if cut > start else start + _MAX_BLOCK
            blocks.append(Span(start, cut))
            start = cut
        blocks.append(Span(start, end))
        if brk:
            start = brk.end()
    return blocks


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def split_sentences(text: str) -> list[Span]:
    """Sentence spans of ``text``; ``text[s.start:s.end]`` is the sentence, trimmed.

    Offsets are found by locating each segment in the original text, so they stay
    exact whatever the segmenter does to whitespace.
    """
    spans: list[Span] = []
    for block in _blocks(text):
        chunk = text[block.start : block.end]
        if not chunk.strip():
            continue
        cursor = 0
        for sentence in _segmenter().segment(chunk):
            piece = sentence.strip()
            if not piece:
                continue
            found = chunk.find(piece, cursor)
            if found < 0:  # the segmenter altered the text; keep the rest as one span
                span = _trim(text, block.start + cursor, block.end)
                if span:
                    spans.append(span)
                cursor = len(chunk)
                break
            spans.append(Span(block.start + found, block.start + found + len(piece)))
            cursor = found + len(piece)
        rest = _trim(text, block.start + cursor, block.end)
        if rest:
            spans.append(rest)
    return spans


def chunk_article(article: Article, chunk_chars: int = 600, overlap: int = 1) -> list[Passage]:
    """Split an article into passages of whole sentences of about ``chunk_chars``.

    Consecutive passages share ``overlap`` sentences so that an answer spanning a
    passage boundary is still found in one piece.
    """
    sentences = split_sentences(article.text)
    passages: list[Passage] = []
    first = 0
    while first < len(sentences):
        last = first
        while (
            last + 1 < len(sentences)
            and sentences[last + 1].end - sentences[first].start <= chunk_chars
        ):
            last += 1
        group = tuple(sentences[first : last + 1])
        start, end = group[0].start, group[-1].end
        passages.append(
            Passage(
                article_id=article.id,
                index=len(passages),
                start=start,
                end=end,
                text=article.text[start:end],
                sentences=group,
            )
        )
        if last + 1 >= len(sentences):
            break
        first = max(first + 1, last + 1 - overlap)
    return passages
