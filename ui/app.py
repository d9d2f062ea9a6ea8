"""newsqa chat app: ask questions about your news articles; every answer shows its sources.

Start it with ``make run`` (which ingests ``seeds/`` first) or::

    NEWSQA_DATA_DIR=... streamlit run ui/app.py

Settings come from the same ``NEWSQA_*`` environment variables as the CLI. The
app is deliberately thin: it calls the public :class:`newsqa.NewsQA` API and only
decides how results look (see ``newsqa_ui``) and when work runs (see
``newsqa_jobs``, which also says why). One ``NewsQA`` per server process serves
every browser tab; its reads run side by side and it takes care of its own
writers (see ``newsqa.qa``). Other processes (``newsqa ingest`` in a terminal)
are kept in step by the store's file lock and generation stamp.

Every question is kept from the moment it is submitted: the chat input's
callback queues it and starts its job, and each run only shows the conversation
and waits on its oldest unanswered question, ``POLL_S`` at a time, so that any
other interaction interrupts the wait (the chat input takes the next question once
the run has drawn this one's answer).

A question reruns the conversation alone (a fragment), not the sidebar: with many
tabs on one machine, what the browsers re-render on each run is most of what an
answer waits for. See ``chat_fragment`` for how that keeps the guarantees above.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import streamlit as st
from newsqa_jobs import AskOptions, ChatTurn, Conversation, LibraryLoader, Upload, start_upload
from newsqa_ui import (
    CSS,
    EXAMPLE_QUESTIONS,
    UPLOAD_TYPES,
    FileOutcome,
    answer_caption,
    answer_html,
    article_label,
    describe_error,
    disagreement_note,
    escape_markdown,
    library_html,
    library_summary,
    page_label,
    result_line,
    sources_html,
)
from streamlit.delta_generator import DeltaGenerator
from web_section import web_section

from newsqa import NewsQA, NewsQAError, Settings
from newsqa.catalog import Catalog
from newsqa.runtime import configure_process
from newsqa.text import plural

log = logging.getLogger("newsqa.app")

ASSISTANT_AVATAR = ":material/newspaper:"
USER_AVATAR = ":material/person:"
MAX_K = 20
# Dates before this are surely typos; the picker's default floor (10 years ago) is
# too recent for an archive.
EARLIEST = date(1800, 1, 1)
LATEST = date(2200, 12, 31)
# How often a run waiting on a job looks again. Each look is a Streamlit call, the
# point where a new question can stop the run, so this bounds how long a question
# takes to show while another is being answered.
POLL_S = 0.2
UPLOAD_POLL_S = 0.5  # how often a running upload's progress is redrawn
# Questions answered at once across all sessions. Asks are short (tens of ms) and
# share two CPU cores here; more threads than that mostly add contention.
ASK_WORKERS = 4
LIBRARY_PAGE = 10  # articles per page in the sidebar
PICKER_LIMIT = 50  # articles offered by the pickers: those that match the library search


@dataclass
class Slot:
    """Where an unanswered turn's reply goes: a status line, then the answer below it."""

    box: DeltaGenerator
    line: DeltaGenerator
    shown: tuple[str, str] | None = None  # what the line says now (see ``waiting_line``)


@dataclass(frozen=True)
class Workers:
    """Process-wide thread pools: one for answering questions, one for uploads."""

    asks: ThreadPoolExecutor
    uploads: ThreadPoolExecutor


# -- shared resources ------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def library_loader(settings_key: str, _settings: Settings) -> LibraryLoader:
    """The process-wide library, loading in the background from the first visit on.

    Keyed by the settings so a process serving one configuration loads exactly
    once, while tests that point ``NEWSQA_DATA_DIR`` elsewhere get their own.
    """
    return LibraryLoader(_settings)


@st.cache_resource(show_spinner=False)
def workers() -> Workers:
    return Workers(
        asks=ThreadPoolExecutor(ASK_WORKERS, thread_name_prefix="newsqa-ask"),
        uploads=ThreadPoolExecutor(1, thread_name_prefix="newsqa-upload"),
    )


