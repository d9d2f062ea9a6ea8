"""Files -> articles -> passages -> store, idempotently.

- An article already stored (same content id) is *unchanged* and costs nothing.
- An article whose origin (file, upload or record) held a different version
  *replaces* it: the
  new version is written first, then the old one removed, so a crash in between
  never loses the article (the rerun removes the leftover).
- A file that cannot be parsed is *failed* with its reason; the batch goes on.
- A write the store refuses (disk full, server down) fails its batch and every
  batch after it with the store's reason: what was written before stays intact.

Passages are embedded here, before the writer lock is taken, so a long ingest
holds the lock only for the short database writes and readers (the app) barely
wait; and a worker thread writes each batch and chunks the next while one is
embedded. One forward pass per passage gives its vector and its sentences'
vectors (see :mod:`newsqa.embeddings`); an article's vector is the mean of its
passages' (embedding titles too cost ~16% more model time, for nothing queried).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from newsqa import dates, stories
from newsqa.articles import ArticleError, discover, parse_bytes_results, parse_file_results
from newsqa.chunking import chunk_article
from newsqa.embeddings import MiniLMEmbeddings
from newsqa.errors import DamagedIndexError
from newsqa.models import Article, FileResult, IngestReport, Passage
from newsqa.runtime import release_free_memory
from newsqa.settings import Settings
from newsqa.store import EmbeddedArticle, Store, StoreError
from newsqa.stories import StoryIndex

Batch = list[EmbeddedArticle]
TRIM_EVERY = 128  # passages embedded between handing freed memory back (see _write)


@dataclass
class _Planned:
    article: Article
    stale: list[str]  # ids of older versions from the same source
    result: FileResult
    new: bool  # its content is not stored yet: chunk, embed and write it
    passages: list[Passage] = field(default_factory=list)
    signature: np.ndarray | None = None  # MinHash, to find its wire copies (stories)


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
    store: Store,
    embeddings: MiniLMEmbeddings,
    paths: Sequence[Path],
    settings: Settings,
    *,
    progress: bool = False,
    story_index: StoryIndex | None = None,
) -> IngestReport:
    """Ingest files and folders (recursively)."""
    parsed = _parsed_paths(paths, settings, progress)
    return ingest_parsed(store, embeddings, parsed, settings, progress, story_index)


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
    store: Store,
    embeddings: MiniLMEmbeddings,
    files: Sequence[tuple[str, bytes]],
    settings: Settings,
    *,
    progress: bool = False,
    story_index: StoryIndex | None = None,
) -> IngestReport:
    """Ingest in-memory files (name, content), e.g. uploads from the app."""

    def parse(name: str, data: bytes) -> list[Article | ArticleError]:
        if error := upload_name_error(name):
            return [ArticleError(error)]
        return parse_bytes_results(data, name, f"upload:{name}", max_bytes=settings.max_file_bytes)

    parsed = ((printable(name), parse(name, data)) for name, data in files)
    return ingest_parsed(store, embeddings, parsed, settings, progress, story_index)


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
    embeddings: MiniLMEmbeddings,
    parsed: Iterable[tuple[str, list[Article | ArticleError]]],
    settings: Settings,
    progress: bool = False,
    story_index: StoryIndex | None = None,
) -> IngestReport:
    """Plan what changes, then embed and write it in batches.

    ``story_index``: the library's story index, kept by a long-lived caller
    (``NewsQA``); without one, it is loaded from its cache for this ingest.
    """
    report = IngestReport()
    # One article per file: the file is its origin. Records of a JSON file keep theirs
    # (their URL, or "path#n").
    read = [
        (
            label,
            [
                replace(i, origin=label) if isinstance(i, Article) and len(items) == 1 else i
                for i in items
            ],
        )
        for label, items in parsed
    ]
    articles = [i for _, items in read for i in items if isinstance(i, Article)]

    def stored() -> dict[str, str]:
        store.refresh()
        return store.article_origins([a.id for a in articles], [a.origin for a in articles])

    try:
        known = stored()
    except DamagedIndexError:
        # A kill while Chroma saved its index: rebuild it, then go on with the ingest.
        repair(store, embeddings, progress)
        known = stored()
    by_origin: dict[str, list[str]] = {}
    for article_id, origin in known.items():
        by_origin.setdefault(origin, []).append(article_id)
    planned: list[_Planned] = []
    seen: set[str] = set()
    for label, items in read:
        for item in items:
            if isinstance(item, ArticleError):
                report.results.append(FileResult(label, "failed", error=str(item)))
                continue
            if error := _too_long(item, settings):  # named by source: may be one record
                report.results.append(FileResult(item.source, "failed", error=str(error)))
                continue
            result = FileResult(item.source, "unchanged", item.id, item.title)
            report.results.append(result)
            stale = [i for i in by_origin.get(item.origin, []) if i != item.id]
            if item.id in seen or (item.id in known and not stale):
                continue
            seen.add(item.id)
            result.status = "replaced" if stale else "added"
            planned.append(_Planned(item, stale, result, new=item.id not in known))
    index = story_index if story_index is not None else StoryIndex(story_cache(settings))
    _write(store, embeddings, planned, settings, progress, index)
    return report


def repair(
    store: Store,
    embeddings: MiniLMEmbeddings,
    progress: bool = False,
    on_progress: Callable[[int, int], object] | None = None,
) -> list[str]:
    """Rebuild the store's vector indexes that cannot be read back (a process was
    killed while Chroma saved one), embedding every passage again; returns the
    collections rebuilt. See :meth:`newsqa.store.Store.repair`. ``progress``: a
    progress bar; ``on_progress(n, total)``: ``n`` more of ``total`` passages done."""
    bars: list[tqdm[None]] = []  # shown once there is something to rebuild

    def advance(n: int, total: int) -> None:
        if progress:
            if not bars:
                bars.append(tqdm(total=total, desc="Rebuilding the index", unit="passage"))
            bars[0].update(n)
        if on_progress is not None:
            on_progress(n, total)

    try:
        return store.repair(embeddings.encode, advance)
    finally:
        for bar in bars:
            bar.close()


def story_cache(settings: Settings) -> Path:
    """Where the story index is cached (with a Chroma server too: each machine keeps
    its own copy, like the BM25 index)."""
    return settings.data_dir / "stories" / settings.collection


def _estimate(item: _Planned, chunk_chars: int) -> int:
    """Passages ``item`` will have, guessed from its length before it is chunked."""
    return 1 + len(item.article.text) // chunk_chars if item.new else 0


def _batches(planned: list[_Planned], settings: Settings) -> list[list[_Planned]]:
    """Whole articles, about ``settings.ingest_batch`` passages at a time (estimated)."""
    batches: list[list[_Planned]] = [[]]
    size = 0
    for item in planned:
        if size >= settings.ingest_batch:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += _estimate(item, settings.chunk_chars)
    return batches if planned else []


def _chunk(batch: list[_Planned], settings: Settings) -> None:
    for p in batch:
        if p.new:
            p.passages = chunk_article(
                p.article, settings.chunk_chars, settings.chunk_overlap_sentences
            )
            p.result.passages = len(p.passages)


def _annotate(batch: list[_Planned]) -> None:
    """What only the write needs: the passages' dates and the story signature (at 10k
    passages ~7x the time of splitting into passages, so off the embedder's path)."""
    for p in batch:
        if p.new and p.passages:
            p.passages = _with_dates(p.article, p.passages)
            p.signature = stories.signature(p.article.text)


