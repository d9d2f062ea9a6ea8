"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Every app test points ``NEWSQA_DATA_DIR`` at its own library. Read-only tests
share one seeded library; tests that change it (upload, removal) get a copy.
The helpers in ``ui/newsqa_ui.py`` are also tested directly, without Streamlit.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import ChatMessage

from newsqa import NewsQA, Settings
from newsqa.models import Answer, Citation, FileResult, IngestReport
from newsqa.store import ArticleInfo

from .conftest import ROOT, SEEDS
from .test_faults import damage_passage_index, write_corpus

APP = ROOT / "ui" / "app.py"
SEED_TITLE = "The German government has strongly denied"
PESKOV_QUOTE = "We want to know what the investigation found"
COUNCIL_TITLE = "Millbrook council approves riverside bike lanes"
COUNCIL = f"""---
title: {COUNCIL_TITLE}
date: 2025-06-12
source: Millbrook Gazette
---
The Millbrook city council voted 7 to 2 on Tuesday to build protected bike lanes along \
Riverside Avenue. Mayor Elena Ortiz said the lanes would open before the end of next year.

Councillor Tom Becker, who voted against the plan, said the money should go to repairing \
roads first.
""".encode()
RUN_TIMEOUT = 180  # seconds; the first run in a process loads the model


