"""What stories and resolved dates add to ingest and to a warm ``ask`` (issue 13).

Ingest: on the corpus ``benchmarks/speed.py`` uses (``common.news_records``, first
``--passages`` passages' worth of articles), the added work per batch, timed
stage by stage in one process and one run, next to the embedding of the same
passages (the model's forward pass, which is ~95% of an ingest's wall time):

- ``dates``: resolving relative dates and handing the spans to the passages;
- ``signature``: MinHash of each article's shingles;
- ``assign``: LSH lookup and the exact check against the library so far.

All three run on the ingest's worker thread, beside the embedding, so the wall
time they add is at most their share (measured here) and in practice less.

Ask: a library of the same articles is built, and each article's title is asked
``--rounds`` times as a warm question; p50 of ``Answer.timings['total']``, and of
the part issue 13 adds after answering (dates and "also reported by" of the
citations), measured around that step.

How to run
    .venv/bin/python benchmarks/ingest_overhead.py --passages 500
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import load_str, log, median, news_records, percentile

from newsqa import NewsQA, Settings
from newsqa.chunking import chunk_article
from newsqa.ingest import _with_dates
from newsqa.models import Article
from newsqa.store import ArticleRecord
from newsqa.stories import NewArticle, StoryIndex, assign, signature


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    articles: list[Article] = []
    chunks = []
    total = 0
    for title, text, day, source in news_records():
        article = Article(text, title, day, source)
        passages = chunk_article(article)
        articles.append(article)
        chunks.append(passages)
        total += len(passages)
        if total >= args.passages:
            break
    log(f"{len(articles)} articles, {total} passages")

    t = time.perf_counter()
    dated = [_with_dates(a, p) for a, p in zip(articles, chunks, strict=True)]
    t_dates = time.perf_counter() - t
    t = time.perf_counter()
    signatures = [signature(a.text) for a in articles]
    t_signature = time.perf_counter() - t
    index = StoryIndex()
    items = [NewArticle(a, s) for a, s in zip(articles, signatures, strict=True)]
    texts = {a.id: a for a in articles}

    def read(ids: Sequence[str]) -> dict[str, ArticleRecord]:
        return {
            i: ArticleRecord(i, "", texts[i].date, "", i, 0.0, text=texts[i].text)
            for i in ids
            if i in texts
        }

    t = time.perf_counter()
    assign(index, items, read)
    t_assign = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        qa = NewsQA(Settings(data_dir=Path(tmp)))
        texts_ = [p.text for ps in dated for p in ps]
        spans = [
            [(s.start - p.start, s.end - p.start) for s in p.sentences] for ps in dated for p in ps
        ]
        qa.ingest_embeddings.encode_passages(texts_[:8], spans[:8])  # warm the model
        t = time.perf_counter()
        qa.ingest_embeddings.encode_passages(texts_, spans)
        t_embed = time.perf_counter() - t
        added = t_dates + t_signature + t_assign
        print(
            f"ingest work added by issue 13, {len(articles)} articles / {total} passages, "
            f"load {load_str()}"
        )
        for name, value in (
            ("dates", t_dates),
            ("signature", t_signature),
            ("assign", t_assign),
            ("all three", added),
            ("embedding", t_embed),
        ):
            print(
                f"  {name:<10} {value:8.2f} s  {1000 * value / total:7.2f} ms/passage"
                f"  {100 * value / t_embed:6.2f}% of embedding"
            )

        folder = Path(tmp) / "lib"
        folder.mkdir()
        for i, a in enumerate(articles):
            record = {"title": a.title, "date": a.date, "text": a.text, "url": a.source}
            (folder / f"{i}.json").write_text(json.dumps(record))
        qa.ingest([folder])
        questions = [a.title for a in articles if a.title.strip()][:40]
        totals: list[float] = []
        annotate: list[float] = []
        original = qa._annotate

        def timed(answer: object, hits: object) -> None:
            start = time.perf_counter()
            original(answer, hits)  # type: ignore[arg-type]
            annotate.append(time.perf_counter() - start)

        qa._annotate = timed  # type: ignore[method-assign]
        qa.ask(questions[0])  # warm
        for _ in range(args.rounds):
            for q in questions:
                totals.append(qa.ask(q).timings["total"])
        print(
            f"warm ask over {len(questions)} questions x {args.rounds}: p50 "
            f"{1000 * median(totals):.1f} ms, p95 {1000 * percentile(totals, 95):.1f} ms; "
            f"issue 13's citation step p50 {1000 * median(annotate):.2f} ms"
        )


if __name__ == "__main__":
    main()
