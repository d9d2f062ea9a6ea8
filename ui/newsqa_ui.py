"""Presentation helpers for the Streamlit app (no Streamlit calls, so they test in isolation).

Everything that comes from an article (title, source, passage text, the answer's
quoted sentences) or from a user (questions, file names) is untrusted. It reaches
the page only in one of two ways:

- as HTML built here, where every piece is passed through :func:`html.escape`
  (and rendered with ``st.html``, which also sanitises and never runs markdown), or
- through :func:`escape_markdown` before it goes into a markdown-rendering widget
  (``st.markdown``, ``st.info``, ``st.error``...).

The app itself never decides what an answer is: it calls the public ``newsqa`` API
and turns :class:`~newsqa.models.Answer` / :class:`~newsqa.models.FileResult`
objects into what the user sees.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date as _date
from typing import Protocol
from urllib.parse import urlparse

from newsqa.dates import with_dates
from newsqa.errors import NewsQAError
from newsqa.models import Answer, Citation, FileResult, IngestReport
from newsqa.store import ArticleInfo
from newsqa.text import MARKER, plural

log = logging.getLogger("newsqa.app")

# Every ASCII punctuation character may be backslash-escaped in CommonMark, and
# escaping them all also defuses Streamlit's own extensions (":red[...]",
# ":material/icon:", "$latex$"), which plain markdown escaping would miss.
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")

EXAMPLE_QUESTIONS: tuple[str, ...] = (
    "What did Peskov say?",
    "How long was the recording?",
    "Who is Maria Zakharova?",
)
UPLOAD_TYPES: tuple[str, ...] = ("txt", "md", "html", "htm", "json", "jsonl")


def escape_markdown(text: str) -> str:
    """``text`` made inert for Streamlit markdown: it renders exactly as written."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def describe_error(exc: Exception, doing: str) -> str:
    """A user-facing message for an exception; the traceback goes to the server log only."""
    if isinstance(exc, NewsQAError):  # expected: its message says what to do
        return f"The library could not be {doing}: {exc}"
    log.error("unexpected error while %s", doing, exc_info=exc)
    return (
        f"Something went wrong ({type(exc).__name__}: {exc}). "
        "Details are in the server log; please try again."
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def format_date(iso: str | None) -> str:
    """``"2024-03-05"`` -> ``"5 Mar 2024"``; ``"undated"`` when there is none."""
    if not iso:
        return "undated"
    try:
        day = _date.fromisoformat(iso)
    except ValueError:
        return iso  # show what the store holds rather than hide it
    return f"{day.day} {day:%b %Y}"


def describe_source(source: str) -> str:
    """A short human label for where an article came from."""
    if source.startswith("upload:"):
        return f"uploaded file {source.removeprefix('upload:')}"
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return parsed.netloc
    return source.rsplit("/", 1)[-1] or source


def article_label(info: ArticleInfo, width: int = 70) -> str:
    """Plain-text label for pickers: title (shortened) and date."""
    title = info.title if len(info.title) <= width else info.title[: width - 1].rstrip() + "…"
    return f"{title} · {format_date(info.date)}"


# -- answers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of passage text; ``cited`` runs are highlighted."""

    text: str
    cited: bool


@dataclass(frozen=True)
class SourceCard:
    """One passage shown under an answer, with the sentences the answer cites in it."""

    numbers: tuple[int, ...]
    title: str
    date: str | None
    source: str
    segments: tuple[Segment, ...]
    starts_mid_article: bool
    ends_mid_article: bool
    verified: bool
    also_reported: tuple[str, ...] = ()  # other copies of the story: "outlet, 5 Mar 2024"


def _segments(passage: str, offset: int, spans: Sequence[tuple[int, int]]) -> tuple[Segment, ...]:
    """Split ``passage`` (which starts at article offset ``offset``) into plain/cited runs."""
    out: list[Segment] = []
    pos = 0
    for start, end in sorted(spans):
        s = max(start - offset, pos)
        e = min(end - offset, len(passage))
        if e <= s:
            continue  # outside this passage, or inside a span already highlighted
        if s > pos:
            out.append(Segment(passage[pos:s], False))
        out.append(Segment(passage[s:e], True))
        pos = e
    if pos < len(passage):
        out.append(Segment(passage[pos:], False))
    return tuple(out)


def build_source_cards(
    answer: Answer, article_text: Callable[[str], str | None]
) -> list[SourceCard]:
    """One card per cited passage, in citation order.

    Citations that fall in the same passage share a card (both sentences
    highlighted), so a two-sentence answer from one paragraph does not show that
    paragraph twice. The passage text is read from the stored article at the
    citation's offsets; if the article has gone (removed meanwhile), the card falls
    back to the cited sentence alone rather than showing nothing.
    """
    if not answer.answerable:
        return []
    groups: dict[tuple[str, int, int], list[Citation]] = {}
    for citation in sorted(answer.citations, key=lambda c: c.n):
        key = (citation.article_id, citation.passage_start, citation.passage_end)
        groups.setdefault(key, []).append(citation)
    texts: dict[str, str | None] = {}
    cards: list[SourceCard] = []
    for (article_id, p_start, p_end), cites in groups.items():
        if article_id not in texts:
            texts[article_id] = article_text(article_id)
        text = texts[article_id]
        first = cites[0]
        spans = [(c.start, c.end) for c in cites]
        valid = text is not None and 0 <= p_start < p_end <= len(text)
        if text is not None and valid:
            segments = _segments(text[p_start:p_end], p_start, spans)
            segments = _with_resolved_dates(segments, p_start, cites)
            head, tail = p_start > 0, p_end < len(text)
        else:
            segments = tuple(Segment(with_dates(c.text, c.start, c.dates), True) for c in cites)
            head = tail = True
        cards.append(
            SourceCard(
                numbers=tuple(c.n for c in cites),
                title=first.title,
                date=first.date,
                source=first.source,
                segments=segments,
                starts_mid_article=head,
                ends_mid_article=tail,
                verified=all(c.verified for c in cites),
                also_reported=_also_reported(cites),
            )
        )
    return cards


def _with_resolved_dates(
    segments: tuple[Segment, ...], offset: int, cites: Sequence[Citation]
) -> tuple[Segment, ...]:
    """Cited runs with each relative date followed by the date it means:
    "On Monday (4 March 2024)" (issue 13)."""
    spans = [d for c in cites for d in c.dates]
    if not spans:
        return segments
    out: list[Segment] = []
    for segment in segments:
        text = with_dates(segment.text, offset, spans) if segment.cited else segment.text
        out.append(Segment(text, segment.cited))
        offset += len(segment.text)
    return tuple(out)


def _also_reported(cites: Sequence[Citation]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for c in cites:
        for copy in c.also_reported:
            seen.setdefault(copy.article_id, f"{copy.outlet}, {format_date(copy.date)}")
    return tuple(seen.values())


def answer_html(text: str, numbers: Sequence[int]) -> str:
    """The answer text, escaped, with its ``[n]`` markers styled as citation badges.

    Only markers that match a citation become badges; a "[3]" quoted from an article
    was made inert by the answerer (``newsqa.text.inert_markers``) and stays text.
    """
    known = set(numbers)

    def badge(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in known:
            return match.group(0)
        return f'<span class="nqa-ref" title="Source {n}">[{n}]</span>'

    # Escaping first is safe: html.escape never touches brackets or digits.
    return f'<div class="nqa-answer">{MARKER.sub(badge, _e(text))}</div>'


def _source_html(source: str) -> str:
    label = _e(describe_source(source))
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        # Only http(s) becomes a link: a "javascript:" or "data:" source never does.
        return (
            f'<a href="{_e(source)}" target="_blank" rel="noopener noreferrer nofollow">{label}</a>'
        )
    return f'<span title="{_e(source)}">{label}</span>'


def source_card_html(card: SourceCard) -> str:
    """One source card: numbers, title, date · source, passage with highlights."""
    numbers = "".join(f'<span class="nqa-num">{n}</span>' for n in card.numbers)
    passage = "".join(
        f'<mark class="nqa-hl">{_e(s.text)}</mark>' if s.cited else _e(s.text)
        for s in card.segments
    )
    if card.starts_mid_article:
        passage = "… " + passage
    if card.ends_mid_article:
        passage += " …"
    warning = (
        ""
        if card.verified
        else '<span class="nqa-unverified">not verified against the stored text</span>'
    )
    also = (
        f'<div class="nqa-also">Also reported by {_e("; ".join(card.also_reported))}</div>'
        if card.also_reported
        else ""
    )
    return (
        '<div class="nqa-card">'
        f'<div class="nqa-card-head">{numbers}<span class="nqa-title">{_e(card.title)}</span></div>'
        f'<div class="nqa-meta">{_e(format_date(card.date))} · {_source_html(card.source)}'
        f"{warning}</div>"
        f'<div class="nqa-passage">{passage}</div>'
        f"{also}"
        "</div>"
    )


def sources_html(cards: Sequence[SourceCard]) -> str:
    """All source cards of an answer under a small "Sources" heading."""
    label = "Source" if len(cards) == 1 else f"Sources ({len(cards)})"
    body = "".join(source_card_html(c) for c in cards)
    return f'<div class="nqa-sources"><div class="nqa-sources-label">{label}</div>{body}</div>'


def disagreement_note(answer: Answer) -> str:
    """The "sources differ" note shown above an answer whose sources report different
    values (plain text: escape it for markdown); empty when they agree."""
    if not answer.disagreement:
        return ""
    said = "; ".join(
        f"{r.value} ({r.outlet}, {format_date(r.date)}) [{r.n}]" for r in answer.disagreement
    )
    return f"Sources differ: {said}. Check each source below."


def answer_caption(answer: Answer) -> str:
    """A one-line, plain-text note under an answer: time, and how a follow-up was read."""
    parts: list[str] = []
    total = answer.timings.get("total")
    if total is not None:
        parts.append(f"answered in {total:.2f} s")
    if answer.mode != "extractive":
        parts.append(f"{answer.mode} mode")
    standalone = answer.standalone_question
    if standalone and standalone.strip() != answer.question.strip():
        parts.append(f"read as “{standalone}”")
    return " · ".join(parts)


# -- library ---------------------------------------------------------------------------


def by_story(articles: Sequence[ArticleInfo]) -> list[list[ArticleInfo]]:
    """Articles grouped by story (wire copies together), in the order of each story's
    first article; within a story, the list's order."""
    groups: dict[str, list[ArticleInfo]] = {}
    for a in articles:
        groups.setdefault(a.story or a.id, []).append(a)
    return list(groups.values())


def library_html(articles: Sequence[ArticleInfo]) -> str:
    """The article list for the sidebar: title, date and passage count per article;
    the other copies of a story listed under its first article."""
    rows = []
    for first, *copies in by_story(articles):
        also = "".join(
            f'<div class="nqa-lib-copy" title="{_e(c.title)}">also {_e(describe_source(c.source))}'
            f" · {_e(format_date(c.date))}</div>"
            for c in copies
        )
        rows.append(
            '<li class="nqa-lib-item">'
            f'<div class="nqa-lib-title" title="{_e(first.title)}">{_e(first.title)}</div>'
            f'<div class="nqa-lib-meta">{_e(format_date(first.date))} · '
            f"{plural(first.passages, 'passage')} · "
            f'<span title="{_e(first.source)}">{_e(describe_source(first.source))}</span></div>'
            f"{also}</li>"
        )
    return f'<ul class="nqa-lib">{"".join(rows)}</ul>'


def library_summary(articles: int, passages: int) -> str:
    """``"2,226 articles · 12,031 passages"``."""
    return f"{plural(articles, 'article')} · {plural(passages, 'passage')}"


def page_label(first: int, last: int, matches: int, total: int) -> str:
    """Where a library page sits: ``"11–20 of 2,226"``, or of how many matches."""
    of = f"{matches:,}" if matches == total else f"{matches:,} matches"
    return f"{first:,}–{last:,} of {of}" if last > first else f"{first:,} of {of}"


class Library(Protocol):
    """The part of :class:`newsqa.NewsQA` the upload handler needs."""

    def ingest_files(
        self, files: Sequence[tuple[str, bytes]], *, progress: bool = False
    ) -> IngestReport: ...


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one uploaded file (or one record of a JSON/JSONL file)."""

    file_name: str
    result: FileResult

    @property
    def failed(self) -> bool:
        return self.result.status == "failed"


@dataclass
class UploadOutcome:
    """Per-file results of one upload, in the order the files were given."""

    results: list[FileOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FileOutcome]:
        return [r for r in self.results if r.failed]

    @property
    def stored(self) -> list[FileOutcome]:
        return [r for r in self.results if not r.failed]


def ingest_uploads(
    qa: Library,
    files: Sequence[tuple[str, bytes]],
    *,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> UploadOutcome:
    """Ingest uploaded files one at a time, reporting progress before each.

    One ``ingest_files`` call per file, so the progress bar moves, each result is
    tied to the file it came from (a result's ``source`` may be the article's own
    ``source:`` field instead), and a question from another browser tab waits for
    at most one file rather than the whole batch. A failure that escapes
    ``ingest_files`` (it reports parse errors itself) becomes a failed result for
    that file so the rest still go in.
    """
    outcome = UploadOutcome()
    total = len(files)
    for i, (name, data) in enumerate(files):
        if on_progress is not None:
            on_progress(i, total, name)
        try:
            report = qa.ingest_files([(name, data)])
            outcome.results.extend(FileOutcome(name, r) for r in report.results)
        except Exception as exc:  # shown to the user as that file's error
            error = f"{type(exc).__name__}: {exc}"
            outcome.results.append(FileOutcome(name, FileResult(name, "failed", error=error)))
    if on_progress is not None:
        on_progress(total, total, "")
    return outcome


def result_line(outcome: FileOutcome) -> str:
    """One plain-text line describing what happened to an uploaded file or record."""
    result, name = outcome.result, outcome.file_name
    # JSON/JSONL records carry "#<record>" in their source; name the record too.
    record = result.source.rsplit("#", 1)[-1] if "#" in result.source else ""
    if record.isdigit():
        name = f"{name}, record {record}"
    if result.status == "failed":
        return f"{name}: {result.error or 'could not be read'}"
    title = f"“{result.title}”" if result.title else "untitled article"
    if result.status == "added":
        return f"Added {title} ({plural(result.passages, 'passage')}) from {name}"
    if result.status == "replaced":
        return f"Updated {title} from {name} (replaces the earlier version)"
    return f"Already in the library: {title} ({name})"


CSS = """
<style>
.nqa-answer { font-size: 1rem; line-height: 1.6; white-space: pre-line; }
.nqa-ref {
  display: inline-block; margin-left: 0.15rem; padding: 0 0.3rem; border-radius: 0.4rem;
  font-size: 0.75rem; font-weight: 600; line-height: 1.3rem; vertical-align: 0.1rem;
  color: #1d4ed8; background: rgba(59, 130, 246, 0.12);
}
.nqa-sources { margin-top: 0.75rem; }
.nqa-sources-label {
  font-size: 0.72rem; font-weight: 600; letter-spacing: 0.06em; text-transform: uppercase;
  opacity: 0.6; margin-bottom: 0.35rem;
}
.nqa-card {
  border: 1px solid rgba(49, 51, 63, 0.14); border-radius: 0.6rem;
  padding: 0.7rem 0.9rem; margin-bottom: 0.55rem; background: rgba(248, 250, 252, 0.75);
}
.nqa-card-head { display: flex; gap: 0.45rem; align-items: baseline; }
.nqa-num {
  flex: none; min-width: 1.3rem; text-align: center; border-radius: 0.4rem;
  font-size: 0.75rem; font-weight: 700; color: #1d4ed8; background: rgba(59, 130, 246, 0.12);
}
.nqa-title { font-weight: 600; line-height: 1.35; }
.nqa-meta { font-size: 0.8rem; opacity: 0.65; margin: 0.15rem 0 0.45rem 0; }
.nqa-meta a { color: inherit; }
.nqa-unverified { margin-left: 0.5rem; color: #b45309; font-weight: 600; }
.nqa-passage { font-size: 0.9rem; line-height: 1.55; white-space: pre-line; opacity: 0.92; }
mark.nqa-hl {
  background: rgba(250, 204, 21, 0.45); color: inherit; padding: 0.05rem 0.1rem;
  border-radius: 0.2rem;
}
/* Streamlit indents lists in markdown/html containers; a library list should not be. */
ul.nqa-lib { list-style: none; padding: 0 !important; margin: 0 !important; }
li.nqa-lib-item {
  margin: 0 !important; padding: 0.45rem 0; border-bottom: 1px solid rgba(49, 51, 63, 0.08);
}
li.nqa-lib-item:last-child { border-bottom: none; }
.nqa-lib-title {
  font-size: 0.88rem; font-weight: 600; line-height: 1.3; display: -webkit-box;
  -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden;
}
.nqa-lib-meta { font-size: 0.76rem; opacity: 0.65; margin-top: 0.1rem; }
.nqa-lib-copy, .nqa-also { font-size: 0.74rem; opacity: 0.65; margin-top: 0.1rem; }
.nqa-lib-copy { padding-left: 0.8rem; }
</style>
"""