def _with_dates(article: Article, passages: list[Passage]) -> list[Passage]:
    """The passages with the relative dates inside them resolved (issue 13)."""
    sentences = sorted({s for p in passages for s in p.sentences}, key=lambda s: s.start)
    spans = dates.resolve(article.text, article.date, sentences)
    if not spans:
        return passages
    return [
        replace(p, dates=tuple(s for s in spans if p.start <= s.start and s.end <= p.end))
        for p in passages
    ]


def _write(
    store: Store,
    embeddings: MiniLMEmbeddings,
    planned: list[_Planned],
    settings: Settings,
    progress: bool,
    index: StoryIndex,
) -> None:
    """Chunk, embed and write, batch by batch, as a pipeline of two threads.

    While this thread embeds batch i (the model keeps both cores busy), a worker
    thread resolves batch i's dates and story signature, writes batch i-1 to the
    store, then splits batch i+1 into passages: the writes (the writer lock, Chroma)
    and the text work then cost little wall time. Only splitting the first batch and
    writing the last one are waited for. At most one batch waits to be written.
    """
    batches = _batches(planned, settings)
    if not batches:
        return
    failure: str | None = None  # set once the store refused a write
    estimated = sum(_estimate(p, settings.chunk_chars) for p in planned)

    untrimmed = 0  # passages embedded since memory was last handed back

    def embedded(n: int) -> None:
        # Each forward pass frees ~100 MB of activations, of shapes that vary with the
        # texts' lengths; glibc keeps the freed memory in its heap, fragmented, and
        # ingest's RSS grew with every batch. Handing it back every TRIM_EVERY passages
        # keeps the peak near a batch's worth. Not after every forward pass: the next
        # one then faults all its pages in afresh (600 passages, 7 runs each: 22.7 s
        # trimming every 32, 20.9 s every 128, 20.4 s never; peaks 820, 885, 930 MiB).
        # (A fixed mmap threshold bounded it too, but faulted fresh pages in for every
        # tensor: embedding ran ~25% slower: benchmarks/RESULTS.md.)
        nonlocal untrimmed
        untrimmed += n
        if untrimmed >= TRIM_EVERY:
            release_free_memory()
            untrimmed = 0
        bar.update(n)

    with (
        tqdm(
            total=estimated, desc="Embedding", unit="passage", disable=not progress or not estimated
        ) as bar,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsqa-ingest") as worker,
    ):
        chunked = worker.submit(_chunk, batches[0], settings)
        writing: tuple[list[_Planned], Future[None]] | None = None
        for i, batch in enumerate(batches):
            chunk_error = _error(chunked, "could not split into passages")
            # Queued before the next split, so the worker dates this batch while it is embedded.
            annotated = worker.submit(_annotate, batch)
            if i + 1 < len(batches):
                chunked = worker.submit(_chunk, batches[i + 1], settings)
            # The bar's total was a guess from the texts' lengths: now it is known.
            guess = sum(_estimate(p, settings.chunk_chars) for p in batch)
            size = sum(len(p.passages) for p in batch)
            bar.total += size - guess
            bar.refresh()
            done_before = bar.n
            prepared: Batch = []
            error = failure or chunk_error
            if error is None:
                try:
                    prepared = _prepare(store, embeddings, batch, embedded)
                except StoreError as exc:
                    error = failure = f"could not read the store: {exc}"
                except Exception as exc:  # e.g. the embedder failed: the rest may still go
                    error = f"could not embed: {type(exc).__name__}: {exc}"
            if writing is not None:  # the batch before: written by now, or failed
                failure = _settle(*writing) or failure
                writing = None
            error = error or failure or _error(annotated, "could not resolve its dates")
            if error is not None:
                _fail(batch, error)
            else:
                writing = (batch, worker.submit(_put, store, batch, prepared, index))
            # Skipped or failed passages count as done, so the bar always ends full.
            bar.update(done_before + size - bar.n)
        if writing is not None:
            _settle(*writing)
    index.save()


