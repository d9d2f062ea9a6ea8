"""Sentences and passages with exact character offsets into the article text.

Sentences come from nupunkt (Punkt, the unsupervised sentence-boundary method,
with a model trained on legal and news text; pure Python, no dependencies). It
replaced pysbd in issue 12: ~50x faster, which takes the splitter off ingest's
critical path, and better on hand-labelled news boundaries (abbreviations,
initials, quotes) and on hard-wrapped newswire, where pysbd ended a "sentence" at
every line end. ``benchmarks/splitters.py`` has the comparison, with blingfire,
syntok, sentencex and spaCy's sentence recognizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import nupunkt

from newsqa.models import Article, Passage, Span

Segmenter = Callable[[str], Sequence[str]]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_LINE_BREAK = re.compile(r"\n\s*")
# Paragraphs longer than this are cut before segmentation, so that the work per call
# stays bounded whatever a file holds (one line of a megabyte). nupunkt is linear
# (~0.7 M characters/s here): news paragraphs never come near it.
_MAX_BLOCK = 10_000
# Where to cut a long paragraph, best first: after a sentence end, at a line break, at
# a space; so that a cut almost never falls inside a sentence.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s")
# Without any of these, a block is one sentence: skip the splitter.
_BOUNDARY_CHARS = re.compile(r"[.!?…\n]")


def _punkt(chunk: str) -> list[str]:
    return [chunk[start:end] for start, end in nupunkt.sent_spans(chunk)]


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


def paragraph_blocks(text: str, lines: bool = False) -> list[Span]:
    """Paragraphs (sentences never cross them), long ones cut at sentence ends or spaces.

    ``lines``: every line is a paragraph (for text where a line break ends a sentence,
    such as a model's answer with list items; in articles it need not: newswire wraps
    its lines mid-sentence).
    """
    blocks: list[Span] = []
    start = 0
    breaks = _LINE_BREAK if lines else _PARAGRAPH_BREAK
    for brk in [*breaks.finditer(text), None]:
        end = brk.start() if brk else len(text)
        while end - start > _MAX_BLOCK:
            cut = _cut(text, start)
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


def split_sentences(
    text: str, segment: Segmenter | None = None, *, lines: bool = False
) -> list[Span]:
    """Sentence spans of ``text``; ``text[s.start:s.end]`` is the sentence, trimmed.

    ``segment`` splits one paragraph into sentence strings (default: newsqa's
    splitter). Offsets are found by locating each of its sentences in the original
    text, so they stay exact whatever it does to whitespace. ``lines``: a line break
    always ends a sentence (see :func:`paragraph_blocks`).
    """
    segment = segment or _punkt
    spans: list[Span] = []
    for block in paragraph_blocks(text, lines):
        chunk = text[block.start : block.end]
        if not chunk.strip():
            continue
        cursor = 0
        # Without a sentence-ending character, every splitter returns the block whole.
        sentences = segment(chunk) if _BOUNDARY_CHARS.search(chunk) else [chunk]
        for sentence in sentences:
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
