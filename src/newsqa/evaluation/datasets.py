"""Question sets in three formats, loaded into one shape: :class:`EvalSet`.

- ``own``: the project's JSONL question sets (``tests/data/*.jsonl``), asked against
  a corpus of article files (``--corpus``, or the nearest ``seeds/`` folder).
- ``squad``: SQuAD v1.1 JSON. Every paragraph becomes an article; every question is
  asked against all of them. Gold document = the question's paragraph; gold evidence
  = the sentence(s) holding an answer span.
- ``beir``: a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
  Gold documents only, so only retrieval is scored.
- ``realtimeqa``: RealTime QA news quiz JSONL. Every question's evidence snippet
  becomes an article dated with its quiz; gold document = its snippet.
- ``quail``: a QuAIL folder (``texts.jsonl``, ``questions.jsonl``). Every text is an
  article; questions whose right choice is "not enough information" are unanswerable.

Articles are built here (not parsed again by the store) so the evaluation keeps its
own copy of every text and can check citations independently of the store.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from newsqa.articles import ArticleError, discover, parse_file_results, title_from_text
from newsqa.chunking import split_sentences
from newsqa.models import Article

Format = Literal["own", "squad", "beir", "realtimeqa", "quail"]
FORMATS: tuple[Format, ...] = ("own", "squad", "beir", "realtimeqa", "quail")

# How far up from an own-format question file to look for a ``seeds/`` corpus:
# tests/data/x.jsonl -> tests/data, tests, the project root.
_SEEDS_SEARCH_DEPTH = 3


class DatasetError(ValueError):
    """A question set or corpus that cannot be loaded; the message says where and why."""


@dataclass(frozen=True)
class EvalQuestion:
    """One question with everything it is judged against.

    ``evidence`` are sentences of the corpus that answer it; ``gold_docs`` maps the
    ids of the articles that answer it to a relevance grade (BEIR qrels, SQuAD
    paragraph). Either may be empty; neither is set for unanswerable questions.
    ``group`` is the unit a question set is split by (a quiz week, a text, an
    article), so that train and validation never share one. ``excluded`` are
    articles the question must be asked without: the negative-rejection variant
    asks an answerable question with the text that answers it held out.
    """

    id: str
    question: str
    history: tuple[tuple[str, str], ...] = ()
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    answerable: bool = True
    type: str | None = None
    gold_docs: dict[str, int] = field(default_factory=dict)
    group: str = ""
    excluded: frozenset[str] = frozenset()


@dataclass
class EvalSet:
    """The questions, the articles they are asked against, and what can be scored."""

    name: str
    format: Format
    path: Path
    questions: list[EvalQuestion]
    articles: list[Article]
    retrieval_only: bool = False  # BEIR: no gold answers or evidence
    corpus: list[Path] = field(default_factory=list)  # own format: the files ingested
    split: str | None = None  # BEIR qrels split
    skipped: list[str] = field(default_factory=list)  # corpus items that could not be used

    @property
    def retrieval_level(self) -> str:
        """``document`` when gold documents are known (SQuAD, BEIR), else ``evidence``."""
        return "document" if any(q.gold_docs for q in self.questions) else "evidence"

    def texts(self) -> dict[str, str]:
        """Article id -> text, the reference every citation is verified against."""
        return {a.id: a.text for a in self.articles}


def detect_format(path: Path) -> Format:
    """The format a path holds, from its shape: a folder is BEIR or QuAIL, .json is SQuAD,
    .jsonl is own (or RealTime QA, told by its first record's fields)."""
    if path.is_dir():
        if (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file():
            return "beir"
        if (path / "texts.jsonl").is_file() and (path / "questions.jsonl").is_file():
            return "quail"
        raise DatasetError(
            f"{path}: a folder must be a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/) "
            "or a QuAIL one (texts.jsonl, questions.jsonl)"
        )
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "realtimeqa" if _looks_like_realtimeqa(path) else "own"
    if suffix == ".json":
        return "squad"
    raise DatasetError(
        f"{path}: cannot tell the format from the name; use a .jsonl question set, "
        "a SQuAD .json file or a BEIR folder, or pass --format"
    )


def load_dataset(
    path: str | Path,
    format: Format | None = None,
    *,
    corpus: Sequence[str | Path] | None = None,
    split: str | None = None,
    limit: int | None = None,
) -> EvalSet:
    """Load a question set and its corpus; ``limit`` keeps the first N questions.

    The corpus is always loaded whole: with ``limit`` the questions are fewer, not
    easier (every question still competes with every article).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    fmt = format or detect_format(path)
    if fmt != "own" and corpus:
        raise DatasetError(f"--corpus applies to the own format only; {fmt} brings its corpus")
    if fmt == "own":
        evalset = load_own(path, corpus)
    elif fmt == "squad":
        evalset = load_squad(path)
    elif fmt == "beir":
        evalset = load_beir(path, split)
    elif fmt == "realtimeqa":
        evalset = load_realtimeqa(path)
    elif fmt == "quail":
        evalset = load_quail(path)
    else:
        raise DatasetError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if limit is not None:
        evalset.questions = evalset.questions[:limit]
    if not evalset.questions:
        raise DatasetError(f"{path}: no questions to ask")
    return evalset


# -- own JSONL -----------------------------------------------------------------------


def _str_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def _history(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    ok = isinstance(value, list) and all(
        isinstance(turn, list | tuple) and len(turn) == 2 and all(isinstance(t, str) for t in turn)
        for turn in value
    )
    if not ok:
        raise DatasetError(f"{where}: 'history' must be a list of [question, answer] pairs")
    return tuple((q, a) for q, a in value)


def parse_own_record(record: Any, where: str, default_id: str) -> EvalQuestion:
    """One JSONL object -> EvalQuestion; see README "Evaluating" for the fields."""
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: 'question' must be a non-empty string")
    answers = _str_list(record.get("answers"), "answers", where)
    evidence = _str_list(record.get("evidence"), "evidence", where)
    answerable = record.get("answerable", bool(answers or evidence))
    if not isinstance(answerable, bool):
        raise DatasetError(f"{where}: 'answerable' must be true or false")
    if not answerable and (answers or evidence):
        raise DatasetError(f"{where}: an unanswerable question has no answers or evidence")
    kind = record.get("type")
    return EvalQuestion(
        id=str(record.get("id") or default_id),
        question=question,
        history=_history(record.get("history"), where),
        answers=answers,
        evidence=evidence,
        answerable=answerable,
        type=kind if isinstance(kind, str) else None,
    )


def read_own_questions(path: Path) -> list[EvalQuestion]:
    """The questions of an own-format JSONL file (blank lines are skipped)."""
    questions: list[EvalQuestion] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: invalid JSON: {e.msg}") from None
            questions.append(parse_own_record(record, where, f"q{n:04d}"))
    return questions


def default_corpus(path: Path) -> Path | None:
    """The ``seeds/`` folder nearest above an own-format file, if any (the repo layout)."""
    folder = path.resolve().parent
    for candidate in [folder, *folder.parents][:_SEEDS_SEARCH_DEPTH]:
        seeds = candidate / "seeds"
        if seeds.is_dir():
            return seeds
    return None


def read_corpus(paths: Sequence[Path]) -> tuple[list[Article], list[str]]:
    """Parse article files and folders exactly as ``newsqa ingest`` does.

    Returns the articles and a ``"path: reason"`` line for each file that failed.
    """
    files, errors = discover(list(paths))
    skipped = [f"{p}: {e}" for p, e in errors]
    articles: list[Article] = []
    for file in files:
        for item in parse_file_results(file):
            if isinstance(item, ArticleError):
                skipped.append(f"{file}: {item}")
            else:
                articles.append(item)
    return articles, skipped


def load_own(path: Path, corpus: Sequence[str | Path] | None = None) -> EvalSet:
    """An own-format question set with its corpus (``corpus`` or the nearest ``seeds/``)."""
    questions = read_own_questions(path)
    if corpus:
        corpus_paths = [Path(p) for p in corpus]
    else:
        found = default_corpus(path)
        if found is None:
            raise DatasetError(
                f"{path}: no corpus; pass --corpus PATH (the article files or folders "
                "the questions are about)"
            )
        corpus_paths = [found]
    articles, skipped = read_corpus(corpus_paths)
    if not articles:
        shown = ", ".join(str(p) for p in corpus_paths)
        raise DatasetError(f"no article could be read from the corpus ({shown})")
    return EvalSet(
        name=path.stem,
        format="own",
        path=path,
        questions=questions,
        articles=articles,
        corpus=corpus_paths,
        skipped=skipped,
    )


# -- SQuAD v1.1 ----------------------------------------------------------------------


def _clean(text: str) -> str:
    # The same normalisation the article parsers apply, so offsets mean the same thing.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def answer_sentences(context: str, spans: Sequence[tuple[int, str]]) -> list[str]:
    """The sentences of ``context`` that overlap any answer span, in reading order.

    A span is ``(answer_start, text)``; when the offset does not point at the text
    (a known SQuAD annotation slip) the first occurrence of the text is used.
    """
    ranges: list[tuple[int, int]] = []
    for start, text in spans:
        if context[start : start + len(text)] != text:
            start = context.find(text)
        if start >= 0 and text:
            ranges.append((start, start + len(text)))
    return [
        context[s.start : s.end]
        for s in split_sentences(context)
        if any(s.start < end and start < s.end for start, end in ranges)
    ]


def load_squad(path: Path) -> EvalSet:
    """SQuAD v1.1 JSON: one article per paragraph, titled "<article title> [<n>]"."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: invalid JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DatasetError(f"{path}: not SQuAD JSON (expected an object with a 'data' list)")
    articles: dict[str, Article] = {}
    questions: list[EvalQuestion] = []
    for a, entry in enumerate(data["data"]):
        title = str(entry.get("title") or f"article {a}").replace("_", " ")
        for p, paragraph in enumerate(entry.get("paragraphs") or []):
            raw = str(paragraph.get("context") or "")
            # Offsets are into the raw context; strip only after finding the evidence.
            lead = len(raw) - len(raw.lstrip())
            context = _clean(raw)
            if not context:
                continue
            article = Article(
                text=context, title=f"{title} [{p}]", date=None, source=f"{path}#{a}.{p}"
            )
            articles.setdefault(article.id, article)
            for qa in paragraph.get("qas") or []:
                golds = [
                    (int(ans.get("answer_start", -1)) - lead, str(ans.get("text", "")))
                    for ans in qa.get("answers") or []
                ]
                answers = tuple(dict.fromkeys(t for _, t in golds if t))
                questions.append(
                    EvalQuestion(
                        id=str(qa.get("id") or f"{a}.{p}.{len(questions)}"),
                        question=str(qa.get("question", "")),
                        answers=answers,
                        evidence=tuple(answer_sentences(context, golds)),
                        answerable=bool(answers),
                        gold_docs={article.id: 1},
                    )
                )
    if not articles:
        raise DatasetError(f"{path}: no paragraphs found")
    return EvalSet(
        name=path.stem,
        format="squad",
        path=path,
        questions=[q for q in questions if q.question.strip()],
        articles=list(articles.values()),
    )


# -- BEIR ----------------------------------------------------------------------------


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path}:{n}: invalid JSON: {e.msg}") from None


def qrels_file(folder: Path, split: str | None) -> Path:
    """``qrels/<split>.tsv``; without a split, ``test`` or else the only file there is."""
    qrels = folder / "qrels"
    available = sorted(p.stem for p in qrels.glob("*.tsv"))
    if split is None:
        if "test" in available:
            split = "test"
        elif len(available) == 1:
            split = available[0]
        else:
            shown = ", ".join(available) or "none"
            raise DatasetError(f"{qrels}: choose a split with --split (available: {shown})")
    chosen = qrels / f"{split}.tsv"
    if not chosen.is_file():
        shown = ", ".join(available) or "none"
        raise DatasetError(f"{chosen}: no such qrels split (available: {shown})")
    return chosen


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id -> {corpus id: grade}, positive grades only (a header row is skipped)."""
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if not row or (n == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            if len(row) < 3:
                raise DatasetError(f"{path}:{n}: expected query-id, corpus-id, score")
            grade = int(row[2])
            if grade > 0:
                qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def load_beir(folder: Path, split: str | None = None) -> EvalSet:
    """A BEIR folder; only queries with at least one relevant document are kept."""
    qrels_path = qrels_file(folder, split)
    qrels = read_qrels(qrels_path)
    articles: dict[str, Article] = {}
    doc_article: dict[str, str] = {}  # BEIR corpus id -> article id
    for record in _jsonl(folder / "corpus.jsonl"):
        text = _clean(str(record.get("text") or ""))
        if not text:
            continue
        doc_id = str(record["_id"])
        title = " ".join(str(record.get("title") or "").split())
        article = Article(
            text=text, title=title or title_from_text(text), date=None, source=f"beir:{doc_id}"
        )
        # Identical texts share one article (ids are content hashes), so both gold ids
        # map to it and neither is lost.
        articles.setdefault(article.id, article)
        doc_article[doc_id] = article.id
    questions: list[EvalQuestion] = []
    for record in _jsonl(folder / "queries.jsonl"):
        query_id = str(record["_id"])
        relevant = qrels.get(query_id)
        if not relevant:
            continue
        gold: dict[str, int] = {}
        for doc_id, grade in relevant.items():
            if doc_id in doc_article:
                key = doc_article[doc_id]
                gold[key] = max(grade, gold.get(key, 0))
        if gold:
            questions.append(
                EvalQuestion(id=query_id, question=str(record.get("text", "")), gold_docs=gold)
            )
    return EvalSet(
        name=folder.name,
        format="beir",
        path=folder,
        questions=[q for q in questions if q.question.strip()],
        articles=list(articles.values()),
        retrieval_only=True,
        split=qrels_path.stem,
    )


# -- RealTime QA ---------------------------------------------------------------------

_REALTIMEQA_FIELDS = {"question_id", "question", "evidence", "answer_text"}


def _looks_like_realtimeqa(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(first, dict) and first.keys() >= _REALTIMEQA_FIELDS
    return False


def load_realtimeqa(path: Path) -> EvalSet:
    """RealTime QA quiz questions; each evidence snippet is a dated article.

    A question's gold answers are kept only when one occurs in its snippet (the
    others are still asked, and judged on the article cited); its evidence is the
    snippet's sentences holding an answer, or all of them. It is grouped by quiz
    week.
    """
    articles: dict[str, Article] = {}
    questions: list[EvalQuestion] = []
    for n, record in enumerate(_jsonl(path), start=1):
        missing = _REALTIMEQA_FIELDS - record.keys()
        if missing:
            raise DatasetError(f"{path}:{n}: missing {', '.join(sorted(missing))}")
        snippet = _clean(" ".join(str(record["evidence"]).split()))
        if not snippet:
            continue
        day = str(record.get("date") or "") or None
        outlet = str(record.get("source") or "news")
        article = Article(
            text=snippet,
            title=f"{outlet} news, {day}" if day else f"{outlet} news",
            date=day,
            source=f"{outlet} ({path.name} {record['question_id']})",
        )
        articles.setdefault(article.id, article)
        golds = [str(a) for a in record["answer_text"] if str(a).strip()]
        found = [g for g in golds if _occurs(g, snippet)]
        sentences = [snippet[s.start : s.end] for s in split_sentences(snippet)]
        evidence = [s for s in sentences if any(_occurs(g, s) for g in found)] or sentences
        questions.append(
            EvalQuestion(
                id=str(record["question_id"]),
                question=str(record["question"]),
                answers=tuple(found),
                evidence=tuple(evidence),
                answerable=True,
                type=outlet,
                gold_docs={article.id: 1},
                group=day or "",
            )
        )
    if not questions:
        raise DatasetError(f"{path}: no questions found")
    return EvalSet(
        name=path.stem,
        format="realtimeqa",
        path=path,
        questions=questions,
        articles=list(articles.values()),
    )


def _occurs(answer: str, text: str) -> bool:
    """Whether ``answer`` occurs in ``text`` as whole words, ignoring case and punctuation."""
    words = _words(answer)
    return bool(words) and f" {words} " in f" {_words(text)} "


def _words(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


_NON_WORD = re.compile(r"[^\w]+")


# -- QuAIL ---------------------------------------------------------------------------

UNANSWERABLE_CHOICE = "not enough information"


def load_quail(folder: Path) -> EvalSet:
    """QuAIL: every text an article, every question asked against all of them.

    Answerable questions keep their right choice as the gold answer (often a
    paraphrase, so containment is a weak signal here) and their text as gold
    document; unanswerable ones (right choice "not enough information") have
    neither. Questions are grouped by text.
    """
    articles: dict[str, Article] = {}
    text_article: dict[str, str] = {}
    for record in _jsonl(folder / "texts.jsonl"):
        text = _clean(str(record.get("text") or ""))
        if not text:
            continue
        text_id = str(record["text_id"])
        article = Article(
            text=text,
            title=" ".join(str(record.get("title") or "").split()) or title_from_text(text),
            date=None,
            source=f"quail:{text_id}",
        )
        articles.setdefault(article.id, article)
        text_article[text_id] = article.id
    questions: list[EvalQuestion] = []
    for n, record in enumerate(_jsonl(folder / "questions.jsonl"), start=1):
        text_id = str(record.get("text_id"))
        if text_id not in text_article:
            raise DatasetError(f"{folder / 'questions.jsonl'}:{n}: unknown text_id {text_id!r}")
        choices = [str(c) for c in record.get("choices") or []]
        right = [choices[i] for i in record.get("answer_idx") or [] if 0 <= i < len(choices)]
        answerable = bool(right) and all(c.lower() != UNANSWERABLE_CHOICE for c in right)
        questions.append(
            EvalQuestion(
                id=f"{text_id}-{record.get('question_id', n)}",
                question=str(record.get("question", "")),
                answers=tuple(right) if answerable else (),
                answerable=answerable,
                type=str(record.get("question_type") or "") or None,
                gold_docs={text_article[text_id]: 1} if answerable else {},
                group=text_id,
            )
        )
    return EvalSet(
        name=folder.name,
        format="quail",
        path=folder,
        questions=[q for q in questions if q.question.strip()],
        articles=list(articles.values()),
    )
