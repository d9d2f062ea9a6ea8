"""Files -> articles -> passages -> store, idempotently.

- An article already stored (same content id) is *unchanged* and costs nothing.
- An article whose source already holds a different version *replaces* it: the
  new version is written first, then the old one removed, so a crash in between
  never loses the article (the rerun removes the leftover).
- A file that cannot be parsed is *failed* with its reason; the batch goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from newsqa.articles import ArticleError, discover, parse_bytes_results, parse_file_results
from newsqa.chunking import chunk_article
from newsqa.models import Article, FileResult, IngestReport, Passage
from newsqa.settings import Settings
from newsqa.store import Store

# Passages per write: small enough that the progress bar moves every few seconds
# and another process waits little for the writer lock.
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
        yield str(path), parse_file_results(path, max_bytes=settings.max_file_bytes)


def ingest_paths(
    store: Store, paths: Sequence[Path], settings: Settings, *, progress: bool = False
) -> IngestReport:
    """Ingest files and folders (recursively)."""
    return ingest_parsed(store, _parsed_paths(paths, settings, progress), settings, progress)


def ingest_uploads(
    store: Store, files: Sequence[tuple[str, bytes]], settings: Settings, *, progress: bool = False
) -> IngestReport:
    """Ingest in-memory files (name, content), e.g. uploads from the app."""
    parsed = (
        (name, parse_bytes_results(data, name, f"upload:{name}", max_bytes=settings.max_file_bytes))
        for name, data in files
    )
    return ingest_parsed(store, parsed, settings, progress)


def ingest_parsed(
    store: Store,
    parsed: Iterable[tuple[str, list[Article | ArticleError]]],
    settings: Settings,
    progress: bool = False,
) -> IngestReport:
    """Plan what changes, then embed and write it in batches."""
    report = IngestReport()
    store.refresh()
    known = store.article_sources()
    planned: list[_Planned] = []
    seen: set[str] = set()
    for label, items in parsed:
        for item in items:
            if isinstance(item, ArticleError):
                report.results.append(FileResult(label, "failed", error=str(item)))
                continue
            result = FileResult(item.source, "unchanged", item.id, item.title)
            report.results.append(result)
            stale = [i for i, src in known.items() if src == item.source and i != item.id]
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


def _write(store: Store, planned: list[_Planned], progress: bool) -> None:
    total = sum(len(p.passages) for p in planned)
    with tqdm(
        total=total, desc="Embedding", unit="passage", disable=not progress or total == 0
    ) as bar:
        batch: list[_Planned] = []
        size = 0
        for item in [*planned, None]:
            if item is not None:
                batch.append(item)
                size += len(item.passages)
            if batch and (item is None or size >= WRITE_BATCH):
                try:
                    with store.writing():
                        writes = [(p.article, p.passages) for p in batch if p.passages]
                        if writes:
                            store.put(writes)
                        store.delete([i for p in batch for i in p.stale])
                except Exception as exc:  # one failed batch must not stop the rest
                    for p in batch:
                        p.result.status = "failed"
                        p.result.error = f"could not write to the store: {exc}"
                bar.update(size)
                batch, size = [], 0
