"""newsqa chat app: ask questions about your news articles; every answer shows its sources.

Start it with ``make run`` (which ingests ``seeds/`` first) or::

    NEWSQA_DATA_DIR=... streamlit run ui/app.py

Settings come from the same ``NEWSQA_*`` environment variables as the CLI. The
app is deliberately thin: it calls the public :class:`newsqa.NewsQA` API and only
decides how results look (see ``newsqa_ui``). One ``NewsQA`` is cached per server
process and shared by every browser tab; calls into it go through one lock,
because the store reopens itself when another process writes and the BM25 index
rebuilds after a write, neither of which is safe to run twice at once in one
process. Other processes (``newsqa ingest`` in a terminal) are kept in step by
the store's own file lock and generation stamp.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import streamlit as st
from newsqa_ui import (
    CSS,
    EXAMPLE_QUESTIONS,
    UPLOAD_TYPES,
    FileOutcome,
    SourceCard,
    answer_caption,
    answer_html,
    article_label,
    build_source_cards,
    escape_markdown,
    ingest_uploads,
    library_html,
    result_line,
    sources_html,
)

from newsqa import Answer, ArticleInfo, NewsQA, NewsQAError, QuestionError, Settings
from newsqa.runtime import configure_process

log = logging.getLogger("newsqa.app")

ASSISTANT_AVATAR = ":material/newspaper:"
USER_AVATAR = ":material/person:"
MAX_K = 20
# Dates before this are surely typos; the picker's default floor (10 years ago) is
# too recent for an archive.
EARLIEST = date(1800, 1, 1)
LATEST = date(2200, 12, 31)


@dataclass
class ChatTurn:
    """One question and what came back: an answer (with its source cards) or an error."""

    question: str
    answer: Answer | None = None
    # Built when the answer arrives, so a rerun shows the same passages even if
    # the article has been removed since.
    cards: list[SourceCard] = field(default_factory=list)
    error: str = ""
    level: Literal["warning", "error"] = "error"


@dataclass(frozen=True)
class AskOptions:
    """The sidebar's retrieval options, as ``NewsQA.ask`` keyword arguments."""

    k: int
    date_from: str | None
    date_to: str | None
    article_ids: list[str] | None
    mode: str


# -- shared resources ------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the language model and your library…")
def load_library(settings_key: str, _settings: Settings) -> tuple[NewsQA, threading.RLock]:
    """The process-wide ``NewsQA`` (model loaded, store open) and the lock around it.

    Keyed by the settings so a process serving one configuration loads exactly
    once, while tests that point ``NEWSQA_DATA_DIR`` elsewhere get their own.
    """
    qa = NewsQA(_settings)
    qa.articles()  # opens the store now, not on the first question
    try:
        # Loads the model and the BM25 index, so the first question is as fast as
        # the tenth. A refusal is fine; only the loading matters.
        qa.ask("What happened?")
    except Exception:  # warm-up only: a real question will report the problem
        log.warning("warm-up question failed", exc_info=True)
    return qa, threading.RLock()


def generative_available(settings: Settings) -> bool:
    """Generative answers need a local GGUF model or an OpenAI-compatible server."""
    return bool(settings.llm_gguf or settings.llm_base_url)


# -- session state -----------------------------------------------------------------------


