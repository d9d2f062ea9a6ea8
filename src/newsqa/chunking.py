"""Sentences and passages with exact character offsets into the article text."""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd

from newsqa.models import Article, Passage, Span

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# pysbd is rule-based and slows down more than linearly with block length (about 7 us
# per character up to 2,000 characters, 13 at 5,000, 20 at 10,000), so paragraphs
# longer than this are cut before segmentation: a 1 MB one-line article takes seconds.
_MAX_BLOCK = 2_000
# Where to cut a long paragraph, best first: after a sentence end, at a line break, at
# a space; so that a cut almost never falls inside a sentence.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s")
# Without any of these, pysbd (almost) always returns the block whole: skip it.
_BOUNDARY_CHARS = re.compile(r"[.!?…\n]")


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=False)


def _cut(text: str, start: int) -> int:
    """Where to end a block that starts at ``start`` and runs past ``_MAX_BLOCK``."""
    low, high = start + _MAX_BLOCK // 2, start + _MAX_BLOCK
    ends = list(_SENTENCE_END.finditer(text, low, high))
    if ends:
        return ends[-1].end()
    for sep in ("\n", " "):
        cut = text.rfind(sep, low, high)
        if cut > start:
            return cut + 1
    return high  # one giant "word": a hard cut is all there is


def _blocks(text: str) -> list[Span]:
    """Paragraphs (sentences never cross them), long ones cut at sentence ends or spaces."""
    blocks: list[Span] = []
    start = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = brk.start() if brk else len(text)
        while end - start > _MAX_BLOCK:
            cut = _cut(text, start)
            blocks.append(Span(start, cut))
            start = cut
        blocks.append(Span(start, end))
        if brk:
            start = brk.end()
    return blocks


def _segments(chunk: str) -> list[str]:
    if not _BOUNDARY_CHARS.search(chunk):
        return [chunk]
    return list(_segmenter().segment(chunk))


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
        for sentence in _segments(chunk):
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
            # Text the segmenter skipped (it drops e.g. "!!" in ":.!!\r0") joins this
            # sentence, so nothing is lost; a whitespace gap is trimmed away.
            span = _trim(text, block.start + cursor, block.start + found + len(piece))
            if span:
                spans.append(span)
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
        # Keep only as much overlap as leaves room for the next new sentence: a passage
        # made only of repeated sentences would be a duplicate of part of this one.
        while first <= last and sentences[last + 1].end - sentences[first].start > chunk_chars:
            first += 1
    return passages
