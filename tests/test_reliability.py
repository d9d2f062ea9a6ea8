"""Hostile input (issue 7): every bad file or question gets a specific message, never a
traceback, and a bad batch never touches the library that was there before it.

The hostile files are generated here; "unreadable" is real: the CLI runs as an
unprivileged user on a file with mode 000 (root reads anything, so chmod alone would
prove nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from newsqa import NewsQA, QuestionError
from newsqa.articles import discover, parse_file_results
from newsqa.chunking import chunk_article, split_sentences
from newsqa.models import Article, IngestReport

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
NEWSQA = Path(sys.executable).parent / "newsqa"

BODY = "The city council approved the new budget on Thursday after a long debate."
GERMAN = "Der Bürgermeister äußerte sich über die Größe des Straßenprojekts am Montag."
# A 5 MB "article" on one line: under the 20 MB file limit, over the article limit.
ONE_LINE = ("The council approved the budget after a long debate. " * 100_000)[:4_999_999] + "."


def write_hostile(root: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Build a folder of hostile files; return the expected (source, error) failures
    (errors as prefixes) and the sources expected to be added."""
    root.mkdir(parents=True)
    files: dict[str, bytes] = {
        "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        "empty.txt": b"",
        "blank.md": b"  \n\t \r\n \n",
        "invalid_utf8.txt": "Café owners said ".encode() + b"\xff" + b" the budget was fine.",
        "latin1.txt": GERMAN.encode("latin-1"),
        "utf16.md": "Über Köln\n\nDer Rat tagte am Montag über den Haushalt.".encode("utf-16"),
        "good.txt": f"date 2024-03-05\n{BODY}".encode(),
        "one_line.txt": ONE_LINE.encode(),
        "truncated.json": b'[{"title": "Cut", "text": "The council approved',
        "wrong_types.json": json.dumps(
            [
                {"title": "T", "text": 42},
                {"title": ["x"], "text": BODY + " Typed."},
                {"text": BODY + " Dated.", "date": 20240305},
            ]
        ).encode(),
        "records.jsonl": b"\n".join(
            [
                json.dumps({"title": "no text"}).encode(),
                json.dumps({"title": "Fine", "text": "The mayor opened the new bridge."}).encode(),
                b'{"title": "cut", "te',
            ]
        ),
        "scripts.html": b"<html><head><script>var a = 1;</script></head>"
        b"<body><script>document.write('x')</script><style>p{}</style></body></html>",
        "bad_date.txt": f"date 2024-02-30 {BODY}".encode(),
        "bad_month.md": f"---\ntitle: X\ndate: 2023-13-45\n---\n{BODY}".encode(),
        "folder.txt/inner.txt": b"A folder named like a file is walked like any folder.",
    }
    for name, data in files.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(data)
    with (root / "big.txt").open("w") as f:  # a real 50 MB text file
        chunk = BODY + "\n"
        f.write(chunk * (50_000_000 // len(chunk)))
        f.write("x" * (50_000_000 - f.tell()))
    (root / "loop").symlink_to(root, target_is_directory=True)  # walks back into itself
    (root / "self.txt").symlink_to(root / "self.txt")
    (root / "ping.txt").symlink_to(root / "pong.txt")
    (root / "pong.txt").symlink_to(root / "ping.txt")
    (root / "dangling.txt").symlink_to(root / "gone.txt")
    os.mkfifo(root / "pipe.txt")  # reading it would block forever

    r = str(root)
    failures = [
        (f"{r}/binary.txt", "binary file, not text"),
        (f"{r}/empty.txt", "empty file"),
        (f"{r}/blank.md", "empty file"),
        (
            f"{r}/invalid_utf8.txt",
            "not valid UTF-8 text (invalid byte 0xff at offset 18); save the file as UTF-8",
        ),
        (f"{r}/big.txt", "file is 50.0 MB, over the 20 MB limit (NEWSQA_MAX_FILE_BYTES)"),
        (
            f"{r}/one_line.txt",
            "article text is 5,000,000 characters, over the 1,000,000 limit "
            "(NEWSQA_MAX_ARTICLE_CHARS)",
        ),
        (f"{r}/truncated.json", "invalid JSON: Unterminated string"),
        (f"{r}/wrong_types.json", "record 1: 'text' must be a string, got int"),
        (f"{r}/wrong_types.json", "record 2: 'title' must be a string, got list"),
        (f"{r}/wrong_types.json", "record 3: 'date' must be a string, got int"),
        (f"{r}/records.jsonl", "line 1: missing 'text' (or 'body'/'content')"),
        (f"{r}/records.jsonl", "line 3: invalid JSON: Unterminated string"),
        (f"{r}/scripts.html", "no article text found in the HTML (scripts/markup only?)"),
        (
            f"{r}/bad_date.txt",
            "bad date '2024-02-30': day is out of range for month; expected YYYY-MM-DD",
        ),
        (f"{r}/bad_month.md", "bad date '2023-13-45': month must be in 1..12"),
        (f"{r}/self.txt", "symbolic link loop"),
        (f"{r}/ping.txt", "symbolic link loop"),
        (f"{r}/pong.txt", "symbolic link loop"),
        (f"{r}/dangling.txt", "broken symbolic link"),
        (f"{r}/pipe.txt", "not a regular file"),
    ]
    added = [
        f"{r}/latin1.txt",
        f"{r}/utf16.md",
        f"{r}/good.txt",
        f"{r}/records.jsonl#2",
        f"{r}/folder.txt/inner.txt",
    ]
    return failures, added


def check_failures(report: IngestReport, expected: list[tuple[str, str]]) -> None:
    got = sorted((r.source, r.error) for r in report.failed)
    assert len(got) == len(expected), got
    for (source, error), (want_source, prefix) in zip(got, sorted(expected), strict=True):
        assert source == want_source and error.startswith(prefix), (source, error, prefix)


def passages_by_article(qa: NewsQA) -> Counter[str]:
    return Counter(sp.passage.article_id for sp in qa.store.iter_passages())


def check_consistent(qa: NewsQA) -> None:
    """Every listed article has exactly its passages, and no passage lacks its article."""
    listed = {a.id: a.passages for a in qa.articles()}
    assert dict(passages_by_article(qa)) == listed
    assert qa.store.count_passages() == sum(listed.values())


# --- files -----------------------------------------------------------------------------------


def test_each_hostile_file_has_its_reason(tmp_path: Path) -> None:
    """Parsing alone (no model): the same reasons the ingest report carries."""
    expected, added = write_hostile(tmp_path / "hostile")
    files, errors = discover([tmp_path / "hostile"])
    outcomes = list(errors)
    parsed: dict[str, Article] = {}
    for path in files:
        for result in parse_file_results(path):
            if isinstance(result, Article):
                parsed[result.source] = result
            else:
                outcomes.append((str(path), str(result)))
    # The 5 MB line is a valid file; the article limit is applied by ingest.
    one_line = str(tmp_path / "hostile" / "one_line.txt")
    assert len(parsed.pop(one_line).text) == 5_000_000
    expected = [(source, error) for source, error in expected if source != one_line]
    assert len(outcomes) == len(expected), sorted(outcomes)
    for (source, error), (want_source, prefix) in zip(
        sorted(outcomes), sorted(expected), strict=True
    ):
        assert source == want_source and error.startswith(prefix), (source, error)
    assert sorted(parsed) == sorted(added)


@pytest.mark.slow
def test_hostile_batch_fails_each_bad_file_and_keeps_the_library(
    qa: NewsQA, tmp_path: Path
) -> None:
    assert qa.ingest([SEEDS]).ok
    before, count = qa.articles(), qa.store.count_passages()

    expected, added = write_hostile(tmp_path / "hostile")
    report = qa.ingest([tmp_path / "hostile"])

    check_failures(report, expected)
    assert sorted(r.source for r in report.results if r.status == "added") == sorted(added)
    after = {a.id: a for a in qa.articles()}
    assert all(after[a.id] == a for a in before)  # untouched, passages and all
    assert len(after) == len(before) + len(added)
    new_passages = sum(r.passages for r in report.results if r.status == "added")
    assert qa.store.count_passages() == count + new_passages
    check_consistent(qa)
    # The Latin-1 and UTF-16 files were decoded, not garbled.
    assert any(a.title.startswith("Der Bürgermeister äußerte") for a in after.values())
    assert any(a.title == "Über Köln" for a in after.values())


@pytest.mark.slow
def test_upload_names_with_paths_or_control_characters(qa: NewsQA, tmp_path: Path) -> None:
    assert qa.ingest([SEEDS]).ok
    before, count = qa.articles(), qa.store.count_passages()
    body = BODY.encode()
    uploads = [
        ("../../etc/passwd.txt", body),
        ("news/today.txt", body),
        ("..\\..\\evil.md", body),
        ("evil\x1b[2J.txt", body),
        ("nul\x00byte.txt", body),
        ("two\nlines.txt", body),
        ("  ", body),
        ("..", body),
        ("notes.exe", body),
        ("empty.txt", b""),
        ("good.txt", b"The harbour reopened on Friday after two weeks of repairs."),
    ]
    report = qa.ingest_files(uploads)
    failed = [(r.source, r.error) for r in report.results if r.status == "failed"]
    separator = "file name contains a path separator; give the file's name only"
    control = "file name contains control characters"
    assert failed[:8] == [
        ("../../etc/passwd.txt", separator),
        ("news/today.txt", separator),
        ("..\\..\\evil.md", separator),
        ("evil\\x1b[2J.txt", control),  # shown escaped: no terminal tricks in reports
        ("nul\\x00byte.txt", control),
        ("two\\nlines.txt", control),
        ("  ", "the upload has no file name"),
        ("..", separator),
    ]
    assert failed[8][1].startswith("unsupported file type '.exe'")
    assert failed[9] == ("empty.txt", "empty file")
    assert [(r.source, r.status) for r in report.results][-1] == ("upload:good.txt", "added")
    assert all(r.source.isprintable() for r in report.results)
    # Uploads never touch the disk: the data dir holds only the store and its caches.
    assert {p.name for p in qa.settings.data_dir.iterdir()} <= {
        "bm25",
        "chroma",
        "listing",
        "sentences",
        "stories",
        "write.lock",
    }
    after = {a.id: a for a in qa.articles()}
    assert all(after[a.id] == a for a in before) and len(after) == len(before) + 1
    assert qa.store.count_passages() == count + 1
    check_consistent(qa)


# Root reads any file, so as root the command runs with every capability dropped: uid 0
# is then an ordinary owner, refused a mode-000 file like anyone else (and, unlike a
# switch to another uid, it can still enter a checkout in a private folder).
WITHOUT_PRIVILEGES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all"]


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() == 0 and not shutil.which("setpriv"),
    reason="as root, needs setpriv (util-linux) to drop its privileges",
)
def test_unreadable_file_without_privileges(tmp_path: Path) -> None:
    """A real permission error: `newsqa ingest`, without privileges, on a mode-000 file."""
    news, data = tmp_path / "news", tmp_path / "data"
    news.mkdir()
    data.mkdir()
    (news / "secret.txt").write_text(f"{BODY} Nobody may read this one.")
    (news / "secret.txt").chmod(0o000)
    (news / "open.txt").write_text(BODY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env.update(NEWSQA_DATA_DIR=str(data))
    command = WITHOUT_PRIVILEGES if os.geteuid() == 0 else []
    probe = subprocess.run([*command, "cat", str(news / "secret.txt")], capture_output=True)
    assert probe.returncode != 0, "the command can still read a mode-000 file"
    done = subprocess.run(
        [*command, str(NEWSQA), "ingest", "--json", str(news)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr  # one file failed: non-zero exit
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert (report["added"], report["failed"]) == (1, 1)
    (failed,) = [r for r in report["results"] if r["status"] == "failed"]
    assert (failed["source"], failed["error"]) == (str(news / "secret.txt"), "permission denied")


# --- the 5 MB line ----------------------------------------------------------------------------


def best_of(runs: int, func: object, *args: object) -> float:
    assert callable(func)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - t)
    return min(times)


@pytest.mark.slow
def test_chunking_a_giant_line_stays_linear_and_fast() -> None:
    # No sentence ends at all (one 5 MB "word" run): cut into blocks, the splitter skipped.
    unpunctuated = " ".join(["lorem"] * 850_000)[:5_000_000]
    assert best_of(1, split_sentences, unpunctuated) < 10
    spans = split_sentences(unpunctuated)
    assert all(s.end - s.start <= 10_000 for s in spans)
    # Prose on one line: the splitter runs on bounded blocks, so time grows linearly
    # with size: 10x the text in about 10x the time, where a quadratic splitter takes
    # 100x. The bound sits between, as a loaded CI machine (one run here measured 44x
    # while other jobs shared the cores) stretches the ratio.
    sentence = "The council approved the budget after a long debate."
    small, large = " ".join([sentence] * 370), " ".join([sentence] * 3_700)  # 20 kB, 200 kB
    ratio = best_of(3, split_sentences, large) / best_of(5, split_sentences, small)
    assert ratio < 60, ratio
    # The cuts fall between sentences: every sentence is whole.
    article = Article(large, "t", None, "s")
    sentences = {large[s.start : s.end] for s in split_sentences(large)}
    assert sentences == {sentence}
    assert all(p.text == large[p.start : p.end] for p in chunk_article(article))


# --- questions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "the question is empty"),
        ("  \n\t  ", "the question is empty"),
        ("\x00\x07\x1b", "the question is empty"),
        (
            "x" * 100_000,
            "the question is 100,000 characters long; the limit is 2,000 "
            "(NEWSQA_MAX_QUESTION_CHARS)",
        ),
        (None, "the question must be text, got NoneType"),
    ],
)
@pytest.mark.slow
def test_unaskable_questions(seeded_qa: NewsQA, question: str, message: str) -> None:
    with pytest.raises(QuestionError) as info:
        seeded_qa.ask(question)
    assert str(info.value) == message


@pytest.mark.slow
def test_control_characters_are_stripped(seeded_qa: NewsQA) -> None:
    clean = seeded_qa.ask("How long was the recording?")
    dirty = seeded_qa.ask("How long\x00 was the\x1b recording?\x07\r\n\u200b")
    assert dirty.answerable and dirty.text == clean.text
    assert "38-minute" in dirty.text
    # A terminal colour sequence leaves "[31m" behind as text: no crash, answer or refusal.
    coloured = seeded_qa.ask("\x1b[31mHow long was the recording?\x1b[0m")
    assert coloured.text.strip()


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "Wie lange dauerte die Aufnahme?",
        "Combien de temps a duré l'enregistrement ?",
        "Сколько длилась запись?",
        "录音有多长？",
        "كم كانت مدة التسجيل؟",
        "Was sagte Peskow über die Untersuchung?",
        "🤔🤔🤔",
        "???",
        "the of and to",
        "Peskov " * 250,
    ],
)
def test_other_languages_and_odd_questions_answer_or_refuse(
    seeded_qa: NewsQA, question: str
) -> None:
    answer = seeded_qa.ask(question)
    assert answer.text.strip()
    if answer.answerable:
        for c in answer.citations:
            text = seeded_qa.store.article_text(c.article_id)
            assert c.verified and text is not None and text[c.start : c.end] == c.text
    else:
        assert not answer.citations


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "Error: the question is empty"),
        ("y" * 100_000, "Error: the question is 100,000 characters long; the limit is 2,000"),
    ],
)
def test_cli_bad_question_is_a_usage_error(tmp_path: Path, question: str, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env["NEWSQA_DATA_DIR"] = str(tmp_path / "lib")
    done = subprocess.run(
        [str(NEWSQA), "ask", question], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


# -- hostile content: citation markers inside an article ---------------------------------

FAKE_MARKERS = (
    "Bridge closure\n\n"
    "The harbour bridge will close for repairs on Friday, officials said [2]. "
    "Engineers found cracks in two of its supports [1][3]. "
    "Traffic will be sent through the tunnel until March."
)


def test_fake_citation_markers_in_an_article_stay_text(qa: NewsQA, tmp_path: Path) -> None:
    from newsqa.citations import verify_answer
    from newsqa.models import Answer, Citation
    from newsqa.text import MARKER

    (tmp_path / "bridge.txt").write_text(FAKE_MARKERS)
    assert qa.ingest([tmp_path / "bridge.txt"]).ok
    answer = qa.ask("When will the harbour bridge close, and what did engineers find?")
    assert answer.answerable and answer.citations
    # The answer's only markers are its own: one per citation, numbered 1..n.
    assert [int(m) for m in MARKER.findall(answer.text)] == [c.n for c in answer.citations]
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    # The article's "[2]", "[1][3]" are still in the quoted text, reading the same.
    shown = answer.text.replace("\u2060", "")
    for citation in answer.citations:
        assert citation.verified and citation.text in shown
    assert "officials said [2]." in shown or "supports [1][3]." in shown

    # Dropping a citation removes its marker only, not the article's brackets.
    forged = Citation(2, "no-such-article", "t", None, "s", "x", 0, 1, 1.0)
    first = answer.citations[0]
    text = f"{answer.text.split(' [1]')[0]} [1] Made up. [2]"
    checked = verify_answer(
        Answer(answer.question, text, True, [first, forged]), qa.store.article_text
    )
    assert checked.text.endswith("[1] Made up.") and len(checked.citations) == 1
    assert checked.text.replace("\u2060", "").startswith(first.text)

    # In the app, the article's brackets never become citation badges.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ui"))
    import newsqa_ui

    html = newsqa_ui.answer_html(answer.text, [c.n for c in answer.citations])
    assert html.count('class="nqa-ref"') == len(answer.citations)


def test_refusal_for_unverifiable_citations_keeps_timings_and_model_info() -> None:
    from newsqa.citations import verify_answer
    from newsqa.models import Answer, Citation

    forged = Citation(1, "a", "t", None, "s", "not in the article", 0, 18, 1.0)
    answer = Answer("Q?", "Made up [1].", True, [forged], mode="generative")
    answer.generation, answer.timings = {"model": "m"}, {"generate": 1.5}
    out = verify_answer(answer, lambda _: "something else entirely")
    assert not out.answerable and out.mode == "generative"
    assert out.generation == {"model": "m"} and out.timings == {"generate": 1.5}


# -- where newsqa writes, and what the app exposes -------------------------------------


def test_nothing_is_written_outside_the_data_dir(tmp_path: Path) -> None:
    """A CLI ingest and ask with HOME, caches and TMPDIR all fresh: only the data dir grows."""
    home, cache, tmp, data = (tmp_path / d for d in ("home", "cache", "tmp", "data"))
    for folder in (home, cache, tmp):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "HF_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(cache),
        TMPDIR=str(tmp),
        NEWSQA_DATA_DIR=str(data),
    )
    newsqa = Path(sys.executable).parent / "newsqa"
    seeds = Path(__file__).resolve().parents[1] / "seeds"
    for args in (["ingest", str(seeds)], ["ask", "What did Peskov say?"]):
        done = subprocess.run(
            [str(newsqa), *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
    for folder in (home, cache, tmp):
        left = [str(p.relative_to(folder)) for p in folder.rglob("*")]
        assert left == [], f"written outside the data dir, under {folder.name}: {left}"
    assert (data / "chroma").is_dir() and any((data / "bm25").rglob("*"))


def test_app_binds_localhost_limits_uploads_and_sends_no_usage_stats() -> None:
    import tomllib

    config = tomllib.loads(
        (Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text()
    )
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["maxUploadSize"] == 20  # MB, as NEWSQA_MAX_FILE_BYTES
    assert config["browser"]["gatherUsageStats"] is False
