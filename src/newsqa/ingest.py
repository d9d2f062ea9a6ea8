"""Files -> articles -> passages -> store, idempotently.

- An article already stored (same content id) is *unchanged* and costs nothing.
- An article whose origin (file, upload or record) held a different version
  *replaces* it: the
  new version is written first, then the old one removed, so a crash in between
  never loses the article (the rerun removes the leftover).
- A file that cannot be parsed is *failed* with its reason; the batch goes on.
- A write the store refuses (disk full, server down) fails its batch and every
  batch after it with the store's reason: what was written before stays intact.

Passages are embedded before the writer lock is taken, so a long ingest holds the
lock only for the short database writes and readers (the app) barely wait; and a
writer thread stores each batch while the next one is embedded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from newsqa.articles import ArticleError, discover, parse_bytes_results, parse_file_results
from newsqa.chunking import chunk_article
from newsqa.models import Article, FileResult, IngestReport, Passage
from newsqa.settings import Settings
from newsqa.store import PreparedBatch, Store, StoreError

# Passages per write: small enough that the progress bar moves every few seconds
# and a killed ingest loses little work.
WRITE_BATCH = 128


@dataclass
class _Planned:
    article: Article
    passages: list[Passage]
    stale: list[str]  # ids of older versions from the same source
    result: FileResult


def _parsed_paths(
    paths: Sequence[Path], settings: Settings, progress: bool
) -> Iterable[tuple[str, list[Article | ArticleError]]]:
    files, errors = discover(paths)
    for path, error in errors:
        yield path, [ArticleError(error)]
    for path in tqdm(files, desc="Reading", unit="file", disable=not progress or len(files) < 2):
        # The absolute path is the origin, whichever way the folder was named.
        yield str(path.absolute()), parse_file_results(path, max_bytes=settings.max_file_bytes)


def ingest_paths(
    store: Store, paths: Sequence[Path], settings: Settings, *, progress: bool = False
) -> IngestReport:
    """Ingest files and folders (recursively)."""
    return ingest_parsed(store, _parsed_paths(paths, settings, progress), settings, progress)


def printable(name: str) -> str:
    """``name`` with control characters escaped, safe to print in a terminal or the app."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)


def upload_name_error(name: str) -> str | None:
    """Why ``name`` is not acceptable as an uploaded file's name, or None.

    Uploads are never written to disk, but their names become article sources and are
    shown back to users: a path or a terminal escape sequence has no business there.
    """
    if not name.strip():
        return "the upload has no file name"
    if any(not ch.isprintable() for ch in name):
        return "file name contains control characters"
    if "/" in name or "\\" in name or name in (".", ".."):
        return "file name contains a path separator; give the file's name only"
    return None


def ingest_uploads(
    store: Store, files: Sequence[tuple[str, bytes]], settings: Settings, *, progress: bool = False
) -> IngestReport:
    """Ingest in-memory files (name, content), e.g. uploads from the app."""

    def parse(name: str, data: bytes) -> list[Article | ArticleError]:
        if error := upload_name_error(name):
            return [ArticleError(error)]
        return parse_bytes_results(data, name, f"upload:{name}", max_bytes=settings.max_file_bytes)

    parsed = ((printable(name), parse(name, data)) for name, data in files)
    return ingest_parsed(store, parsed, settings, progress)


def _too_long(article: Article, settings: Settings) -> ArticleError | None:
    # A news article is a few thousand words; megabytes of text in one "article" would
    # take minutes to segment and embed (thousands of passages), so it is refused.
    limit = settings.max_article_chars
    if len(article.text) <= limit:
        return None
    return ArticleError(
        f"article text is {len(article.text):,} characters, over the {limit:,} limit "
        "(NEWSQA_MAX_ARTICLE_CHARS)"
    )