def init_state() -> None:
    defaults: dict[str, object] = {
        "turns": [],
        "pending_question": None,
        "uploader_key": 0,
        "upload_results": [],
        "confirm_remove": None,
        "flash": None,
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def new_chat() -> None:
    st.session_state.turns = []
    st.session_state.pending_question = None


def ask_example(question: str) -> None:
    st.session_state.pending_question = question


def clear_upload_results() -> None:
    st.session_state.upload_results = []


def history_pairs(turns: list[ChatTurn]) -> list[tuple[str, str]]:
    """The conversation so far as ``NewsQA.ask`` wants it: (question, answer text)."""
    return [(t.question, t.answer.text) for t in turns if t.answer is not None]


# -- error display -----------------------------------------------------------------------


def describe_error(exc: Exception, doing: str) -> str:
    """A user-facing message for an exception; the traceback goes to the server log only."""
    if isinstance(exc, NewsQAError):  # expected: its message says what to do
        return f"The library could not be {doing}: {exc}"
    log.exception("unexpected error while %s", doing)
    return (
        f"Something went wrong ({type(exc).__name__}: {exc}). "
        "Details are in the server log; please try again."
    )


# -- sidebar -----------------------------------------------------------------------------


def sidebar(
    qa: NewsQA, lock: threading.RLock, articles: list[ArticleInfo], settings: Settings
) -> AskOptions:
    with st.sidebar:
        st.button(
            "New chat",
            icon=":material/edit_square:",
            on_click=new_chat,
            width="stretch",
            key="new_chat",
        )
        library_section(qa, lock, articles)
        st.divider()
        return options_section(articles, settings)


def library_section(qa: NewsQA, lock: threading.RLock, articles: list[ArticleInfo]) -> None:
    st.subheader("Library", anchor=False)
    flash = st.session_state.flash
    if flash is not None:
        st.session_state.flash = None  # shown once, after the rerun that caused it
        kind, message = flash
        show = {"success": st.success, "error": st.error}.get(kind, st.info)
        show(escape_markdown(message))
    if articles:
        passages = sum(a.passages for a in articles)
        st.caption(
            f"{len(articles)} article{'' if len(articles) == 1 else 's'} · {passages} passages"
        )
        # A scrolling box keeps a long library from pushing the options off screen.
        box = st.container(height=280) if len(articles) > 4 else st.container()
        box.html(library_html(articles))
    else:
        st.caption("No articles yet: add some below.")

    with st.expander("Add articles", icon=":material/upload_file:", expanded=not articles):
        upload_section(qa, lock)
    show_upload_results()
    if articles:
        with st.expander("Remove an article", icon=":material/delete:"):
            remove_section(qa, lock, articles)


def upload_section(qa: NewsQA, lock: threading.RLock) -> None:
    files = st.file_uploader(
        "Article files",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        # A new key after each ingest empties the uploader, so the same files are
        # not offered (and re-ingested) again.
        key=f"uploader_{st.session_state.uploader_key}",
        help="Plain text or Markdown (optional title:/date:/source: front matter), HTML "
        "pages, or JSON/JSONL records with title, date, text and url fields.",
    )
    if not st.button(
        "Add to library", type="primary", disabled=not files, width="stretch", key="add_files"
    ):
        return
    uploads = [(f.name, f.getvalue()) for f in files or []]
    bar = st.progress(0.0, text="Starting…")

    def on_progress(done: int, total: int, name: str) -> None:
        text = (
            f"Adding {escape_markdown(name)} ({done + 1} of {total})…"
            if name
            else f"Added {total} file{'' if total == 1 else 's'}"
        )
        bar.progress(done / max(total, 1), text=text)

    with st.spinner("Reading and indexing the articles…"):
        outcome = ingest_uploads(qa, uploads, lock=lock, on_progress=on_progress)
    st.session_state.upload_results = outcome.results
    st.session_state.uploader_key += 1
    # Rerun so the article list, the pickers and the empty-library notice all
    # reflect the new articles.
    st.rerun()


def show_upload_results() -> None:
    results: list[FileOutcome] = st.session_state.upload_results
    if not results:
        return
    stored = [r for r in results if not r.failed]
    failed = [r for r in results if r.failed]
    if stored:
        lines = [escape_markdown(result_line(r)) for r in stored]
        st.success(
            lines[0] if len(lines) == 1 else "\n".join(f"- {line}" for line in lines),
            icon=":material/check_circle:",
        )
    for result in failed:
        st.error(f"**Not added:** {escape_markdown(result_line(result))}", icon=":material/error:")
    st.button("Dismiss", on_click=clear_upload_results, key="dismiss_results", type="tertiary")


def start_remove() -> None:
    st.session_state.confirm_remove = st.session_state.get("remove_choice")


def cancel_remove() -> None:
    st.session_state.confirm_remove = None


def confirm_remove(qa: NewsQA, lock: threading.RLock, article_id: str, title: str) -> None:
    """Remove the article. A callback, so the run that follows already lists the library
    without it (and may reset the picker, which a script cannot once it is drawn)."""
    try:
        with lock:
            removed = qa.remove(article_id)
        st.session_state.flash = (
            ("success", f"Removed “{title}”.")
            if removed
            else ("info", f"“{title}” was already gone.")
        )
    except Exception as exc:
        st.session_state.flash = ("error", describe_error(exc, "changed"))
    st.session_state.confirm_remove = None
    st.session_state.remove_choice = None


def remove_section(qa: NewsQA, lock: threading.RLock, articles: list[ArticleInfo]) -> None:
    by_id = {a.id: a for a in articles}
    # Forget a choice whose article is gone (removed here or by another process).
    if st.session_state.get("remove_choice") not in by_id:
        st.session_state.remove_choice = None
    if st.session_state.confirm_remove not in by_id:
        st.session_state.confirm_remove = None

    choice = st.selectbox(
        "Article",
        list(by_id),
        format_func=lambda i: article_label(by_id[i]),
        index=None,
        placeholder="Choose an article",
        key="remove_choice",
    )
    pending = st.session_state.confirm_remove
    if pending is None or pending != choice:
        st.button(
            "Remove…",
            disabled=choice is None,
            on_click=start_remove,
            key="remove_start",
            width="stretch",
        )
        return

    info = by_id[pending]
    st.warning(
        f"Remove **{escape_markdown(info.title)}** ({info.passages} passages) from the "
        "library? This cannot be undone.",
        icon=":material/warning:",
    )
    yes, no = st.columns(2)
    yes.button(
        "Remove",
        type="primary",
        on_click=confirm_remove,
        args=(qa, lock, info.id, info.title),
        key="remove_confirm",
        width="stretch",
    )
    no.button("Cancel", on_click=cancel_remove, key="remove_cancel", width="stretch")


def options_section(articles: list[ArticleInfo], settings: Settings) -> AskOptions:
    st.subheader("Options", anchor=False)
    k = st.slider(
        "Passages to retrieve",
        1,
        max(MAX_K, settings.top_k),
        value=settings.top_k,
        key="opt_k",
        help="How many passages the answer is chosen from. More can find answers spread "
        "over an article; fewer keeps answers focused.",
    )
    # One per row: side by side, the sidebar is too narrow to show a whole date.
    date_from = st.date_input(
        "Articles from",
        value=None,
        min_value=EARLIEST,
        max_value=LATEST,
        format="YYYY-MM-DD",
        key="opt_from",
    )
    date_to = st.date_input(
        "Articles until",
        value=None,
        min_value=EARLIEST,
        max_value=LATEST,
        format="YYYY-MM-DD",
        key="opt_to",
    )
    if isinstance(date_from, date) and isinstance(date_to, date) and date_from > date_to:
        st.warning(
            "The start date is after the end date, so no article can match.",
            icon=":material/event_busy:",
        )

    by_id = {a.id: a for a in articles}
    selected = st.session_state.get("opt_articles")
    if selected and any(i not in by_id for i in selected):
        st.session_state.opt_articles = [i for i in selected if i in by_id]
    article_ids = st.multiselect(
        "Only these articles",
        list(by_id),
        format_func=lambda i: article_label(by_id[i]),
        placeholder="All articles",
        key="opt_articles",
    )

    mode = settings.answer_mode
    if generative_available(settings):
        mode = st.radio(
            "Answer mode",
            ["extractive", "generative"],
            index=0 if settings.answer_mode == "extractive" else 1,
            format_func=lambda m: {
                "extractive": "Extractive: quotes the articles",
                "generative": "Generative: a local model writes the answer",
            }[m],
            key="opt_mode",
        )
    else:
        # A generative mode set in the environment cannot run without a model.
        mode = "extractive"
    return AskOptions(
        k=int(k),
        date_from=date_from.isoformat() if isinstance(date_from, date) else None,
        date_to=date_to.isoformat() if isinstance(date_to, date) else None,
        article_ids=list(article_ids) or None,
        mode=mode,
    )


# -- chat ----------------------------------------------------------------------------------


def ask(
    qa: NewsQA,
    lock: threading.RLock,
    question: str,
    turns: list[ChatTurn],
    options: AskOptions,
    on_draft: Callable[[str], object] | None = None,
) -> ChatTurn:
    """Ask ``qa``; never raises: errors come back inside the turn.

    In generative mode the model's draft streams to ``on_draft``; the checked answer
    that follows replaces it (the draft's sentences may have been dropped).
    """
    try:
        with lock:
            answer: Answer | None = None
            draft = ""
            for item in qa.ask_stream(
                question,
                history_pairs(turns),
                k=options.k,
                date_from=options.date_from,
                date_to=options.date_to,
                article_ids=options.article_ids,
                mode=options.mode,
            ):
                if isinstance(item, str):
                    draft += item
                    if on_draft is not None:
                        on_draft(draft)
                else:
                    answer = item
            if answer is None:
                raise RuntimeError("no answer came back")
            cards = build_source_cards(answer, qa.article_text)
        return ChatTurn(question, answer, cards)
    except QuestionError as exc:
        return ChatTurn(question, error=f"Please rephrase: {exc}.", level="warning")
    except Exception as exc:
        return ChatTurn(question, error=describe_error(exc, "read"))


def render_answer(turn: ChatTurn) -> None:
    """The assistant's side of a turn."""
    if turn.answer is None:
        show = st.warning if turn.level == "warning" else st.error
        show(escape_markdown(turn.error))
        return
    answer = turn.answer
    if answer.answerable:
        st.html(answer_html(answer.text, [c.n for c in answer.citations]))
        if turn.cards:
            st.html(sources_html(turn.cards))
    else:
        # A refusal looks like one: a notice, and no source cards.
        st.info(escape_markdown(answer.text), icon=":material/search_off:")
    caption = answer_caption(answer)
    if caption:
        st.caption(escape_markdown(caption))


def render_turn(turn: ChatTurn) -> None:
    with st.chat_message("user", avatar=USER_AVATAR):
        st.markdown(escape_markdown(turn.question))
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        render_answer(turn)


def welcome(articles: list[ArticleInfo]) -> None:
    """What a first-time user sees before asking anything."""
    if not articles:
        st.info(
            "**Your library is empty.** Add news articles under **Add articles** in the "
            "sidebar (.txt, .md, .html, .json or .jsonl), or from a terminal:\n\n"
            "`newsqa ingest path/to/articles/`",
            icon=":material/library_books:",
        )
        return
    st.markdown("##### Try asking")
    columns = st.columns(len(EXAMPLE_QUESTIONS))
    for i, (column, question) in enumerate(zip(columns, EXAMPLE_QUESTIONS, strict=True)):
        column.button(
            question,
            on_click=ask_example,
            args=(question,),
            key=f"example_{i}",
            width="stretch",
            icon=":material/chat_bubble:",
        )
    st.caption(
        "Answers quote the articles' own sentences and every sentence links to the passage "
        "it comes from. When the articles don't say, newsqa tells you so instead of guessing."
    )


def chat(
    qa: NewsQA,
    lock: threading.RLock,
    articles: list[ArticleInfo],
    options: AskOptions,
    settings: Settings,
) -> None:
    st.title("newsqa", anchor=False, icon=":material/newspaper:")
    st.caption("Ask questions about your news articles. Every answer cites its sentences.")

    prompt = st.chat_input(
        "Ask about your articles…", key="chat_input", max_chars=settings.max_question_chars
    )
    question = prompt if isinstance(prompt, str) and prompt else None
    if question is None and st.session_state.pending_question:
        question = st.session_state.pending_question
    st.session_state.pending_question = None

    turns: list[ChatTurn] = st.session_state.turns
    if not turns and question is None:
        welcome(articles)
    for turn in turns:
        render_turn(turn)
    if question is None:
        return

    with st.chat_message("user", avatar=USER_AVATAR):
        st.markdown(escape_markdown(question))
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        draft_box = st.empty()
        with st.spinner("Searching your articles…"):
            # The draft is unchecked model output: shown as plain text, then replaced.
            turn = ask(qa, lock, question, turns, options, on_draft=draft_box.text)
        draft_box.empty()
        render_answer(turn)
    turns.append(turn)


def main() -> None:
    configure_process()
    st.set_page_config(
        page_title="newsqa",
        page_icon=":material/newspaper:",
        layout="centered",
        initial_sidebar_state="expanded",
    )
    st.html(CSS)
    init_state()
    try:
        settings = Settings()
    except NewsQAError as exc:  # SettingsError: one line naming each bad variable
        st.error(escape_markdown(f"The NEWSQA_* settings are invalid: {exc}"))
        st.stop()
    try:
        qa, lock = load_library(settings.model_dump_json(), settings)
        with lock:
            articles = qa.articles()
    except Exception as exc:
        st.error(escape_markdown(describe_error(exc, "opened")), icon=":material/error:")
        st.stop()
    options = sidebar(qa, lock, articles, settings)
    chat(qa, lock, articles, options, settings)


if __name__ == "__main__":  # Streamlit runs the script as __main__; importing it runs nothing
    main()
