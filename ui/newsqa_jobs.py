"""The app's work that must outlive a Streamlit run (no Streamlit calls, so it tests alone).

Why this exists: Streamlit reruns the script on every interaction, and a new
interaction stops the run in progress at its next Streamlit call. A chat input's
value is delivered to one run only. The app used to read the question in a run,
answer it and keep the turn at the end of that same run, so a question typed
while that run was still going (waiting for a shared lock, rendering the last
answer, or warming up) stopped it after its question had been taken and before
the turn was kept: the question was gone, with no error. So here:

- a question joins its session's :class:`Conversation` in the chat input's
  callback, which Streamlit runs before the script body, so no later stop can
  lose it, and it shows in the very next run;
- answering is a job in a process-wide thread pool, one question at a time per
  session and in the order asked (a follow-up needs the answers before it). A
  run only shows the conversation and waits on its oldest unanswered question's
  job; a run stopped meanwhile loses nothing, because the next run finds the
  same job, running or done;
- the library (model, store, BM25) loads once per process in a background
  thread (:class:`LibraryLoader`); the app keeps its chat input disabled, with
  a status line, until it is ready;
- an upload is a job too, so a question typed during an upload stops neither.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from newsqa_ui import (
    FileOutcome,
    SourceCard,
    UploadOutcome,
    build_source_cards,
    describe_error,
    ingest_uploads,
)

from newsqa import Answer, NewsQA, QuestionError, Settings
from newsqa.errors import DamagedIndexError
from newsqa.models import FileResult

log = logging.getLogger("newsqa.app")

# Loads the model and the BM25 index, so the first real question is as fast as the
# tenth. A refusal is fine: only the loading matters.
WARM_UP_QUESTION = "What happened?"


@dataclass(frozen=True)
class AskOptions:
    """The sidebar's retrieval options when a question was asked (``NewsQA.ask`` kwargs)."""

    k: int
    date_from: str | None = None
    date_to: str | None = None
    article_ids: tuple[str, ...] | None = None
    mode: str = "extractive"


