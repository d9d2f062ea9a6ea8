"""Parsing files into articles: every format, every bad input, and folder discovery."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from newsqa.articles import (
    SUPPORTED_SUFFIXES,
    ArticleError,
    discover,
    parse_bytes,
    parse_bytes_results,
    parse_date,
    parse_file,
    parse_file_results,
)
from newsqa.models import Article, content_id

SEED = Path(__file__).resolve().parents[1] / "seeds" / "000_6eff8e50bb41c3d7.txt"
BODY = "The city council approved the new budget on Thursday after a long debate."


def one(data: bytes | str, name: str = "a.txt") -> Article:
    raw = data.encode() if isinstance(data, str) else data
    articles = parse_bytes(raw, name)
    assert len(articles) == 1
    return articles[0]


def error(data: bytes | str, name: str = "a.txt") -> str:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(ArticleError) as info:
        parse_bytes(raw, name)
    return str(info.value)


# --- text and markdown -------------------------------------------------------------------


def test_seed_file() -> None:
    (article,) = parse_file(SEED)
    raw = SEED.read_text(encoding="utf-8")
    assert article.date == "2024-03-05"
    assert article.text.startswith("The German government")
    assert article.text.endswith("said spokesperson Dmitry Peskov.")
    # The body is the file after the date token, stripped, with nothing rewritten inside.
    assert article.text == raw.split("2024-03-05", 1)[1].strip()
    assert "Russia‘s release" in article.text
    assert article.source == str(SEED)
    assert article.id == content_id(article.text)
    # No title in the file: the long first sentence, cut at a word boundary.
    assert article.title.endswith("…") and len(article.title) <= 120
    assert article.text.startswith(article.title[:-1])
    assert article.text[len(article.title) - 1] == " "


def test_seed_format_date_on_its_own_line() -> None:
    article = one(f"\n  date 2017-01-05\n\n{BODY}\n")
    assert (article.date, article.text, article.title) == ("2017-01-05", BODY, BODY)


def test_front_matter() -> None:
    text = (
        "---\ntitle: 'Council backs budget'\ndate: \"2017-01-05T10:00:00Z\"\n"
        "source: https://example.org/budget\nauthor: someone\n---\n\n" + BODY
    )
    article = one(text, "a.md")
    assert article.title == "Council backs budget"
    assert article.date == "2017-01-05"
    assert article.source == "https://example.org/budget"
    assert article.text == BODY


def test_front_matter_bad_date_is_reported() -> None:
    message = error(f"---\ntitle: X\ndate: 2024-02-30\n---\n{BODY}", "a.md")
    assert message.startswith("bad date '2024-02-30'") and "expected YYYY-MM-DD" in message


def test_markdown_heading_and_date_line() -> None:
    article = one(f"# Council backs budget #\n\nDate: 2024-03-05\n\n{BODY}", "a.markdown")
    assert article.title == "Council backs budget"
    assert (article.date, article.text) == ("2024-03-05", BODY)


def test_short_first_line_is_a_title() -> None:
    article = one(f"\n \nCouncil backs budget\n  \n{BODY}\n\nSecond paragraph here.")
    assert article.title == "Council backs budget"
    assert article.text == f"{BODY}\n\nSecond paragraph here."
    assert article.date is None


def test_first_sentence_is_the_title_when_none_is_given() -> None:
    article = one(f"{BODY} The mayor was pleased.\n\nMore text follows.")
    assert article.title == BODY
    assert article.text.startswith(BODY)
    # A short line ending a sentence is body text, not a headline.
    article = one(f"The vote passed.\n\n{BODY}")
    assert article.title == "The vote passed."
    assert article.text.startswith("The vote passed.")


def test_long_first_sentence_is_cut_at_a_word_boundary() -> None:
    words = " ".join(f"word{i}" for i in range(40))  # one 309-character sentence
    article = one(words + ".")
    # word0..word17 is 115 characters; adding " word18" would pass 119 + "…".
    assert article.title == " ".join(f"word{i}" for i in range(18)) + "…"
    assert len(article.title) <= 120


def test_text_is_verbatim_apart_from_newlines() -> None:
    raw = "Title line\r\n\r\n“Quoted,”  she said —  twice.\r\nNext line.   \r\n\r\n"
    article = one(raw.encode())
    assert article.text == "“Quoted,”  she said —  twice.\nNext line."


def test_unclosed_front_matter_is_plain_text() -> None:
    article = one(f"---\n{BODY}")
    assert article.text == f"---\n{BODY}"


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", "2024-03-05"),
        ("2017-01-05T10:00:00Z", "2017-01-05"),
        ("2017-01-05 10:00:00", "2017-01-05"),
        ("2017-01-05T10:00:00.123+02:00", "2017-01-05"),
        (" 2024-02-29 ", "2024-02-29"),
    ],
)
def test_parse_date_accepts_iso(value: str, expected: str) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["2024-02-30", "2023-02-29", "March 5, 2024", "05/03/2024", ""])
def test_parse_date_rejects_others(value: str) -> None:
    with pytest.raises(ArticleError, match=r"^bad date '.*'.*expected YYYY-MM-DD"):
        parse_date(value)


def test_impossible_seed_date() -> None:
    message = error(f"date 2024-02-30 {BODY}")
    assert message == "bad date '2024-02-30': day is out of range for month; expected YYYY-MM-DD"


# --- HTML ----------------------------------------------------------------------------------

HTML = """<!doctype html><html><head><title>Council backs budget | City Times</title>
<meta property="og:title" content="Council backs budget">
<meta property="article:published_time" content="2017-01-05T10:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/about">About us</a></nav>
<article><h1>Council backs budget</h1>
<p>The city council approved the new budget on Thursday after a long debate.</p>
<p>The mayor said the vote was a turning point for the city and its residents.</p></article>
<script>var tracking = "tracker code";</script>
<footer>Copyright City Times</footer></body></html>"""


def test_html_with_title_and_date() -> None:
    article = one(HTML, "page.html")
    assert article.title == "Council backs budget"
    assert article.date == "2017-01-05"
    assert article.text.startswith(BODY)
    assert article.text.endswith("turning point for the city and its residents.")
    for noise in ("tracker", "Home", "About us", "Copyright", "<p>"):
        assert noise not in article.text


def test_html_without_metadata_uses_first_sentence() -> None:
    article = one(f"<html><body><p>{BODY} More words here.</p></body></html>", "page.htm")
    assert (article.title, article.date) == (BODY, None)
    assert article.text == f"{BODY} More words here."


def test_html_with_only_scripts() -> None:
    page = "<html><head><script>var a = 1;</script></head><body><script>go()</script></body></html>"
    assert error(page, "empty.html") == "no article text found in the HTML (scripts/markup only?)"


# --- JSON and JSONL ---------------------------------------------------------------------------


def test_json_list_with_one_bad_record() -> None:
    records = [
        {"title": "First", "date": "2024-01-02", "text": BODY, "url": "https://x.org/1"},
        {"title": "No text"},
        {"body": "The mayor said the vote was a turning point for the city."},
        {"content": BODY + " Again.", "source": "wire", "date": "2024-13-01"},
        "not an object",
        {"text": BODY, "title": 7},
    ]
    results = parse_bytes_results(json.dumps(records).encode(), "feed.json", "/data/feed.json")
    assert len(results) == 6
    first, missing, second, bad_date, not_object, bad_type = results
    assert isinstance(first, Article) and isinstance(second, Article)
    assert (first.title, first.date, first.source) == ("First", "2024-01-02", "https://x.org/1")
    assert second.source == "/data/feed.json#3"
    assert second.title == "The mayor said the vote was a turning point for the city."
    assert str(missing) == "record 2: missing 'text' (or 'body'/'content')"
    assert str(bad_date).startswith("record 4: bad date '2024-13-01'")
    assert str(not_object) == "record 5: expected an object, got str"
    assert str(bad_type) == "record 6: 'title' must be a string, got int"
    # parse_bytes keeps the good records and drops the bad ones.
    assert parse_bytes(json.dumps(records).encode(), "feed.json", "/data/feed.json") == [
        first,
        second,
    ]


def test_json_single_object_uses_the_file_as_source(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"title": "T", "text": BODY, "date": "2017-01-05 10:00:00"}))
    (article,) = parse_file(path)
    assert (article.title, article.date, article.source) == ("T", "2017-01-05", str(path))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"text": "x",}]', "invalid JSON: Expecting property name enclosed in double quotes"),
        ("42", "JSON must be an object or a list of objects, got int"),
        ("[]", "no records in the JSON list"),
        ('[{"title": "a"}, {"text": 5}]', "record 1: missing 'text' (or 'body'/'content')"),
    ],
)
def test_json_whole_file_errors(content: str, expected: str) -> None:
    assert error(content, "f.json").startswith(expected)


def test_jsonl_with_one_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    lines = [
        json.dumps({"title": "A", "text": BODY}),
        "",
        '{"title": "broken", "text": "x" "y"}',
        json.dumps({"text": "The mayor said the vote was a turning point.", "date": "2024-03-05"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    results = parse_file_results(path)
    assert len(results) == 3
    good1, bad, good2 = results
    assert isinstance(good1, Article) and isinstance(good2, Article)
    assert (good1.title, good1.source) == ("A", f"{path}#1")
    assert (good2.date, good2.source) == ("2024-03-05", f"{path}#4")
    assert str(bad) == "line 3: invalid JSON: Expecting ',' delimiter"
    assert [a.title for a in parse_file(path)] == ["A", good2.title]


# --- bad input ------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArticleError, match=r"^no such file$"):
        parse_file(tmp_path / "nope.txt")
    (result,) = parse_file_results(tmp_path / "nope.txt")
    assert isinstance(result, ArticleError) and str(result) == "no such file"


def test_directory_given_as_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(ArticleError, match=r"^is a directory, not a file$"):
        parse_file(folder)


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.txt"
    path.write_text(BODY)

    # chmod 000 does not stop root, so the refusal is simulated at the open call.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ArticleError, match=r"^permission denied$"):
        parse_file(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(ArticleError, match=r"^not a regular file$"):
        parse_file(fifo)


def test_too_big(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(52_400_000)  # sparse: the size check must come before reading
    expected = "file is 52.4 MB, over the 20 MB limit (NEWSQA_MAX_FILE_BYTES)"
    with pytest.raises(ArticleError) as info:
        parse_file(path)
    assert str(info.value) == expected
    with pytest.raises(ArticleError, match=r"^file is 1\.2 kB, over the 1 kB limit"):
        parse_bytes(b"x" * 1200, "a.txt", max_bytes=1000)


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", bytes(range(1, 32)) * 20 + BODY.encode()],
)
def test_binary(data: bytes) -> None:
    assert error(data) == "binary file, not text"


@pytest.mark.parametrize("data", [b"", b"  \n\r\n\t ", b"\xef\xbb\xbf\n"])
def test_empty(data: bytes) -> None:
    assert error(data) == "empty file"


def test_too_little_text() -> None:
    assert error("Short text.") == "too little text (10 characters, at least 20 needed)"


def test_invalid_utf8() -> None:
    # Valid UTF-8 around one bad byte: a legacy decoding would garble the "é", so refuse.
    data = "Café owners said ".encode() + b"\xff" + b" the budget was fine."
    assert error(data) == (
        "not valid UTF-8 text (invalid byte 0xff at offset 18); save the file as UTF-8"
    )


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_legacy_single_byte_encodings(tmp_path: Path, encoding: str) -> None:
    text = "Der Bürgermeister äußerte sich über die Größe des Straßenprojekts – « très bien »."
    if encoding == "latin-1":
        text = text.replace("–", "-")  # no en dash in Latin-1
    path = tmp_path / "legacy.txt"
    path.write_bytes(text.encode(encoding))
    (article,) = parse_file(path)
    assert article.text == text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])
def test_unicode_with_bom(tmp_path: Path, encoding: str) -> None:
    text = f"Über Köln\r\n\r\n{BODY} “Fine,” she said."
    bom = {"utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path = tmp_path / "bom.md"
    path.write_bytes(bom + text.encode(encoding))
    (article,) = parse_file(path)
    assert article.title == "Über Köln"
    assert article.text == f"{BODY} “Fine,” she said."


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "doc.pdf"
    path.write_text(BODY)
    with pytest.raises(ArticleError, match=r"^unsupported file type '\.pdf' \(supported: "):
        parse_file(path)
    assert error(BODY, "notes").startswith("unsupported file type (no suffix)")
    assert one(BODY, "UPPER.TXT").text == BODY


# --- discover --------------------------------------------------------------------------------


def test_discover_nested_hidden_and_unsupported(tmp_path: Path) -> None:
    root = tmp_path / "news"
    for rel in [
        "b.txt",
        "a.md",
        "sub/z.json",
        "sub/deeper/c.html",
        "sub/notes.pdf",
        ".hidden.txt",
        ".git/config.txt",
        "sub/.cache/x.jsonl",
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(BODY)
    files, errors = discover([root])
    assert [p.relative_to(root).as_posix() for p in files] == [
        "a.md",
        "b.txt",
        "sub/deeper/c.html",
        "sub/z.json",
    ]
    assert errors == []
    assert all(p.suffix in SUPPORTED_SUFFIXES for p in files)


def test_discover_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text(BODY)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "sub" / "again.txt").symlink_to(root / "sub" / "a.txt")
    (root / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    files, errors = discover([root])
    assert files == [root / "sub" / "a.txt"]  # the file linked twice is listed once
    assert errors == [(str(root / "dangling.txt"), "broken symbolic link")]


def test_discover_explicit_inputs(tmp_path: Path) -> None:
    hidden = tmp_path / ".draft.txt"
    hidden.write_text(BODY)
    pdf = tmp_path / "report.pdf"
    pdf.write_text(BODY)
    missing = tmp_path / "missing.txt"
    files, errors = discover([hidden, missing, pdf, tmp_path, hidden])
    # An explicitly named hidden file is wanted; inside the folder it is skipped.
    assert files == [hidden]
    assert errors[0] == (str(missing), "no such file or directory")
    assert errors[1][0] == str(pdf) and errors[1][1].startswith("unsupported file type '.pdf'")
    assert len(errors) == 2
