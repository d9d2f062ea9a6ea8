"""Turn files (text, markdown, HTML, JSON, JSONL) into :class:`Article` objects.

Article text is kept verbatim apart from newline normalisation and outer whitespace,
because citations are character offsets into ``Article.text``.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import re
import stat
from collections.abc import Sequence
from datetime import date as _date
from pathlib import Path
from typing import Any

import charset_normalizer
import trafilatura
from trafilatura.settings import Document, set_date_params

from newsqa.chunking import split_sentences
from newsqa.models import Article
from newsqa.settings import default

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(
    {".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl"}
)
_TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
DEFAULT_MAX_BYTES: int = default("max_file_bytes")
MIN_TEXT_CHARS = 20  # non-space characters; less than this is no article
TITLE_MAX_CHARS = 120
_LEGACY_ENCODINGS = ["cp1252", "latin_1", "iso8859_15"]

_DATE_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
# "date 2024-03-05 Body..." (seed format, date token only) or a "Date: <value>" header line.
_SEED_DATE_RE = re.compile(r"[ \t]*date[ \t]+(" + _DATE_RE.pattern + r")(?=\s|$)", re.I)
_HEADER_DATE_RE = re.compile(r"[ \t]*date[ \t]*:[ \t]*([^\n]*)", re.I)
_HEADING_RE = re.compile(r"[ \t]*#{1,6}[ \t]+([^\n]+?)[ \t#]*(?:\n|$)")
# A well-formed UTF-8 multi-byte sequence: real cp1252/Latin-1 prose almost never has one,
# so a file containing them is broken UTF-8, which a legacy decoding would turn to mojibake.
_UTF8_SEQ_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_BOMS = (  # UTF-32 first: its little-endian BOM begins with the UTF-16 one.
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class ArticleError(ValueError):
    """A file or record that cannot be turned into an article.

    ``str(e)`` is a specific, user-facing reason.
    """


def parse_date(value: str) -> str:
    """Normalise ``YYYY-MM-DD`` or an ISO datetime to ``YYYY-MM-DD``; raise ArticleError."""
    m = _DATE_RE.fullmatch(value.strip())
    if not m:
        raise ArticleError(f"bad date '{value}': not an ISO date; expected YYYY-MM-DD")
    try:
        return _date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError as e:
        raise ArticleError(f"bad date '{value}': {e}; expected YYYY-MM-DD") from None


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} kB" if n >= 1000 else f"{n} bytes"


def _too_big(n: int, max_bytes: int) -> ArticleError:
    limit = _size(max_bytes).replace(".0 ", " ")
    return ArticleError(f"file is {_size(n)}, over the {limit} limit (NEWSQA_MAX_FILE_BYTES)")


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = f"'{suffix}'" if suffix else "(no suffix)"
        supported = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise ArticleError(f"unsupported file type {shown} (supported: {supported})")
    return suffix


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    head = data[:65536]
    controls = sum(1 for b in head if (b < 32 and b not in b"\t\n\r\f\v\x1b") or b == 127)
    return controls > 0.05 * len(head)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode(data: bytes) -> str:
    """Bytes -> text with ``\\n`` newlines; raise ArticleError if they are not text."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return _newlines(data.decode(codec))
            except UnicodeDecodeError as e:
                name = codec.removesuffix("-sig").upper()
                raise ArticleError(
                    f"not valid {name} text despite its byte-order mark ({e.reason})"
                ) from None
    if _looks_binary(data):
        raise ArticleError("binary file, not text")
    try:
        return _newlines(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        legacy = None if _UTF8_SEQ_RE.search(data) else _decode_legacy(data)
        if legacy is None:
            raise ArticleError(
                f"not valid UTF-8 text (invalid byte 0x{data[e.start]:02x} at offset {e.start})"
                "; save the file as UTF-8"
            ) from None
        return _newlines(legacy)


def _decode_legacy(data: bytes) -> str | None:
    # Only Western single-byte encodings: unrestricted guesses on short news text pick
    # exotic code pages (cp775 for plain French) and would silently garble it.
    best = charset_normalizer.from_bytes(data, cp_isolation=_LEGACY_ENCODINGS).best()
    if best is None or best.chaos > 0.2:
        return None
    text = str(best)
    printable = sum(1 for c in text if c.isprintable() or c in "\n\r\t")
    return text if printable >= 0.95 * len(text) else None


def _check_text(text: str) -> str:
    text = text.strip()
    chars = sum(1 for c in text if not c.isspace())
    if chars < MIN_TEXT_CHARS:
        raise ArticleError(
            f"too little text ({chars} characters, at least {MIN_TEXT_CHARS} needed)"
        )
    return text


def title_from_text(text: str) -> str:
    """The first sentence, cut at a word boundary to at most TITLE_MAX_CHARS (+ "…")."""
    # Only the opening is segmented: no need to split a whole long article.
    spans = split_sentences(text[:2000])
    first = text[spans[0].start : spans[0].end] if spans else text
    first = " ".join(first.split())
    if len(first) <= TITLE_MAX_CHARS:
        return first
    window = first[:TITLE_MAX_CHARS]  # the cut drops at least one char, leaving room for "…"
    cut = window.rsplit(" ", 1)[0] if " " in window else window[:-1]
    return cut.rstrip(" ,;:-–—") + "…"


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split ``---`` key: value front matter off the text (only if it is closed)."""
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for i, line in enumerate(lines[1:50], start=1):
        if line.strip() == "---":
            meta: dict[str, str] = {}
            for entry in lines[1:i]:
                key, sep, value = entry.partition(":")
                if sep and key.strip():
                    meta[key.strip().lower()] = _unquote(value)
            return meta, "\n".join(lines[i + 1 :])
    return {}, text


def _take_date_line(body: str) -> tuple[str | None, str]:
    body = body.lstrip()
    if m := _SEED_DATE_RE.match(body):
        return parse_date(m[1]), body[m.end() :]
    if m := _HEADER_DATE_RE.match(body):
        return parse_date(m[1]), body[m.end() :]
    return None, body


def _take_title_line(body: str) -> tuple[str | None, str]:
    body = body.lstrip()
    if m := _HEADING_RE.match(body):
        return m[1].strip(), body[m.end() :]
    # A short line not ending a sentence, a blank line, then more text: a headline.
    lines = body.split("\n", 2)
    if len(lines) == 3 and not lines[1].strip() and lines[2].strip():
        line = lines[0].strip()
        if len(line) < 150 and not line.rstrip("\"'”’)]").endswith("."):
            return line, lines[2]
    return None, body


def _parse_text(text: str, source: str) -> Article:
    meta, body = _front_matter(text)
    title = meta.get("title") or None
    date = parse_date(meta["date"]) if meta.get("date") else None
    if date is None:
        date, body = _take_date_line(body)
    if title is None:
        title, body = _take_title_line(body)
        if title is not None and date is None:
            date, body = _take_date_line(body)
    body = _check_text(body)
    source = meta.get("source") or meta.get("url") or source
    return Article(text=body, title=title or title_from_text(body), date=date, source=source)


def _parse_html(html: str, source: str) -> Article:
    doc = trafilatura.bare_extraction(
        html,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        with_metadata=True,
        # Only dates marked up as such: guessing from body text invents wrong dates.
        date_extraction_params=set_date_params(extensive=False),
    )
    text = _newlines(doc.text or "").strip() if isinstance(doc, Document) else ""
    if not isinstance(doc, Document) or not text:
        raise ArticleError("no article text found in the HTML (scripts/markup only?)")
    title = " ".join((doc.title or "").split()) or None
    if title and text.split("\n", 1)[0].strip() == title:
        # trafilatura repeats the <h1> headline as the first line of the body.
        text = text.split("\n", 1)[1] if "\n" in text else text
    try:
        date = parse_date(doc.date) if doc.date else None
    except ArticleError:
        date = None  # metadata dates are a guess; a bad one must not lose the article
    text = _check_text(text)
    return Article(text=text, title=title or title_from_text(text), date=date, source=source)


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise ArticleError(f"'{key}' must be a string, got {type(value).__name__}")
    return value.strip() if value else None


def _parse_record(record: Any, label: str, fallback_source: str) -> Article | ArticleError:
    try:
        if not isinstance(record, dict):
            raise ArticleError(f"expected an object, got {type(record).__name__}")
        key = next((k for k in ("text", "body", "content") if record.get(k) is not None), None)
        if key is None:
            raise ArticleError("missing 'text' (or 'body'/'content')")
        text = _optional_str(record, key) or ""
        title = _optional_str(record, "title")
        raw_date = _optional_str(record, "date")
        source = _optional_str(record, "url") or _optional_str(record, "source")
        text = _check_text(_newlines(text))
        date = parse_date(raw_date) if raw_date else None
        return Article(text, title or title_from_text(text), date, source or fallback_source)
    except ArticleError as e:
        return ArticleError(f"{label}: {e}")


def _parse_json(text: str, source: str) -> list[Article | ArticleError]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArticleError(f"invalid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    if isinstance(data, dict):
        return [_parse_record(data, "record 1", source)]
    if not isinstance(data, list):
        raise ArticleError(
            f"JSON must be an object or a list of objects, got {type(data).__name__}"
        )
    if not data:
        raise ArticleError("no records in the JSON list")
    return [_parse_record(r, f"record {i}", f"{source}#{i}") for i, r in enumerate(data, 1)]


def _parse_jsonl(text: str, source: str) -> list[Article | ArticleError]:
    results: list[Article | ArticleError] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            results.append(ArticleError(f"line {n}: invalid JSON: {e.msg}"))
            continue
        results.append(_parse_record(record, f"line {n}", f"{source}#{n}"))
    return results


def parse_bytes_results(
    data: bytes, name: str, source: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Article | ArticleError]:
    """Parse one file's content into per-record outcomes (never raises ArticleError).

    Whole-file problems (type, size, binary, encoding, empty, bad JSON) give a
    one-element list holding the error; JSON/JSONL give one entry per record.
    """
    source = source or name
    try:
        suffix = _suffix(name)
        if len(data) > max_bytes:
            raise _too_big(len(data), max_bytes)
        text = decode(data)
        if not text.strip():
            raise ArticleError("empty file")
        if suffix == ".json":
            return _parse_json(text, source)
        if suffix == ".jsonl":
            return _parse_jsonl(text, source)
        if suffix in _TEXT_SUFFIXES:
            return [_parse_text(text, source)]
        return [_parse_html(text, source)]
    except ArticleError as e:
        return [e]


def _first_or_raise(results: list[Article | ArticleError]) -> list[Article]:
    articles = [r for r in results if isinstance(r, Article)]
    if not articles:
        raise next(r for r in results if isinstance(r, ArticleError))
    return articles


def parse_bytes(
    data: bytes, name: str, source: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Article]:
    """Parse the content of a file named ``name`` (format from its suffix).

    Returns the articles (bad JSON records are dropped; see ``parse_bytes_results``)
    and raises the first ArticleError only when nothing could be parsed.
    """
    return _first_or_raise(parse_bytes_results(data, name, source, max_bytes=max_bytes))


def parse_file_results(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Article | ArticleError]:
    """Read and parse one file into per-record outcomes; source is ``str(path)``."""
    try:
        try:
            st = path.stat()
            if stat.S_ISDIR(st.st_mode):
                raise ArticleError("is a directory, not a file")
            if not stat.S_ISREG(st.st_mode):
                # Reading a FIFO or device could block forever or never end.
                raise ArticleError("not a regular file")
            _suffix(path.name)
            if st.st_size > max_bytes:
                raise _too_big(st.st_size, max_bytes)
            with path.open("rb") as f:
                data = f.read(max_bytes + 1)  # +1: the file may have grown since stat
        except FileNotFoundError:
            broken = path.is_symlink()
            raise ArticleError("broken symbolic link" if broken else "no such file") from None
        except PermissionError:
            raise ArticleError("permission denied") from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ArticleError("symbolic link loop") from None
            raise ArticleError(f"cannot read file: {e.strerror or e}") from None
    except ArticleError as e:
        return [e]
    return parse_bytes_results(data, path.name, str(path), max_bytes=max_bytes)


def parse_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    """Read and parse one file; source is ``str(path)``. Raises ArticleError."""
    return _first_or_raise(parse_file_results(path, max_bytes=max_bytes))


def _not_a_file(path: Path) -> str | None:
    """Why ``path`` (neither a folder nor a regular file) cannot be read, or None."""
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop"
        if e.errno == errno.ENOENT:
            return "broken symbolic link" if path.is_symlink() else "no such file"
        return f"cannot read file: {e.strerror or e}"
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return None
    # A FIFO or device could block forever or never end: report it, never read it.
    return "not a regular file"


def discover(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files and folders into the files to parse, plus (path, error) pairs.

    Folders are walked recursively in sorted order, skipping hidden entries and
    unsupported suffixes and never entering a folder twice (symlink loops). A file
    given explicitly is kept whatever its name, unless its suffix is unsupported.
    """
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen_files:
            seen_files.add(key)
            files.append(path)

    def walk(folder: Path) -> None:
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen_dirs:
                return
            seen_dirs.add((st.st_dev, st.st_ino))
            entries = sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as e:
            errors.append((str(folder), f"cannot read folder: {e.strerror or e}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                walk(entry)
            elif entry.suffix.lower() in SUPPORTED_SUFFIXES:
                if entry.is_file():
                    add(entry)
                elif problem := _not_a_file(entry):
                    errors.append((str(entry), problem))

    for path in paths:
        if path.is_dir():
            walk(path)
        elif not os.path.lexists(path):
            errors.append((str(path), "no such file or directory"))
        elif path.is_symlink() and (problem := _not_a_file(path)):
            errors.append((str(path), problem))
        else:
            try:
                _suffix(path.name)
                add(path)
            except ArticleError as e:
                errors.append((str(path), str(e)))
    return files, errors
