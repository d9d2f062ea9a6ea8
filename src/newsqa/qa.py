"""``NewsQA``: settings plus the loaded model and store, and the QA chain over them.

The chain is plain LangChain runnables (LCEL)::

    resolve follow-up -> hybrid retrieval -> answerer -> citation check

so each step can be reused or swapped (the answerer is chosen by ``answer_mode``).

A command loads only what it uses: listing articles opens the store alone; asking
adds the question encoder (the int8 model: no torch), the BM25 index and the
answerer; only ingesting loads the file parsers and the ingest model.

One ``NewsQA`` may serve many threads (the app answers every browser tab from
one). Reads (questions, the article list, article texts) run side by side; only
what changes the in-memory view waits for them and runs alone: reopening the
store after another process wrote, bringing the BM25 index up to date, and this
process's own ingests and removals (see :mod:`newsqa.gate`).
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsqa.catalog import Catalog
from newsqa.errors import QuestionError
from newsqa.gate import ReadWriteGate
from newsqa.models import Answer, Article, Copy, Filters, Hit, IngestReport
from newsqa.settings import Settings, load_settings
from newsqa.store import ArticleInfo, Store

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from newsqa.answering import Answerer, ExtractiveAnswerer
    from newsqa.articles import ArticleError
    from newsqa.conversation import History
    from newsqa.embeddings import MiniLMEmbeddings
    from newsqa.lexical import LexicalIndex
    from newsqa.retrieval import HybridSearch
    from newsqa.retriever import NewsRetriever
    from newsqa.stories import StoryIndex

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def clean_question(question: str, max_chars: int) -> str:
    """Strip control characters and surrounding space; reject empty or oversized questions."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, got {type(question).__name__}")
    # Terminal colour codes come whole ("\x1b[31m"): dropping only the ESC would
    # leave "[31m" in the question.
    cleaned = _ANSI_ESCAPE.sub(" ", question)
    cleaned = "".join(
        " " if unicodedata.category(ch).startswith("C") else ch for ch in cleaned
    ).strip()
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("the question is empty")
    if len(cleaned) > max_chars:
        raise QuestionError(
            f"the question is {len(cleaned):,} characters long; the limit is {max_chars:,} "
            "(NEWSQA_MAX_QUESTION_CHARS)"
        )
    return cleaned