def generative_available(settings: Settings) -> bool:
    """Generative answers need a local GGUF model or an OpenAI-compatible server."""
    return bool(settings.llm_gguf or settings.llm_base_url)


# -- session state -----------------------------------------------------------------------


def init_state() -> None:
    defaults: dict[str, object] = {
        "conversation": Conversation(),
        "uploader_key": 0,
        "upload": None,
        "upload_results": [],
        "confirm_remove": None,
        "flash": None,
        "library_page": 0,
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def current_options() -> AskOptions:
    """The sidebar's options as they are now (callbacks run before the sidebar is drawn)."""
    state = st.session_state
    settings: Settings = state.settings
    date_from, date_to = state.get("opt_from"), state.get("opt_to")
    article_ids = state.get("opt_articles") or None
    mode = state.get("opt_mode") or settings.answer_mode
    return AskOptions(
        k=int(state.get("opt_k") or settings.top_k),
        date_from=date_from.isoformat() if isinstance(date_from, date) else None,
        date_to=date_to.isoformat() if isinstance(date_to, date) else None,
        article_ids=tuple(article_ids) if article_ids else None,
        # A generative mode set in the environment cannot run without a model.
        mode=mode if generative_available(settings) else "extractive",
    )


def queue_question(question: str) -> None:
    """Keep a question in the conversation; called from widget callbacks, which run
    before the script body, so a run stopped later cannot lose it. Its answer starts
    now (if no question before it is still waiting), while the run draws the chat."""
    conversation: Conversation = st.session_state.conversation
    conversation.add(question, current_options())
    settings: Settings = st.session_state.settings
    loader = library_loader(settings.model_dump_json(), settings)
    if loader.qa is not None:
        conversation.advance(loader.qa, workers().asks)


def submit_chat() -> None:
    question = st.session_state.get("chat_input")
    if isinstance(question, str) and question:
        queue_question(question)


def new_chat() -> None:
    st.session_state.conversation = Conversation()


def clear_upload_results() -> None:
    st.session_state.upload_results = []


# -- loading -----------------------------------------------------------------------------


def header() -> None:
    st.title("newsqa", anchor=False, icon=":material/newspaper:")
    st.caption("Ask questions about your news articles. Every answer cites its sentences.")


def show_loading(loader: LibraryLoader, settings: Settings) -> None:
    """Until the library is ready: a status line, and a chat input that takes nothing yet.

    A disabled input rather than one that accepts a question nobody can answer yet.
    """
    header()
    with st.sidebar:
        st.subheader("Library", anchor=False)
        st.caption("Loading…")
    status = st.empty()
    loading_chat_input(settings)
    shown = -1
    while not loader.wait(POLL_S):
        seconds = int(loader.elapsed)
        if seconds != shown:
            shown = seconds
            status.info(loading_message(loader, seconds), icon=":material/hourglass_top:")
    st.rerun()


def loading_message(loader: LibraryLoader, seconds: int) -> str:
    if loader.rebuilding is not None:
        done, total = loader.rebuilding
        return (
            "A crash left the library's search index unreadable; rebuilding it from "
            f"your articles… {done:,} of {total:,} passages, {seconds} s"
        )
    return f"Loading the language model and your library… {seconds} s"


def disabled_chat_input(settings: Settings) -> None:
    with st.bottom:
        st.chat_input(
            "Ask about your articles… (one moment: loading)",
            key="chat_input",
            max_chars=settings.max_question_chars,
            disabled=True,
        )


# Drawn by a fragment, as the ready page's chat input is (see ``chat_fragment``): in the
# same place of the page's tree, so that the browser turns the one into the other rather
# than showing both for a moment when the library has loaded.
loading_chat_input = st.fragment(disabled_chat_input)


def retry_loading() -> None:
    library_loader.clear()


def show_load_error(loader: LibraryLoader) -> None:
    header()
    assert loader.error is not None
    st.error(escape_markdown(describe_error(loader.error, "opened")), icon=":material/error:")
    st.button("Try again", on_click=retry_loading, key="retry_loading", icon=":material/refresh:")


# -- sidebar -----------------------------------------------------------------------------


def sidebar(qa: NewsQA, catalog: Catalog, settings: Settings, work: Workers) -> None:
    with st.sidebar:
        st.button(
            "New chat",
            icon=":material/edit_square:",
            on_click=new_chat,
            width="stretch",
            key="new_chat",
        )
        library_section(qa, catalog, work)
        web_section(qa)
        st.divider()
        options_section(catalog, settings)


def library_section(qa: NewsQA, catalog: Catalog, work: Workers) -> None:
    st.subheader("Library", anchor=False)
    show_flash()
    if catalog:
        st.caption(library_summary(len(catalog), catalog.passages))
        browse_section(catalog)
    else:
        st.caption("No articles yet: add some below.")
    with st.expander("Add articles", icon=":material/upload_file:", expanded=not catalog):
        upload_section(qa, work)
    show_upload_results()
    if catalog:
        with st.expander("Remove an article", icon=":material/delete:"):
            remove_section(qa, catalog)


def show_flash() -> None:
    flash = st.session_state.flash
    if flash is not None:
        st.session_state.flash = None  # shown once, after the rerun that caused it
        kind, message = flash
        show = {"success": st.success, "error": st.error}.get(kind, st.info)
        show(escape_markdown(message))


def first_library_page() -> None:
    st.session_state.library_page = 0


def turn_library_page(step: int) -> None:
    st.session_state.library_page += step


def browse_section(catalog: Catalog) -> None:
    """One page of the library, searchable: never the whole list, which may be thousands."""
    query = st.text_input(
        "Search the library",
        key="library_query",
        placeholder="Search by title, source or date",
        label_visibility="collapsed",
        on_change=first_library_page,
    )
    page = catalog.page(query, st.session_state.library_page, LIBRARY_PAGE)
    st.session_state.library_page = page.page  # clamped, e.g. after a removal
    if not page.matches:
        st.caption(f"No article matches “{escape_markdown(query.strip())}”.")
        return
    st.html(library_html(page.articles))
    if page.pages == 1 and page.matches == len(catalog):
        return
    back, where, forward = st.columns([1, 3, 1], vertical_alignment="center")
    back.button(
        "",
        icon=":material/chevron_left:",
        key="library_back",
        disabled=page.page == 0,
        on_click=turn_library_page,
        args=(-1,),
        help="Previous page",
    )
    where.caption(page_label(page.first, page.last, page.matches, len(catalog)))
    forward.button(
        "",
        icon=":material/chevron_right:",
        key="library_forward",
        disabled=page.page >= page.pages - 1,
        on_click=turn_library_page,
        args=(1,),
        help="Next page",
    )


def picker_ids(catalog: Catalog, chosen: list[str]) -> list[str]:
    """What a picker offers: the articles already chosen, then the first matches of the
    library search (a list of thousands would be sent to the browser on every rerun)."""
    matches = catalog.search(st.session_state.get("library_query") or "")
    offered = [i for i in chosen if catalog.get(i) is not None]
    offered += [a.id for a in matches[:PICKER_LIMIT] if a.id not in offered]
    return offered


PICKER_HELP = (
    f"Offers the first {PICKER_LIMIT} articles that match the library search above: "
    "search there to find others."
)


def upload_section(qa: NewsQA, work: Workers) -> None:
    """The uploader, or the progress of a running upload."""
    if st.session_state.upload is not None:
        upload_progress()
        return
    # Chosen files are added at once, from the uploader's own callback: the message that
    # carries the files is the one that starts their ingest. An "Add to library" button
    # needed a second message, and twice in CI a click on it (made the moment it was
    # enabled) never reached its callback, leaving the files staged and nothing said.
    st.file_uploader(
        "Article files",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        # A new key after each upload empties the uploader, so the same files are
        # not offered (and re-ingested) again.
        key=f"uploader_{st.session_state.uploader_key}",
        on_change=add_files,
        args=(qa, work),
        help="Files are added to the library as soon as you choose them. Plain text or "
        "Markdown (optional title:/date:/source: front matter), HTML pages, or "
        "JSON/JSONL records with title, date, text and url fields.",
    )


def add_files(qa: NewsQA, work: Workers) -> None:
    """Start ingesting the chosen files (a job: a question typed meanwhile stops nothing)."""
    files = st.session_state.get(f"uploader_{st.session_state.uploader_key}") or []
    uploads = [(f.name, f.getvalue()) for f in files]
    if uploads:
        st.session_state.upload = start_upload(qa, uploads, work.uploads)
        st.session_state.upload_results = []
        st.session_state.uploader_key += 1


def show_upload_progress() -> None:
    """A running upload's progress; once it has finished, the page with its results."""
    upload: Upload | None = st.session_state.upload
    if upload is None:
        return  # finished, and shown by the run that followed
    if upload.finished:
        finish_upload(upload)  # reruns, so the library lists the new articles
    done = min(upload.done, upload.total)
    name = escape_markdown(upload.current)
    text = f"Adding {name} ({done + 1} of {upload.total})…" if name else "Reading the files…"
    st.progress(done / max(upload.total, 1), text=text)


# An upload is followed by a fragment that reruns itself every UPLOAD_POLL_S, not by a
# run that waits for it: a run that waits would hold back every question asked
# meanwhile, since a question reruns the chat's fragment, and a fragment's rerun waits
# for the run in progress to end (it does not stop it, as a whole-page rerun does).
upload_progress = st.fragment(show_upload_progress, run_every=UPLOAD_POLL_S)


def finish_upload(upload: Upload) -> None:
    """Keep an upload's results for the sidebar, then rerun so the library shows them."""
    assert upload.outcome is not None
    st.session_state.upload_results = upload.outcome.results
    st.session_state.upload = None
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


def confirm_remove(qa: NewsQA, article_id: str, title: str) -> None:
    """Remove the article. A callback, so the run that follows already lists the library
    without it (and may reset the picker, which a script cannot once it is drawn)."""
    try:
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


def remove_section(qa: NewsQA, catalog: Catalog) -> None:
    # Forget a choice whose article is gone (removed here or by another process).
    if catalog.get(st.session_state.get("remove_choice") or "") is None:
        st.session_state.remove_choice = None
    if catalog.get(st.session_state.confirm_remove or "") is None:
        st.session_state.confirm_remove = None

    chosen = st.session_state.remove_choice
    choice = st.selectbox(
        "Article",
        picker_ids(catalog, [chosen] if chosen else []),
        format_func=lambda i: article_label(catalog[i]),
        index=None,
        placeholder="Choose an article",
        key="remove_choice",
        help=PICKER_HELP,
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

    info = catalog.get(pending)
    assert info is not None
    st.warning(
        f"Remove **{escape_markdown(info.title)}** ({plural(info.passages, 'passage')}) from the "
        "library? This cannot be undone.",
        icon=":material/warning:",
    )
    yes, no = st.columns(2)
    yes.button(
        "Remove",
        type="primary",
        on_click=confirm_remove,
        args=(qa, info.id, info.title),
        key="remove_confirm",
        width="stretch",
    )
    no.button("Cancel", on_click=cancel_remove, key="remove_cancel", width="stretch")


def options_section(catalog: Catalog, settings: Settings) -> None:
    """Retrieval options; their values are read from the session state when a
    question is queued (see ``current_options``).

    The sidebar says which options are in force; the widgets that change them are in a
    popover, which the browser draws only when it is opened: every tab draws the whole
    page when it loads, and these BaseWeb widgets are the heaviest part of it."""
    st.subheader("Options", anchor=False)
    st.caption(escape_markdown(options_summary(current_options(), catalog)))
    with st.popover("Change options", icon=":material/tune:", width="stretch"):
        option_widgets(catalog, settings)


def options_summary(options: AskOptions, catalog: Catalog) -> str:
    """The options in force, in one line: "6 passages · any date · all articles"."""
    if options.date_from and options.date_to:
        dates = f"{options.date_from} to {options.date_to}"
    elif options.date_from:
        dates = f"from {options.date_from}"
    elif options.date_to:
        dates = f"until {options.date_to}"
    else:
        dates = "any date"
    chosen = [a for a in options.article_ids or () if catalog.get(a) is not None]
    articles = (
        "all articles" if not chosen else f"{len(chosen)} article{'s' if len(chosen) > 1 else ''}"
    )
    return f"{options.k} passages · {dates} · {articles}"


def option_widgets(catalog: Catalog, settings: Settings) -> None:
    st.slider(
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

    selected = st.session_state.get("opt_articles") or []
    if any(catalog.get(i) is None for i in selected):
        st.session_state.opt_articles = [i for i in selected if catalog.get(i) is not None]
    st.multiselect(
        "Only these articles",
        picker_ids(catalog, list(st.session_state.get("opt_articles") or [])),
        format_func=lambda i: article_label(catalog[i]),
        placeholder="All articles",
        key="opt_articles",
        help=PICKER_HELP,
    )

    if generative_available(settings):
        st.radio(
            "Answer mode",
            ["extractive", "generative"],
            index=0 if settings.answer_mode == "extractive" else 1,
            format_func=lambda m: {
                "extractive": "Extractive: quotes the articles",
                "generative": "Generative: a local model writes the answer",
            }[m],
            key="opt_mode",
        )


# -- chat ----------------------------------------------------------------------------------


def render_answer(turn: ChatTurn) -> None:
    """The assistant's side of a finished turn."""
    if turn.answer is None:
        show = st.warning if turn.level == "warning" else st.error
        show(escape_markdown(turn.error))
        return
    answer = turn.answer
    if answer.answerable:
        note = disagreement_note(answer)
        if note:
            st.warning(escape_markdown(note), icon=":material/compare_arrows:")
        # One element, not two: every element is re-sent and re-rendered on each rerun.
        cards = sources_html(turn.cards) if turn.cards else ""
        st.html(answer_html(answer.text, [c.n for c in answer.citations]) + cards)
    else:
        # A refusal looks like one: a notice, and no source cards.
        st.info(escape_markdown(answer.text), icon=":material/search_off:")
    caption = answer_caption(answer)
    if caption:
        st.caption(escape_markdown(caption))


def waiting_line(turn: ChatTurn) -> tuple[str, str]:
    """What an unanswered turn shows, as ("text" or "caption", content): the model's
    draft so far, or how long it has been waiting, in whole seconds."""
    if turn.draft:
        # The draft is unchecked model output: shown as plain text, then replaced.
        return "text", turn.draft
    if turn.job is None:
        return "caption", ":material/schedule: Queued: answered after the question before it."
    waited = int(time.monotonic() - turn.asked_at)
    clock = f" {waited} s" if waited else ""
    return "caption", f":material/hourglass_top: Searching your articles…{clock}"


def show_waiting(turn: ChatTurn, slot: Slot) -> None:
    """Draw an unanswered turn's line when it changed. Each redraw is a message to the
    browser and a re-render of the page there, which with many tabs on one machine is
    what answers wait for; so it says whole seconds, and says nothing new otherwise."""
    line = waiting_line(turn)
    if slot.shown == line:
        return
    slot.shown = line
    kind, content = line
    if kind == "text":
        slot.line.text(content)
    else:
        slot.line.caption(content)


def show_answer(turn: ChatTurn, slot: Slot) -> None:
    slot.line.empty()
    with slot.box:
        render_answer(turn)


def welcome(catalog: Catalog) -> None:
    """What a first-time user sees before asking anything."""
    if not catalog:
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
            on_click=queue_question,
            args=(question,),
            key=f"example_{i}",
            width="stretch",
            icon=":material/chat_bubble:",
        )
    st.caption(
        "Answers quote the articles' own sentences and every sentence links to the passage "
        "it comes from. When the articles don't say, newsqa tells you so instead of guessing."
    )


def chat(catalog: Catalog, settings: Settings) -> dict[int, Slot]:
    """The conversation as it stands; returns a slot per unanswered turn, by ``id(turn)``."""
    # Pinned to the bottom of the page, where Streamlit puts a chat input drawn at the
    # top level; drawn in a fragment, it would otherwise stay where it was drawn.
    with st.bottom:
        st.chat_input(
            "Ask about your articles…",
            key="chat_input",
            max_chars=settings.max_question_chars,
            on_submit=submit_chat,
            # Takes the next question once the run that keeps this one has finished:
            # Streamlit delivers one chat value per run, so a second question sent
            # before that run starts would replace the first.
            submit_mode="disable",
        )
    conversation: Conversation = st.session_state.conversation
    if not conversation.turns:
        welcome(catalog)
    slots: dict[int, Slot] = {}
    for turn in list(conversation.turns):
        with st.chat_message("user", avatar=USER_AVATAR):
            st.markdown(escape_markdown(turn.question))
        with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
            if turn.done:
                render_answer(turn)
            else:
                box = st.container()
                slots[id(turn)] = Slot(box, box.empty())
    return slots


def follow_jobs(qa: NewsQA, work: Workers, slots: dict[int, Slot]) -> None:
    """Answer the queued questions in order. Every look reads the session state, a
    Streamlit call: where a new interaction can stop this run. The jobs go on, and the
    next run picks them up."""
    conversation: Conversation = st.session_state.conversation
    conversation.advance(qa, work.asks)
    # The unanswered turns this run drew, oldest first (later ones: the next run's).
    drawn = [t for t in conversation.turns if id(t) in slots]
    for turn in drawn:
        show_waiting(turn, slots[id(turn)])
    while True:
        # Reading the session state is a look (see the docstring): where a new
        # interaction stops this run.
        if st.session_state.conversation is not conversation:
            return  # "New chat": the run that follows draws the new one
        conversation.advance(qa, work.asks)
        # Every answer that has come, whichever look noticed it: a job may finish
        # between one look's timeout and the next, and its slot must not be left
        # saying "Searching…" when this run ends.
        for turn in drawn:
            if turn.done and id(turn) in slots:
                show_answer(turn, slots.pop(id(turn)))
        waiting = next((t for t in drawn if id(t) in slots), None)
        if waiting is None:
            return
        if not waiting.wait(POLL_S):
            show_waiting(waiting, slots[id(waiting)])


def show_conversation(qa: NewsQA, catalog: Catalog, settings: Settings, work: Workers) -> None:
    """The chat: the conversation drawn, then its questions answered."""
    slots = chat(catalog, settings)
    follow_jobs(qa, work, slots)


# The conversation as a fragment: a question (or an example button) reruns it alone, so
# the browser re-renders the chat, not the sidebar. The guarantees in ``newsqa_jobs``
# hold as before: the chat input's callback keeps the question before any run, and a
# sidebar interaction is a whole-page rerun, which stops a chat run at its next look.
# A fragment's rerun waits for a run in progress instead of stopping it, so no run may
# wait on anything but answers: a running upload is followed by a fragment of its own
# (``upload_progress``). It is always the fragment that draws the conversation: drawn
# by the page instead (as it once was during uploads), it sat elsewhere in the page's
# tree, and at each switch the browser rebuilt it, showing old and new turns, and two
# chat inputs, until the run ended.
chat_fragment = st.fragment(show_conversation)


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
    st.session_state.settings = settings  # for the callbacks, which run before this line
    configure_process(local_llm=settings.llm_gguf is not None)  # before the library loads
    loader = library_loader(settings.model_dump_json(), settings)
    if not loader.ready:
        show_loading(loader, settings)  # reruns once loaded
    if loader.qa is None:
        show_load_error(loader)
        st.stop()
    qa = loader.qa
    try:
        catalog = qa.catalog()
    except Exception as exc:
        header()
        st.error(escape_markdown(describe_error(exc, "opened")), icon=":material/error:")
        st.stop()
    work = workers()
    sidebar(qa, catalog, settings, work)
    header()
    chat_fragment(qa, catalog, settings, work)


if __name__ == "__main__":  # Streamlit runs the script as __main__; importing it runs nothing
    main()