def _load_ui_helpers() -> ModuleType:
    """Import ui/newsqa_ui.py under the name the app imports it by (it is not a package)."""
    if "newsqa_ui" in sys.modules:
        return sys.modules["newsqa_ui"]
    spec = importlib.util.spec_from_file_location("newsqa_ui", ROOT / "ui" / "newsqa_ui.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["newsqa_ui"] = module
    spec.loader.exec_module(module)
    return module


ui = _load_ui_helpers()


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library folder holding the seed article (ingested the way `make run` does)."""
    data_dir = tmp_path_factory.mktemp("app-seeded")
    report = NewsQA(Settings(data_dir=data_dir)).ingest([SEEDS])
    assert report.ok and report.count("added") == 1
    return data_dir


def _app(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(data_dir))
    # Settings from the developer's shell must not leak into the app under test.
    for name in ("NEWSQA_CHROMA_URL", "NEWSQA_LLM_GGUF", "NEWSQA_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(seeded_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app over the shared seeded library (do not change the library here)."""
    return _app(seeded_dir, monkeypatch)


@pytest.fixture
def own_app(seeded_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app over a private copy of the seeded library, free to change."""
    data_dir = tmp_path / "library"
    shutil.copytree(seeded_dir, data_dir)
    return _app(data_dir, monkeypatch)


# -- helpers -------------------------------------------------------------------------------


def messages(at: AppTest, role: str) -> list[ChatMessage]:
    return [m for m in at.chat_message if m.name == role]


def html_of(block: ChatMessage) -> str:
    return "\n".join(h.value for h in block.html)


def ask(at: AppTest, question: str) -> ChatMessage:
    """Submit ``question`` through the chat input; return the newest assistant message."""
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return messages(at, "assistant")[-1]


def upload(at: AppTest, files: Sequence[tuple[str, bytes]]) -> None:
    # Chosen files are added at once (the uploader's own callback starts the upload).
    at.file_uploader[0].set_value([(name, data, "text/plain") for name, data in files]).run()
    assert not at.exception, at.exception
    # In a browser the upload's progress reruns itself every UPLOAD_POLL_S until the
    # upload has finished; AppTest runs no timers, so the page is run again until then.
    deadline = time.monotonic() + RUN_TIMEOUT
    while at.session_state["upload"] is not None:
        assert time.monotonic() < deadline, "the upload did not finish"
        assert at.get("progress"), "a running upload shows its progress"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception


def sidebar_text(at: AppTest) -> str:
    parts = [h.value for h in at.sidebar.html]
    parts += [e.value for e in (*at.sidebar.caption, *at.sidebar.success, *at.sidebar.error)]
    return "\n".join(parts)


# -- the chat --------------------------------------------------------------------------------


@pytest.mark.slow
def test_first_visit_shows_library_and_example_questions(app: AppTest) -> None:
    assert [b.label for b in app.button if b.key and b.key.startswith("example_")] == list(
        ui.EXAMPLE_QUESTIONS
    )
    assert SEED_TITLE in sidebar_text(app)
    assert "1 article · 9 passages" in sidebar_text(app)
    assert not app.chat_message
    # Generative mode needs a model: without NEWSQA_LLM_* the selector stays hidden.
    assert not app.radio


@pytest.mark.slow
def test_answer_shows_markers_and_source_card(app: AppTest) -> None:
    reply = ask(app, "What did Peskov say?")
    body = html_of(reply)
    assert PESKOV_QUOTE in body
    assert '<span class="nqa-ref" title="Source 1">[1]</span>' in body
    assert SEED_TITLE in body and "5 Mar 2024" in body
    # The cited sentence is highlighted inside its passage, which has more around it.
    assert f'<mark class="nqa-hl">&quot;{PESKOV_QUOTE}' in body
    assert "The Kremlin said it is waiting" in body
    assert not reply.info and not reply.error
    assert messages(app, "user")[-1].markdown[0].value == ui.escape_markdown("What did Peskov say?")
    assert "answered in" in reply.caption[0].value


@pytest.mark.slow
def test_example_question_button_asks_it(app: AppTest) -> None:
    app.button(key="example_1").click().run()
    assert not app.exception
    reply = messages(app, "assistant")[-1]
    assert "38-minute recording" in html_of(reply)
    assert messages(app, "user")[-1].markdown[0].value.startswith("How long was the recording")
    assert not [b for b in app.button if b.key and b.key.startswith("example_")]


@pytest.mark.slow
def test_refusal_looks_like_a_refusal(app: AppTest) -> None:
    reply = ask(app, "What did Macron say?")
    assert reply.info, "a refusal is shown as a notice"
    assert "answer this question" in reply.info[0].value
    assert "Macron" in reply.info[0].value
    assert not reply.html, "a refusal has no answer text block and no source cards"


@pytest.mark.slow
def test_follow_up_uses_the_conversation(app: AppTest) -> None:
    first = ask(app, "Who is Maria Zakharova?")
    assert "Maria Zakharova" in html_of(first)
    follow = ask(app, "What did she say?")
    body = html_of(follow)
    assert "said Maria Zakharova" in body and "bad consequences for Germany" in body
    # The user can see how the follow-up was understood.
    assert "What did Maria Zakharova say" in follow.caption[0].value.replace("\\", "")
    assert len(messages(app, "assistant")) == 2


@pytest.mark.slow
def test_new_chat_forgets_the_conversation(app: AppTest) -> None:
    ask(app, "Who is Maria Zakharova?")
    app.button(key="new_chat").click().run()
    assert not app.chat_message
    assert app.button(key="example_0")
    # Without the history "she" refers to nobody: the question is taken as it is.
    reply = ask(app, "What did she say?")
    assert "read as" not in "".join(c.value for c in reply.caption)


@pytest.mark.slow
def test_date_filter_and_article_filter(app: AppTest) -> None:
    app.date_input(key="opt_from").set_value(date(2025, 1, 1)).run()
    reply = ask(app, "What did Peskov say?")
    assert reply.info and not reply.html, "the only article is older than the range"

    app.date_input(key="opt_from").set_value(date(2024, 3, 1)).run()
    app.date_input(key="opt_to").set_value(date(2024, 3, 31)).run()
    seed_id = app.multiselect(key="opt_articles").options[0]
    app.multiselect(key="opt_articles").select(seed_id).run()
    assert PESKOV_QUOTE in html_of(ask(app, "What did Peskov say?"))


@pytest.mark.slow
def test_bad_question_is_a_message_not_a_traceback(app: AppTest) -> None:
    # Only control characters: newsqa rejects it as empty (QuestionError). (Overlong
    # questions cannot reach it: the chat input stops at NEWSQA_MAX_QUESTION_CHARS.)
    reply = ask(app, "\x07\x08")
    assert reply.warning and "the question is empty" in reply.warning[0].value
    assert app.chat_input[0].proto.max_chars == 2_000
    assert not app.exception


@pytest.mark.slow
def test_bad_settings_are_reported(seeded_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(seeded_dir))
    monkeypatch.setenv("NEWSQA_TOP_K", "lots")
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert not at.exception
    assert "settings are invalid" in at.error[0].value
    assert "top\\_k" in at.error[0].value


@pytest.mark.slow
def test_generative_mode_offered_only_when_configured(
    seeded_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSQA_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(seeded_dir))
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT).run()
    assert not at.exception
    assert [o.split(":")[0] for o in at.radio(key="opt_mode").options] == [
        "Extractive",
        "Generative",
    ]
    assert at.radio(key="opt_mode").value == "extractive"


@pytest.mark.slow
@pytest.mark.slow
def test_damaged_index_is_rebuilt_while_the_app_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    news, data_dir = tmp_path / "news", tmp_path / "library"
    write_corpus(news, range(60))
    assert NewsQA(Settings(data_dir=data_dir)).ingest([news]).ok
    damage_passage_index(data_dir)  # as a kill while Chroma saved its index leaves it
    at = _app(data_dir, monkeypatch)  # loads, rebuilding the index first
    reply = ask(at, "What did Mayor Anna Petrov12 say the library would cost?")
    assert "97 thousand euros" in html_of(reply) and not reply.error
    assert [p.name for p in (data_dir / "damaged").iterdir()]  # the old index, kept


def test_empty_library_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path / "empty", monkeypatch)
    assert "Your library is empty" in at.info[0].value
    assert "No articles yet" in sidebar_text(at)
    reply = ask(at, "What did Peskov say?")
    assert reply.info and "library is empty" in reply.info[0].value


# -- the library -----------------------------------------------------------------------------


@pytest.mark.slow
def test_upload_good_and_bad_files(own_app: AppTest) -> None:
    at = own_app
    upload(
        at,
        [
            ("millbrook.md", COUNCIL),
            ("broken.json", b'{"title": "x", "text": '),
            ("empty.txt", b"   \n"),
        ],
    )
    success = "\n".join(s.value for s in at.sidebar.success)
    assert f"Added “{ui.escape_markdown(COUNCIL_TITLE)}”" in success
    assert "from millbrook" in success
    errors = [e.value.replace("\\", "") for e in at.sidebar.error]
    assert len(errors) == 2
    assert any("broken.json: invalid JSON" in e for e in errors), errors
    assert any("empty.txt: empty file" in e for e in errors), errors
    assert "2 articles" in sidebar_text(at)
    assert COUNCIL_TITLE in sidebar_text(at)
    # The uploader was emptied, so the files are not offered again.
    assert not at.file_uploader[0].value

    reply = ask(at, "How did the Millbrook council vote on the bike lanes?")
    body = html_of(reply)
    assert "voted 7 to 2" in body
    assert f'<span class="nqa-title">{COUNCIL_TITLE}</span>' in body
    assert SEED_TITLE not in body

    # The same file again changes nothing and says so.
    upload(at, [("millbrook.md", COUNCIL)])
    assert "Already in the library" in at.sidebar.success[0].value
    assert "2 articles" in sidebar_text(at)
    at.button(key="dismiss_results").click().run()
    assert not at.sidebar.success


@pytest.mark.slow
def test_untrusted_article_text_is_escaped(own_app: AppTest) -> None:
    hostile = (
        b"---\ntitle: <script>alert(1)</script> **Zorblatt** :red[alarm] $x$\n"
        b"date: 2025-01-02\n---\n"
        b'Councillor Zorblatt said <img src=x onerror="alert(2)"> the plan is **final** '
        b"and :material/home: [click](javascript:alert(3)).\n"
    )
    upload(own_app, [("hostile.txt", hostile)])
    listed = sidebar_text(own_app)
    assert "<script>" not in listed and "&lt;script&gt;" in listed
    reply = ask(own_app, "What did Councillor Zorblatt say?")
    body = html_of(reply)
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in body
    for raw in ("<script", "<img", 'javascript:alert(3)"'):
        assert raw not in body
    # Markdown syntax arrives as literal text: st.html never runs markdown.
    assert "**final**" in body and ":material/home:" in body


@pytest.mark.slow
def test_remove_article_asks_first(own_app: AppTest) -> None:
    at = own_app
    article_id = at.selectbox(key="remove_choice").options[0]
    at.selectbox(key="remove_choice").select(article_id).run()
    at.button(key="remove_start").click().run()
    assert "This cannot be undone" in at.sidebar.warning[0].value
    at.button(key="remove_cancel").click().run()
    assert not at.sidebar.warning
    assert "1 article" in sidebar_text(at)

    at.selectbox(key="remove_choice").select(article_id).run()
    at.button(key="remove_start").click().run()
    at.button(key="remove_confirm").click().run()
    assert not at.exception
    assert "Removed" in at.sidebar.success[0].value
    assert "No articles yet" in sidebar_text(at)
    assert "Your library is empty" in at.info[0].value
    reply = ask(at, "What did Peskov say?")
    assert reply.info and not reply.html


# -- helpers, without Streamlit --------------------------------------------------------------


def _citation(n: int, start: int, end: int, text: str, p: tuple[int, int]) -> Citation:
    return Citation(
        n=n,
        article_id="a1",
        title="T <b>",
        date="2024-03-05",
        source="https://example.org/x?a=1&b=2",
        text=text,
        start=start,
        end=end,
        score=0.9,
        passage_id="a1:00000",
        passage_start=p[0],
        passage_end=p[1],
        verified=True,
    )


def test_source_cards_group_a_passage_and_highlight_each_sentence() -> None:
    article = "Intro. First <cited>. Middle. Second cited. Outro."
    first, second = "First <cited>.", "Second cited."
    s1, s2 = article.index(first), article.index(second)
    answer = Answer(
        question="q",
        text=f"{first} [1] {second} [2]",
        answerable=True,
        citations=[
            _citation(1, s1, s1 + len(first), first, (0, len(article) - 7)),
            _citation(2, s2, s2 + len(second), second, (0, len(article) - 7)),
        ],
    )
    cards = ui.build_source_cards(answer, {"a1": article}.get)
    assert len(cards) == 1 and cards[0].numbers == (1, 2)
    assert [s.text for s in cards[0].segments if s.cited] == [first, second]
    assert "".join(s.text for s in cards[0].segments) == article[: len(article) - 7]
    html = ui.source_card_html(cards[0])
    assert '<mark class="nqa-hl">First &lt;cited&gt;.</mark>' in html
    assert "T &lt;b&gt;" in html
    assert 'href="https://example.org/x?a=1&amp;b=2"' in html
    assert html.rstrip("</div>").endswith("…")  # the passage stops before the article does


def test_source_card_survives_a_removed_article() -> None:
    answer = Answer("q", "Gone. [1]", True, [_citation(1, 0, 5, "Gone.", (0, 20))])
    cards = ui.build_source_cards(answer, lambda _id: None)
    assert [s.text for s in cards[0].segments] == ["Gone."]


def test_refusals_have_no_cards_and_markers_only_for_citations() -> None:
    assert ui.build_source_cards(Answer("q", "No.", False), lambda _id: "x") == []
    html = ui.answer_html('He said "<b>[3]</b>" [1]', [1])
    assert "&lt;b&gt;[3]&lt;/b&gt;" in html
    assert html.count("nqa-ref") == 1


def test_javascript_sources_never_become_links() -> None:
    card = ui.SourceCard((1,), "t", None, "javascript:alert(1)", (), False, False, True)
    html = ui.source_card_html(card)
    assert "<a " not in html and "undated" in html


def test_escape_markdown_makes_text_literal() -> None:
    assert ui.escape_markdown("**a** :red[b] $c$ <i>") == (r"\*\*a\*\* \:red\[b\] \$c\$ \<i\>")
    assert ui.escape_markdown("plain words") == "plain words"


def test_library_html_escapes_and_counts() -> None:
    info = ArticleInfo("id", "<Title>", None, "upload:a.txt", 1, 10)
    html = ui.library_html([info])
    assert "&lt;Title&gt;" in html and "1 passage ·" in html and "uploaded file a.txt" in html
    assert ui.article_label(info) == "<Title> · undated"


class _FakeLibrary:
    """Records what it is asked to ingest; fails on a file called boom.txt."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def ingest_files(
        self, files: Sequence[tuple[str, bytes]], *, progress: bool = False
    ) -> IngestReport:
        self.calls.append([name for name, _ in files])
        name = files[0][0]
        if name == "boom.txt":
            raise RuntimeError("disk full")
        if name == "bad.json":
            return IngestReport([FileResult(name, "failed", error="invalid JSON")])
        return IngestReport([FileResult(f"upload:{name}", "added", "id", "A title", 3)])


def test_ingest_uploads_one_file_at_a_time_with_progress() -> None:
    library = _FakeLibrary()
    progress: list[tuple[int, int, str]] = []
    outcome = ui.ingest_uploads(
        library,
        [("a.txt", b"x"), ("bad.json", b"{"), ("boom.txt", b"y")],
        on_progress=lambda *args: progress.append(args),
    )
    assert library.calls == [["a.txt"], ["bad.json"], ["boom.txt"]]
    assert progress == [(0, 3, "a.txt"), (1, 3, "bad.json"), (2, 3, "boom.txt"), (3, 3, "")]
    lines = [ui.result_line(r) for r in outcome.results]
    assert lines == [
        "Added “A title” (3 passages) from a.txt",
        "bad.json: invalid JSON",
        "boom.txt: RuntimeError: disk full",
    ]
    assert [r.file_name for r in outcome.failed] == ["bad.json", "boom.txt"]


@pytest.mark.slow
def test_ingest_uploads_with_the_real_library(qa: NewsQA) -> None:
    outcome = ui.ingest_uploads(qa, [("millbrook.md", COUNCIL), ("x.pdf", b"%PDF")])
    assert [r.result.status for r in outcome.results] == ["added", "failed"]
    assert "unsupported file type '.pdf'" in ui.result_line(outcome.results[1])
    assert [a.title for a in qa.articles()] == [COUNCIL_TITLE]
    assert qa.article_text(outcome.results[0].result.article_id) is not None
