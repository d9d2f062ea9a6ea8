"""Every citation is checked against the stored article text before it is shown.

A citation is *verified* when ``article.text[start:end] == citation.text``. An
unverifiable citation is dropped with its ``[n]`` marker; an answer left with no
verified citation becomes a refusal, so nothing unsupported is ever shown as sourced.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from newsqa.answering import refusal
from newsqa.lexicon import SPACED_MARKER
from newsqa.models import Answer, Citation

ArticleText = Callable[[str], str | None]


def verify(citation: Citation, article_text: str | None) -> bool:
    """True when the cited text is exactly the article's text at the cited offsets."""
    if article_text is None:
        return False
    if not (0 <= citation.start < citation.end <= len(article_text)):
        return False
    return article_text[citation.start : citation.end] == citation.text


def verify_answer(answer: Answer, article_text: ArticleText) -> Answer:
    """Mark each citation verified or drop it (and its marker); renumber the rest."""
    if not answer.citations:
        return answer
    texts: dict[str, str | None] = {}
    kept: list[Citation] = []
    renumber: dict[int, int] = {}
    for citation in answer.citations:
        if citation.article_id not in texts:
            texts[citation.article_id] = article_text(citation.article_id)
        citation.verified = verify(citation, texts[citation.article_id])
        if citation.verified:
            renumber[citation.n] = len(kept) + 1
            kept.append(citation)

    def remark(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f" [{renumber[n]}]" if n in renumber else ""

    # Only the answerer's own markers match: "[n]" quoted from an article is inert.
    text = SPACED_MARKER.sub(remark, answer.text).strip()
    for citation in kept:
        citation.n = renumber[citation.n]
    reported = [r for r in answer.disagreement if r.n in renumber]
    for r in reported:
        r.n = renumber[r.n]
    answer.disagreement = reported if len(reported) > 1 else []
    if answer.answerable and not kept:
        out = refusal(answer.question, "no citation could be verified against the articles")
        out.mode, out.generation, out.timings = answer.mode, answer.generation, answer.timings
        return out
    answer.text = text
    answer.citations = kept
    return answer