def ingest_parsed(
    store: Store,
    parsed: Iterable[tuple[str, list[Article | ArticleError]]],
    settings: Settings,
    progress: bool = False,
) -> IngestReport:
    """Plan what changes, then embed and write it in batches."""
    report = IngestReport()
    store.refresh()
    known = store.article_origins()
    planned: list[_Planned] = []
    seen: set[str] = set()
    for label, items in parsed:
        for item in items:
            if isinstance(item, Article):
                # One article per file: the file is its origin. Records of a JSON file
                # keep theirs (their URL, or "path#n").
                item = replace(item, origin=label) if len(items) == 1 else item
            if isinstance(item, ArticleError):
                report.results.append(FileResult(label, "failed", error=str(item)))
                continue
            if error := _too_long(item, settings):  # named by source: may be one record
                report.results.append(FileResult(item.source, "failed", error=str(error)))
                continue
            result = FileResult(item.source, "unchanged", item.id, item.title)
            report.results.append(result)
            stale = [i for i, origin in known.items() if origin == item.origin and i != item.id]
            if item.id in seen or (item.id in known and not stale):
                continue
            seen.add(item.id)
            result.status = "replaced" if stale else "added"
            passages = (
                []
                if item.id in known
                else chunk_article(item, settings.chunk_chars, settings.chunk_overlap_sentences)
            )
            result.passages = len(passages)
            planned.append(_Planned(item, passages, stale, result))
    _write(store, planned, progress)
    return report


def _batches(planned: list[_Planned]) -> Iterable[list[_Planned]]:
    """Whole articles, about WRITE_BATCH passages at a time (an article is never split)."""
    batch: list[_Planned] = []
    size = 0
    for item in planned:
        batch.append(item)
        size += len(item.passages)
        if size >= WRITE_BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _write(store: Store, planned: list[_Planned], progress: bool) -> None:
    """Embed batch after batch while a writer thread stores the one before.

    The model keeps both cores busy; Chroma's writes (and the writer lock) then cost
    almost no wall time instead of ~6% of it. At most one batch waits to be written.
    """
    total = sum(len(p.passages) for p in planned)
    failure: str | None = None  # set once the store refused a write
    writing: tuple[list[_Planned], Future[None]] | None = None

    def settle(bar: tqdm[Any]) -> None:
        """Wait for the batch being written and record how it went."""
        nonlocal failure, writing
        if writing is None:
            return
        batch, future = writing
        writing = None
        try:
            future.result()
        except StoreError as exc:
            # Disk full, read-only, server gone: later batches would fail the same way.
            failure = f"could not write to the store: {exc}"
            _fail(batch, failure)
        except Exception as exc:
            _fail(batch, f"could not write: {type(exc).__name__}: {exc}")
        bar.update(sum(len(p.passages) for p in batch))

    with (
        tqdm(
            total=total, desc="Embedding", unit="passage", disable=not progress or total == 0
        ) as bar,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsqa-writer") as writer,
    ):
        for batch in _batches(planned):
            if failure is not None:
                _fail(batch, failure)
                bar.update(sum(len(p.passages) for p in batch))
                continue
            try:
                prepared = _prepare(store, batch)
            except StoreError as exc:
                settle(bar)
                failure = failure or f"could not read the store: {exc}"
                _fail(batch, failure)
                continue
            except Exception as exc:  # e.g. the embedder failed: the rest may still go
                settle(bar)
                _fail(batch, f"could not embed: {type(exc).__name__}: {exc}")
                continue
            settle(bar)
            if failure is not None:
                _fail(batch, failure)
                continue
            writing = (batch, writer.submit(_put, store, batch, prepared))
        settle(bar)


def _prepare(store: Store, batch: list[_Planned]) -> PreparedBatch | None:
    """Embed what the batch adds (slow; no lock held)."""
    # Another process may have written some of these since we planned (two ingests of
    # overlapping folders): skip those rather than embed them again.
    store.refresh()
    done = store.existing([p.article.id for p in batch if p.passages])
    for p in batch:
        if p.article.id in done and not p.stale:
            p.result.status, p.result.passages, p.passages = "unchanged", 0, []
    writes = [(p.article, p.passages) for p in batch if p.passages]
    return store.prepare(writes) if writes else None


def _put(store: Store, batch: list[_Planned], prepared: PreparedBatch | None) -> None:
    """Write one embedded batch under the writer lock (runs on the writer thread)."""
    with store.writing():
        if prepared is not None:
            store.put(prepared)
        store.delete([i for p in batch for i in p.stale])
        # Passages left by an ingest killed before it wrote their article record.
        store.delete_orphans(sorted({p.article.origin for p in batch}))


def _fail(batch: list[_Planned], error: str) -> None:
    for p in batch:
        if p.result.status == "unchanged":  # found already written by another process
            continue
        p.result.status = "failed"
        p.result.error = error
        p.result.passages = 0