class NewsQA:
    """One library of articles and the means to question it.

    The model and the store load on first use and are reused across calls, so keep
    one instance per process (the Streamlit app caches it). Its methods are safe
    to call from many threads at once.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        """``settings`` (default: from ``NEWSQA_*``), with keyword ``overrides`` on top,
        validated like environment values: ``NewsQA(data_dir="lib", top_k=3)``.
        Raises :class:`newsqa.errors.SettingsError` for a bad one."""
        self.settings = load_settings(settings, **overrides)
        self._embedders: dict[str, MiniLMEmbeddings] = {}
        self._embedders_lock = threading.Lock()
        self._gate = ReadWriteGate()
        # The store generation that the BM25 index was last brought up to date with.
        self._synced: str | None = None
        self._catalog: Catalog | None = None

    def _embedder(self, name: str) -> MiniLMEmbeddings:
        # One instance per model, so a library whose questions and passages use the
        # same model loads it once.
        from newsqa.embeddings import get_embeddings

        with self._embedders_lock:
            if name not in self._embedders:
                self._embedders[name] = get_embeddings(name, self.settings.batch_size)
            return self._embedders[name]

    @contextmanager
    def _reading(self, *, lexical: bool = False) -> Iterator[None]:
        """Shared access to an up-to-date view: another process's write since the last
        look, or our own, is caught up first (alone), then the read runs (shared).

        ``lexical``: the read uses the BM25 index, so bring that up to date too (a
        rebuild must not run twice at once); listing articles leaves it unloaded.
        """
        while True:
            with self._gate.shared():
                # The first look creates the store, which must not happen twice at once.
                if "store" in vars(self) and self._fresh(lexical):
                    yield
                    return
            with self._gate.exclusive():
                self.store.refresh()
                if lexical:
                    self.lexical.sync()
                    self._synced = self.store.generation()

    def _fresh(self, lexical: bool) -> bool:
        if self.store.stale():
            return False
        return not lexical or self._synced == self.store.generation()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Exclusive access for this process's own writes (the BM25 index catches up on
        the next read)."""
        with self._gate.exclusive():
            yield

    @cached_property
    def embeddings(self) -> MiniLMEmbeddings:
        """The model that encodes questions (``query_embedder``)."""
        from newsqa.embeddings import query_embedder_name

        s = self.settings
        return self._embedder(query_embedder_name(s.query_embedder, s.embedder))

    @property
    def ingest_embeddings(self) -> MiniLMEmbeddings:
        """The model that encodes passages at ingest (``embedder``)."""
        return self._embedder(self.settings.embedder)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings)

    @cached_property
    def lexical(self) -> LexicalIndex:
        from newsqa.lexical import LexicalIndex

        cache = self.settings.data_dir / "bm25" / self.settings.collection
        return LexicalIndex(self.store, cache)

    @cached_property
    def story_index(self) -> StoryIndex:
        """Finds each new article's wire copies (see :mod:`newsqa.stories`)."""
        from newsqa.ingest import story_cache
        from newsqa.stories import StoryIndex

        return StoryIndex(story_cache(self.settings))

    @cached_property
    def search(self) -> HybridSearch:
        from newsqa.retrieval import HybridSearch

        return HybridSearch(
            self.store,
            self.lexical,
            self.embeddings,
            candidates=self.settings.candidates,
            rrf_k=self.settings.rrf_k,
        )

    def answerer(self, mode: str | None = None) -> Answerer:
        mode = mode or self.settings.answer_mode
        if mode == "extractive":
            return self._extractive
        if mode == "generative":
            from newsqa.generative import GenerativeAnswerer  # optional extra

            return GenerativeAnswerer.from_settings(self.settings, self._extractive)
        raise ValueError(f"unknown answer mode {mode!r}; use 'extractive' or 'generative'")

    @cached_property
    def _extractive(self) -> ExtractiveAnswerer:
        from newsqa.answering import AnswerModel, ExtractiveAnswerer

        return ExtractiveAnswerer(
            self.embeddings,
            AnswerModel.load(self.settings.answer_model),
            min_confidence=self.settings.min_confidence,
            max_sentences=self.settings.max_answer_sentences,
            max_chars=self.settings.max_answer_chars,
        )

    # -- library -------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path], *, progress: bool = False) -> IngestReport:
        """Ingest files and folders; see :mod:`newsqa.ingest`."""
        from newsqa.ingest import ingest_paths

        with self._writing():
            return ingest_paths(
                self.store,
                self.ingest_embeddings,
                [Path(p) for p in paths],
                self.settings,
                progress=progress,
                story_index=self.story_index,
            )

    def ingest_files(
        self, files: Sequence[tuple[str, bytes]], *, progress: bool = False
    ) -> IngestReport:
        """Ingest in-memory files given as (file name, content) pairs."""
        from newsqa.ingest import ingest_uploads

        with self._writing():
            return ingest_uploads(
                self.store,
                self.ingest_embeddings,
                files,
                self.settings,
                progress=progress,
                story_index=self.story_index,
            )

    def ingest_parsed(
        self, parsed: Iterable[tuple[str, list[Article | ArticleError]]], *, progress: bool = False
    ) -> IngestReport:
        """Ingest articles read elsewhere (pages and feed items fetched by
        :mod:`newsqa.web` and :mod:`newsqa.feeds`): ``(origin, [article or error])``
        pairs, one result each."""
        from newsqa.ingest import ingest_parsed

        with self._writing():
            return ingest_parsed(
                self.store,
                self.ingest_embeddings,
                parsed,
                self.settings,
                progress,
                story_index=self.story_index,
            )

    def repair(
        self,
        *,
        progress: bool = False,
        on_progress: Callable[[int, int], object] | None = None,
    ) -> list[str]:
        """Rebuild any vector index of the library that cannot be read back (a process
        was killed while Chroma saved it); returns the collections rebuilt.
        ``on_progress(n, total)``: ``n`` more of ``total`` passages embedded again."""
        from newsqa.ingest import repair

        with self._writing():
            return repair(self.store, self.ingest_embeddings, progress, on_progress)

    def articles(self) -> list[ArticleInfo]:
        """The articles in the library, newest first."""
        return list(self.catalog().articles)

    def catalog(self) -> Catalog:
        """The library's article list, searchable and paged; shared and immutable.

        Listing reads every article record, so it is done once per store generation
        (a write anywhere makes a new one), not once per call; in a fresh process
        it usually comes from the store's listing file, without opening Chroma.
        """
        with self._reading():
            generation = self.store.generation()
            catalog = self._catalog
            if catalog is None or catalog.version != generation:
                catalog = Catalog(*self.store.catalogue())
                self._catalog = catalog
            return catalog

    def article_text(self, article_id: str) -> str | None:
        """The full stored text of an article (citation offsets index into it); None if absent."""
        with self._reading():
            return self.store.article_text(article_id)

    def remove(self, article_id: str) -> bool:
        """Remove an article and its passages. False if there was no such article."""
        from newsqa.stories import remove_articles

        with self._writing():
            self.store.refresh()
            if not self.store.has_article(article_id):
                return False
            with self.store.writing():
                remove_articles(self.store, self.story_index, [article_id])
            self.story_index.save()
            return True

    # -- questions -----------------------------------------------------------------

    def retriever(self, k: int | None = None, filters: Filters | None = None) -> NewsRetriever:
        """The hybrid retriever as a LangChain ``BaseRetriever``."""
        from newsqa.retriever import NewsRetriever

        return NewsRetriever(search=self.search, k=k or self.settings.top_k, filters=filters)

    def chain(
        self, k: int | None = None, filters: Filters | None = None, mode: str | None = None
    ) -> Runnable[dict[str, Any], Answer]:
        """The QA chain: ``{"question": str, "history": [...]}`` -> :class:`Answer`."""
        from langchain_core.runnables import RunnableLambda

        answerer = self.answerer(mode)
        top_k = k or self.settings.top_k

        def resolve_step(inputs: dict[str, Any]) -> dict[str, Any]:
            return self._resolve_step(inputs)

        def retrieve_step(state: dict[str, Any]) -> dict[str, Any]:
            return self._retrieve_step(state, top_k, filters)

        def answer_step(state: dict[str, Any]) -> Answer:
            return self._answer_step(answerer, state)

        return (
            RunnableLambda(resolve_step)
            | RunnableLambda(retrieve_step)
            | RunnableLambda(answer_step)
        ).with_config(run_name="newsqa")

    # The chain's steps, shared with ask_stream.

    def _resolve_step(self, inputs: dict[str, Any]) -> dict[str, Any]:
        from newsqa.conversation import resolve

        question = clean_question(inputs["question"], self.settings.max_question_chars)
        history = [(str(q), str(a)) for q, a in inputs.get("history") or []]
        return {"resolved": resolve(question, history), "t0": time.perf_counter()}

    def _retrieve_step(
        self, state: dict[str, Any], top_k: int, filters: Filters | None
    ) -> dict[str, Any]:
        with self._reading(lexical=True):
            result = self.search.search(state["resolved"].standalone, top_k, filters)
        return {**state, "hits": result.hits, "timings": result.timings}

    def _answer_step(self, answerer: Answerer, state: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        return self._finish(answerer.answer(state["resolved"], state["hits"]), state, started)

    def _finish(self, answer: Answer, state: dict[str, Any], started: float) -> Answer:
        """Verify the citations; record the standalone question and the timings.

        The answerer's own stages (generative: ``first_token``, ``generate``,
        ``check``) are kept; ``first_token`` is rebased to count from the question's
        arrival, like ``total``, because that is the wait a user sees.
        """
        from newsqa.citations import verify_answer

        with self._reading():
            answer = verify_answer(answer, self.store.article_text)
        self._annotate(answer, state["hits"])
        answer.standalone_question = state["resolved"].standalone
        own = dict(answer.timings)
        if "first_token" in own:
            own["first_token"] += started - state["t0"]
        now = time.perf_counter()
        answer.timings = {
            **state["timings"],
            **own,
            "answer": now - started,
            "total": now - state["t0"],
        }
        return answer

    def _annotate(self, answer: Answer, hits: list[Hit]) -> None:
        """Give each citation its sentence's resolved dates and its story's other copies
        ("also reported by"; one store read for all of them), and show the dates in the
        answer where it quotes a cited sentence: "on Monday (4 March 2024)"."""
        from newsqa.dates import with_dates
        from newsqa.stories import outlet
        from newsqa.text import inert_markers

        if not answer.citations:
            return
        passages = {h.passage.id: h.passage for h in hits}
        story_of = {h.passage.article_id: h.story or h.passage.article_id for h in hits}
        wanted = sorted({story_of.get(c.article_id, c.article_id) for c in answer.citations})
        members = self.store.article_records(stories=wanted, texts=False)
        for c in answer.citations:
            passage = passages.get(c.passage_id)
            if passage is not None:
                c.dates = [d for d in passage.dates if c.start <= d.start and d.end <= c.end]
            if c.dates:
                # The extractive answer quotes "<sentence> [n]" (markers made inert);
                # the citation's own text stays exact, for checking.
                quoted = f"{inert_markers(c.text)} [{c.n}]"
                dated = f"{inert_markers(with_dates(c.text, c.start, c.dates))} [{c.n}]"
                answer.text = answer.text.replace(quoted, dated, 1)
            story = story_of.get(c.article_id, c.article_id)
            c.also_reported = sorted(
                (
                    Copy(i, m.title, outlet(m.source), m.date)
                    for i, m in members.items()
                    if i != c.article_id and m.story == story
                ),
                key=lambda copy: (copy.date or "", copy.outlet),
            )

    def ask(
        self,
        question: str,
        history: History | None = None,
        *,
        k: int | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        article_ids: Sequence[str] | None = None,
        mode: str | None = None,
    ) -> Answer:
        """Answer a question from the library, with verified citations, or refuse.

        ``history`` is the conversation so far as (question, answer text) pairs;
        follow-ups such as "What did she say?" are resolved against it.
        """
        from newsqa.answering import refusal

        filters = Filters(date_from, date_to, tuple(article_ids) if article_ids else None)
        if self._empty():
            question = clean_question(question, self.settings.max_question_chars)
            return refusal(question, "the library is empty; ingest some articles first")
        # The chain's steps, called directly: the same answer as ``chain().invoke``
        # without importing LangChain's runnables (~0.3 s of a cold ``newsqa ask``).
        answerer = self.answerer(mode)
        state = self._resolve_step({"question": question, "history": history})
        state = self._retrieve_step(state, k or self.settings.top_k, filters)
        return self._answer_step(answerer, state)

    def _empty(self) -> bool:
        with self._reading():
            return self.store.count_passages() == 0

    def ask_stream(
        self,
        question: str,
        history: History | None = None,
        *,
        k: int | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        article_ids: Sequence[str] | None = None,
        mode: str | None = None,
    ) -> Iterator[str | Answer]:
        """:meth:`ask`, streamed: ``str`` tokens as the model writes them, then the Answer.

        The tokens are the model's raw draft (its markers number the passages, and
        the checker may still drop sentences); the :class:`Answer`, always last and
        exactly once, is the checked answer with verified citations, and replaces
        the draft (it may even be the extractive fallback, when no generated sentence
        survived the check). Extractive mode, and refusals decided before the model
        runs, yield the Answer alone.
        Errors (:class:`QuestionError`, ``newsqa.generative.GenerativeSetupError``)
        are raised by the first ``next()``, before any token.
        """
        from newsqa.answering import refusal

        filters = Filters(date_from, date_to, tuple(article_ids) if article_ids else None)
        if self._empty():
            question = clean_question(question, self.settings.max_question_chars)
            yield refusal(question, "the library is empty; ingest some articles first")
            return
        answerer = self.answerer(mode)
        state = self._resolve_step({"question": question, "history": history})
        state = self._retrieve_step(state, k or self.settings.top_k, filters)
        started = time.perf_counter()
        stream = getattr(answerer, "stream", None)  # only generative answerers stream
        if stream is None:
            answer = answerer.answer(state["resolved"], state["hits"])
        else:
            tokens = stream(state["resolved"], state["hits"])
            yield from tokens
            answer = tokens.result()
        yield self._finish(answer, state, started)