def _error(future: Future[None], what: str) -> str | None:
    try:
        future.result()
    except Exception as exc:
        return f"{what}: {type(exc).__name__}: {exc}"
    return None


def _settle(batch: list[_Planned], future: Future[None]) -> str | None:
    """Record how writing ``batch`` went; the store's refusal if it refused."""
    try:
        future.result()
    except StoreError as exc:
        # Disk full, read-only, server gone: later batches would fail the same way.
        failure = f"could not write to the store: {exc}"
        _fail(batch, failure)
        return failure
    except Exception as exc:
        _fail(batch, f"could not write: {type(exc).__name__}: {exc}")
    return None


def _prepare(
    store: Store,
    embeddings: MiniLMEmbeddings,
    batch: list[_Planned],
    on_batch: Callable[[int], object],
) -> Batch:
    """Embed what the batch adds (slow; no lock held)."""
    # Another process may have written some of these since we planned (two ingests of
    # overlapping folders): skip those rather than embed them again.
    store.refresh()
    done = store.existing([p.article.id for p in batch if p.passages])
    for p in batch:
        if p.article.id in done and not p.stale:
            p.result.status, p.result.passages, p.passages = "unchanged", 0, []
    return embed_articles(
        embeddings, [(p.article, p.passages) for p in batch if p.passages], on_batch
    )


def embed_articles(
    embeddings: MiniLMEmbeddings,
    articles: Sequence[tuple[Article, Sequence[Passage]]],
    on_batch: Callable[[int], object] | None = None,
) -> Batch:
    """Vectors for articles, their passages and their passages' sentences, in one
    forward pass per passage; ``on_batch(n)``: ``n`` more passages embedded."""
    passages = [p for _, ps in articles for p in ps]
    spans = [[(s.start - p.start, s.end - p.start) for s in p.sentences] for p in passages]
    vectors, sentences = embeddings.encode_passages([p.text for p in passages], spans, on_batch)
    out: Batch = []
    start = 0
    for article, ps in articles:
        part = vectors[start : start + len(ps)]
        # (An article always has a passage; still, never take the mean of nothing.)
        mean = part.mean(axis=0) if len(part) else embeddings.encode([article.title])[0]
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        out.append(EmbeddedArticle(article, ps, part, sentences[start : start + len(ps)], mean))
        start += len(ps)
    return out


def _put(store: Store, batch: list[_Planned], prepared: Batch, index: StoryIndex) -> None:
    """Write one embedded batch under the writer lock (runs on the writer thread)."""
    # The batch was embedded while the worker dated its passages (_annotate, queued
    # before this write): store the dated ones (the same passages, with their dates).
    dated = {p.article.id: p.passages for p in batch}
    prepared = [replace(e, passages=dated[e.article.id]) for e in prepared]
    with store.writing():
        stale = [i for p in batch for i in p.stale]
        if prepared:
            signatures = {p.article.id: p.signature for p in batch if p.signature is not None}
            prepared = stories.label_batch(store, index, prepared, signatures, exclude=stale)
            store.put(prepared)
        stories.remove_articles(store, index, stale)
        # Passages left by an ingest killed before it wrote their article record.
        store.delete_orphans(sorted({p.article.origin for p in batch}))


def _fail(batch: list[_Planned], error: str) -> None:
    for p in batch:
        if p.result.status == "unchanged":  # found already written by another process
            continue
        p.result.status = "failed"
        p.result.error = error
        p.result.passages = 0