@dataclass
class ChatTurn:
    """One question and what came back: an answer (with its source cards) or an error.

    Written by the job that answers it (another thread); ``done`` is set last, so
    once it is true the rest is complete.
    """

    question: str
    options: AskOptions
    answer: Answer | None = None
    # Built when the answer arrives, so a rerun shows the same passages even if
    # the article has been removed since.
    cards: list[SourceCard] = field(default_factory=list)
    error: str = ""
    level: Literal["warning", "error"] = "error"
    draft: str = ""  # generative mode: the model's unchecked draft so far
    asked_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    done: bool = False
    job: Future[None] | None = field(default=None, repr=False)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the answer; True once it is there."""
        if not self.done and self.job is not None:
            with contextlib.suppress(TimeoutError):
                self.job.result(timeout)
        return self.done


def history_pairs(turns: Sequence[ChatTurn]) -> list[tuple[str, str]]:
    """The conversation so far as ``NewsQA.ask`` wants it: (question, answer text)."""
    return [(t.question, t.answer.text) for t in turns if t.answer is not None]


def answer_turn(qa: NewsQA, turn: ChatTurn, history: list[tuple[str, str]]) -> None:
    """Answer ``turn`` in place; never raises: errors are kept in the turn.

    In generative mode the model's draft accumulates in ``turn.draft``; the checked
    answer that follows replaces it (the draft's sentences may have been dropped).
    """
    turn.started_at = time.monotonic()
    options = turn.options
    try:
        answer: Answer | None = None
        for item in qa.ask_stream(
            turn.question,
            history,
            k=options.k,
            date_from=options.date_from,
            date_to=options.date_to,
            article_ids=options.article_ids,
            mode=options.mode,
        ):
            if isinstance(item, str):
                turn.draft += item
            else:
                answer = item
        if answer is None:
            raise RuntimeError("no answer came back")
        turn.cards = build_source_cards(answer, qa.article_text)
        turn.answer = answer
    except QuestionError as exc:
        turn.level = "warning"
        turn.error = f"Please rephrase: {exc}."
    except Exception as exc:
        turn.error = describe_error(exc, "read")
    finally:
        turn.done = True


class Conversation:
    """One session's questions in the order asked, answered one at a time in that order."""

    def __init__(self) -> None:
        self.turns: list[ChatTurn] = []
        # Streamlit may run two script threads of one session for a moment (a stopped
        # run finishing while the next starts): starting a job is done under a lock.
        self._lock = threading.Lock()

    def add(self, question: str, options: AskOptions) -> ChatTurn:
        """Queue a question; it is shown at once and answered after those before it."""
        turn = ChatTurn(question, options)
        with self._lock:
            self.turns.append(turn)
        return turn

    def pending(self) -> list[ChatTurn]:
        """The unanswered questions, oldest first."""
        return [t for t in self.turns if not t.done]

    def advance(self, qa: NewsQA, pool: ThreadPoolExecutor) -> ChatTurn | None:
        """The oldest unanswered turn, its job started if it was not; None when all are done."""
        with self._lock:
            for i, turn in enumerate(self.turns):
                if turn.done:
                    continue
                if turn.job is None:
                    turn.job = pool.submit(answer_turn, qa, turn, history_pairs(self.turns[:i]))
                return turn
        return None


@dataclass
class Upload:
    """Files being added to the library by a job, with its progress."""

    total: int
    done: int = 0
    current: str = ""
    outcome: UploadOutcome | None = None
    job: Future[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def wait(self, timeout: float) -> bool:
        if not self.finished and self.job is not None:
            with contextlib.suppress(TimeoutError):
                self.job.result(timeout)
        return self.finished


def start_upload(
    qa: NewsQA, files: Sequence[tuple[str, bytes]], pool: ThreadPoolExecutor
) -> Upload:
    """Ingest uploaded files in the background, one at a time; progress lands in the Upload."""
    upload = Upload(total=len(files))

    def progress(done: int, total: int, name: str) -> None:
        upload.done, upload.current = done, name

    def run() -> None:
        try:
            upload.outcome = ingest_uploads(qa, files, on_progress=progress)
        except Exception as exc:  # ingest_uploads reports per file; this guards the guard
            error = describe_error(exc, "changed")
            upload.outcome = UploadOutcome(
                [FileOutcome(name, FileResult(name, "failed", error=error)) for name, _ in files]
            )

    upload.job = pool.submit(run)
    return upload


class LibraryLoader:
    """Opens the library and loads the model once per process, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.started = time.monotonic()
        self.qa: NewsQA | None = None
        self.error: Exception | None = None
        # (passages done, of how many) while a damaged vector index is rebuilt
        self.rebuilding: tuple[int, int] | None = None
        self._ready = threading.Event()
        threading.Thread(
            target=self._load, args=(settings,), name="newsqa-load", daemon=True
        ).start()

    def _load(self, settings: Settings) -> None:
        try:
            qa = NewsQA(settings)
            try:
                self._open(qa)
            except DamagedIndexError:
                # A crash left the vector index unreadable (see `newsqa repair`): the
                # articles are intact, so rebuild it now rather than fail every question.
                log.warning("the library's vector index is damaged: rebuilding it")
                qa.repair(on_progress=self._rebuilt)
                self._open(qa)
            self.qa = qa
        except Exception as exc:
            self.error = exc
        finally:
            self._ready.set()

    @staticmethod
    def _open(qa: NewsQA) -> None:
        qa.catalog()  # opens the store and reads the article list now
        try:
            qa.ask(WARM_UP_QUESTION)
        except DamagedIndexError:
            raise
        except Exception:  # warm-up only: a real question will report the problem
            log.warning("warm-up question failed", exc_info=True)

    def _rebuilt(self, n: int, total: int) -> None:
        done = self.rebuilding[0] if self.rebuilding else 0
        self.rebuilding = (done + n, total)

    @property
    def ready(self) -> bool:
        """True once loading has finished, well or not (see ``qa`` and ``error``)."""
        return self._ready.is_set()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait(self, timeout: float) -> bool:
        return self._ready.wait(timeout)
