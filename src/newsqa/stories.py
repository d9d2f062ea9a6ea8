"""Wire copies folded into stories: near-duplicate articles share one story id.

The same wire report comes back from several outlets, trimmed, re-headlined or
corrected. At ingest each new article is compared with the library's: MinHash LSH
over word 5-shingles (datasketch) finds candidates cheaply, and each candidate is
then checked on the two texts themselves (:func:`same_story`). A match joins the
best candidate's story; otherwise the article starts its own, whose id is the
article's own id. The rule and its thresholds were chosen on half of a labelled
sample of Reuters-21578 and 2017 news pairs and measured on the other half
(``benchmarks/stories.py``, labels in ``tests/data/story_pairs.csv``).

Where things live:
- each article record holds its story id and its MinHash signature, each passage
  its story id (:mod:`newsqa.store.records` says how): the store is the truth, so
  a Chroma server shares stories between machines like everything else;
- the LSH index is derived from the signatures and cached under the data dir,
  tagged with the store's generation like the BM25 index; a generation change
  brings it up to date by the article ids added or removed (no text is re-read).

Removing an article regroups the rest of its story (:func:`regroup`): members that
were joined only through the removed one split apart, and a story keeps the id of
its earliest remaining member, so a story id always names an article in the library.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date as _date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from newsqa.models import Article

if TYPE_CHECKING:
    from newsqa.store import ArticleRecord, EmbeddedArticle, Store

SHINGLE_WORDS = 5
NUM_PERM = 128
# Low on purpose: a short flash fully contained in the long story has a Jaccard of
# only ~0.2; the exact check below decides.
LSH_THRESHOLD = 0.2
# The rule (see same_story); chosen on the labelled sample's development half.
MAX_DAYS_APART = 3
HIGH_JACCARD = 0.6
LOW_JACCARD = 0.4
CONTAINED = 0.85
MIN_CONTAINED_SHINGLES = 40
LEAD_WORDS = 40
LEAD_MATCH = 0.5

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d[\d,./-]*\d|\d")
_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve".split())


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[str]:
    """Word ``size``-grams of ``text``, lower-cased (a short text is one shingle)."""
    w = _words(text)
    return {" ".join(w[i : i + size]) for i in range(max(1, len(w) - size + 1))}


_SCHEME = "affine32"  # 32-bit values: what the signatures stored in the library hold


@lru_cache(maxsize=1)
def _permutations() -> Any:
    # datasketch is imported where it is used: asking a question (outlet(), shingles())
    # never needs it.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, scheme=_SCHEME).permutations


def signature(text: str) -> np.ndarray:
    """The MinHash signature (``NUM_PERM`` uint32 values) of a text's shingles."""
    from datasketch import MinHash

    m = MinHash(num_perm=NUM_PERM, permutations=_permutations(), scheme=_SCHEME)
    m.update_batch([s.encode("utf-8") for s in shingles(text)])
    return m.hashvalues.astype(np.uint32)


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(text)) | {w for w in _words(text) if w in _NUMBER_WORDS}


def _lead(text: str, words: int) -> set[str]:
    return shingles(" ".join(_WORD.findall(text)[:words]), 3)


def _days_apart(a: str | None, b: str | None) -> int:
    if not a or not b:
        return 0  # undated: the texts alone decide
    return abs((_date.fromisoformat(a) - _date.fromisoformat(b)).days)


@dataclass(frozen=True)
class Match:
    """How two texts compare: shingle Jaccard and containment (of the shorter one)."""

    jaccard: float
    contained: float
    same: bool


def same_story(a: str, a_date: str | None, b: str, b_date: str | None) -> Match:
    """Whether two articles are copies of one report (exact, on their texts).

    Copies are published within ``MAX_DAYS_APART`` days, and either share most of
    their text, or share much of it and open alike (a follow-up reuses background
    paragraphs under a new lead), or one is a short version contained in the other.
    Templated reports ("Fed adds reserves...", "hog and cattle slaughter
    guesstimates") differ mostly in their figures: when both carry figures and at
    most half of the shorter text's figures are in the other, they are different
    reports.
    """
    sa, sb = shingles(a), shingles(b)
    common = len(sa & sb)
    jaccard = common / len(sa | sb)
    small_size = min(len(sa), len(sb))
    contained = common / small_size
    result = Match(jaccard, contained, False)
    if _days_apart(a_date, b_date) > MAX_DAYS_APART or jaccard < 0.15:
        return result
    short, long_ = (a, b) if len(sa) <= len(sb) else (b, a)
    short_numbers, long_numbers = _numbers(short), _numbers(long_)
    if (
        jaccard < 0.9
        and len(short_numbers) >= 2
        and len(short_numbers & long_numbers) <= 0.5 * len(short_numbers)
    ):
        return result
    if jaccard >= HIGH_JACCARD:
        return Match(jaccard, contained, True)
    similar = jaccard >= LOW_JACCARD or (
        contained >= CONTAINED and small_size >= MIN_CONTAINED_SHINGLES
    )
    if not similar:
        return result
    lead_a, lead_b = _lead(a, LEAD_WORDS), _lead(b, LEAD_WORDS)
    head_a, head_b = _lead(a, 2 * LEAD_WORDS), _lead(b, 2 * LEAD_WORDS)
    lead = max(len(lead_a & head_b) / len(lead_a), len(lead_b & head_a) / len(lead_b))
    return Match(jaccard, contained, lead >= LEAD_MATCH)


def outlet(source: str) -> str:
    """Who published it, for "also reported by": a URL's host, else the source as is."""
    host = urlparse(source).hostname if "://" in source else None
    if host:
        return host.removeprefix("www.")
    return source


# -- the LSH index, kept in step with the store -------------------------------------


# Reads the store (or anything else) for articles: ids -> the records of those found.
ArticleReader = Callable[[Sequence[str]], "dict[str, ArticleRecord]"]


@lru_cache(maxsize=1)
def _bands() -> tuple[int, int]:
    """(bands, rows per band) that datasketch chooses for ``LSH_THRESHOLD``, weighted
    towards recall: a missed candidate is a missed copy, a needless one costs a
    comparison of signatures."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM, weights=(0.2, 0.8))
    return int(lsh.b), int(lsh.r)


def band_keys(signatures: np.ndarray) -> np.ndarray:
    """One 64-bit key per LSH band of each signature row (``[n, bands]``).

    Two signatures share a key where they agree on a band's values. Each band's
    keys are salted differently, so one sorted array can hold every band. Rows of up
    to two 32-bit values pack exactly; longer rows are folded. The rare collision
    (folding, or two bands' salts) only adds a candidate that the comparison of
    signatures then drops.
    """
    b, r = _bands()
    rows = np.atleast_2d(signatures)[:, : b * r].astype(np.uint64).reshape(-1, b, r)
    keys = rows[:, :, 0].copy()
    for j in range(1, r):
        if r == 2:
            keys |= rows[:, :, j] << np.uint64(32)
        else:
            keys = (keys * np.uint64(0x100000001B3)) ^ rows[:, :, j]
    salt = np.arange(b, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return keys ^ salt


class StoryIndex:
    """MinHash LSH over every article of the library.

    The signatures and their band keys are numpy arrays, a row per article, about
    1.5 KB an article. (datasketch's ``MinHashLSH`` kept a Python set for every band
    key, ~16 KB an article: a third of a GiB at 20,000 articles.) A query looks its
    band keys up in one sorted array of every row's keys, and scans the rows added
    since that array was last sorted: at most 1,024 or a sixteenth of the index, so
    sorting again costs each added article a constant share.

    ``sync(generation, ids, read)`` brings it up to the store's state; it is saved
    to ``cache_dir`` after each sync that changed it, so a restart loads it instead
    of reading every signature again.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self.generation: str | None = None
        self.ids: list[str] = []
        self._row: dict[str, int] = {}
        # Rows [0, len(ids)) are in use; the arrays double when they fill, so adding
        # articles one at a time (as ingest does) never copies the whole index.
        self._signatures = np.zeros((0, NUM_PERM), dtype=np.uint32)
        self._keys = np.zeros((0, _bands()[0]), dtype=np.uint64)
        # Every key of rows [0, _sorted_rows), sorted, and the row each came from.
        self._sorted_rows = 0
        self._sorted_keys = np.zeros(0, dtype=np.uint64)
        self._key_rows = np.zeros(0, dtype=np.int32)
        self._loaded = False

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._row

    def add(self, article_id: str, values: np.ndarray) -> None:
        if article_id in self._row:
            return
        n = len(self.ids)
        if n == len(self._signatures):
            grown = max(1_024, 2 * n)
            self._signatures = np.resize(self._signatures, (grown, NUM_PERM))
            self._keys = np.resize(self._keys, (grown, self._keys.shape[1]))
        self._signatures[n] = values
        self._keys[n] = band_keys(values)[0]
        self._row[article_id] = n
        self.ids.append(article_id)

    def remove(self, article_id: str) -> None:
        row = self._row.pop(article_id, None)
        if row is None:
            return
        last = len(self.ids) - 1
        if row != last:  # the last row fills the gap
            moved = self.ids[last]
            self.ids[row] = moved
            self._signatures[row] = self._signatures[last]
            self._keys[row] = self._keys[last]
            self._row[moved] = row
        self.ids.pop()
        # Rows moved: the sorted keys go, and are sorted again when the tail is long.
        self._sorted_rows = 0
        self._sorted_keys = self._sorted_keys[:0]
        self._key_rows = self._key_rows[:0]

    def signature_of(self, article_id: str) -> np.ndarray:
        return self._signatures[self._row[article_id]]

    def _sort(self) -> None:
        n = len(self.ids)
        keys = self._keys[:n].ravel()
        order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[order]
        self._key_rows = (order // self._keys.shape[1]).astype(np.int32)
        self._sorted_rows = n

    def candidates(self, values: np.ndarray) -> list[str]:
        """Articles whose signature is near enough to compare texts, nearest first."""
        n = len(self.ids)
        if n - self._sorted_rows > max(1_024, self._sorted_rows // 16):
            self._sort()
        query = band_keys(values)[0]
        lo = np.searchsorted(self._sorted_keys, query, side="left")
        hi = np.searchsorted(self._sorted_keys, query, side="right")
        hits: list[np.ndarray] = [self._key_rows[i:j] for i, j in zip(lo, hi, strict=True) if j > i]
        tail = self._keys[self._sorted_rows : n]
        hits.append(np.flatnonzero((tail == query).any(axis=1)) + self._sorted_rows)
        rows = np.unique(np.concatenate(hits))
        # The signatures' agreement estimates the Jaccard; below 0.1 no rule can pass.
        estimate = (self._signatures[rows] == np.asarray(values, dtype=np.uint32)).mean(axis=1)
        keep = estimate >= 0.1
        order = np.argsort(-estimate[keep], kind="stable")
        return [self.ids[i] for i in rows[keep][order]]

    def sync(
        self,
        generation: str,
        stored_ids: Callable[[], Iterable[str]],
        read: ArticleReader,
    ) -> None:
        """Bring the index up to the store at ``generation`` (ids diffed, new read)."""
        if not self._loaded:
            self._loaded = True
            self._load()
        if generation == self.generation:
            return
        ids = set(stored_ids())
        for gone in self._row.keys() - ids:
            self.remove(gone)
        new = sorted(ids - self._row.keys())
        for i in range(0, len(new), 1_000):
            found = read(new[i : i + 1_000])
            for article_id, record in found.items():
                values = record.signature
                if values is None:  # stored before stories existed: sign it now
                    values = signature(record.text)
                self.add(article_id, values)
        self.generation = generation

    def save(self) -> None:
        """Write the index to ``cache_dir`` (after an ingest or a removal)."""
        if self.cache_dir is None:
            return
        tmp = self.cache_dir.with_name(self.cache_dir.name + ".tmp")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            np.save(tmp / "signatures.npy", self._signatures[: len(self.ids)])
            meta = {"generation": self.generation, "ids": self.ids}
            (tmp / "index.json").write_text(json.dumps(meta))
            shutil.rmtree(self.cache_dir, ignore_errors=True)
            tmp.rename(self.cache_dir)
        except OSError:
            # Only a cache (disk full, read-only dir): rebuilt from the store next start.
            shutil.rmtree(tmp, ignore_errors=True)

    def _load(self) -> None:
        if self.cache_dir is None or not (self.cache_dir / "index.json").exists():
            return
        try:
            meta = json.loads((self.cache_dir / "index.json").read_text())
            matrix = np.load(self.cache_dir / "signatures.npy")
            ids = [str(i) for i in meta["ids"]]
            if len(set(ids)) != len(ids) or (ids and matrix.shape != (len(ids), NUM_PERM)):
                return
        except (OSError, ValueError, KeyError):
            return  # unreadable: the sync reads every signature from the store
        if ids:  # one array operation for the whole cache, not an add per article
            self.ids = ids
            self._row = {article_id: i for i, article_id in enumerate(ids)}
            self._signatures = matrix.astype(np.uint32)
            self._keys = band_keys(self._signatures)
        self.generation = meta["generation"]


@dataclass
class NewArticle:
    """An article about to be written, with what grouping needs to know of it."""

    article: Article
    signature: np.ndarray
    story: str = ""


def assign(
    index: StoryIndex,
    items: Sequence[NewArticle],
    read: ArticleReader,
    exclude: Iterable[str] = (),
) -> None:
    """Give each new article its story: the best-matching copy's, else its own id.

    ``read`` fetches stored candidates' texts and metadata (their current story id
    comes from the store, not the index). New articles are added to the index as
    they are assigned, so copies within one batch group too. ``exclude``: ids about
    to be removed (older versions being replaced) are never joined.
    """
    skip = set(exclude)
    batch = {item.article.id: item for item in items}
    for item in items:
        found = [c for c in index.candidates(item.signature) if c not in skip]
        stored = read([c for c in found if c not in batch]) if found else {}
        best: tuple[float, str] | None = None
        for cand in found:
            if cand == item.article.id:
                continue
            if cand in batch:
                other = batch[cand]
                text, date, story = other.article.text, other.article.date, other.story
            elif cand in stored:
                record = stored[cand]
                text, date, story = record.text, record.date, record.story
            else:
                continue  # removed meanwhile
            match = same_story(item.article.text, item.article.date, text, date)
            if match.same and (best is None or match.jaccard > best[0]):
                best = (match.jaccard, story)
        item.story = best[1] if best else item.article.id
        index.add(item.article.id, item.signature)


def regroup(members: dict[str, ArticleRecord]) -> dict[str, str]:
    """Story ids for what is left of a story: ``{article id: story id}``.

    ``members``: the remaining articles of one story (with their texts). They
    are split into groups that are still copies of each other (linked through
    remaining members only), and each group is named after its earliest-ingested
    member.
    """
    ids = sorted(members, key=lambda i: (members[i].ingested_at, i))
    parent = {i: i for i in ids}

    def root(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n, a in enumerate(ids):
        one = members[a]
        for b in ids[n + 1 :]:
            if root(a) == root(b):
                continue
            other = members[b]
            if same_story(one.text, one.date, other.text, other.date).same:
                parent[root(b)] = root(a)
    first: dict[str, str] = {}
    for i in ids:  # earliest first, so each group is named after its first member
        first.setdefault(root(i), i)
    return {i: first[root(i)] for i in ids}


# -- the write paths ----------------------------------------------------------------


def sync(index: StoryIndex, store: Store) -> None:
    """Bring ``index`` up to ``store`` (call under ``store.writing()``)."""
    index.sync(store.generation(), store.article_ids, store.article_records)


def label_batch(
    store: Store,
    index: StoryIndex,
    batch: Sequence[EmbeddedArticle],
    signatures: dict[str, np.ndarray],
    exclude: Sequence[str] = (),
) -> list[EmbeddedArticle]:
    """The batch with each article's story and signature, ready for ``store.put``.

    Call under ``store.writing()``, just before the write: the comparison is with
    the library as it is while no one else writes. An article without a signature
    in ``signatures`` is signed here.
    """
    sync(index, store)
    items = []
    for e in batch:
        values = signatures.get(e.article.id)
        items.append(NewArticle(e.article, signature(e.article.text) if values is None else values))
    assign(index, items, store.article_records, exclude)
    return [
        replace(e, story=item.story, signature=item.signature)
        for e, item in zip(batch, items, strict=True)
    ]


def remove_articles(store: Store, index: StoryIndex | None, article_ids: Sequence[str]) -> None:
    """Delete articles (under ``store.writing()``) and regroup what is left of their
    stories, so a story id always names an article still in the library."""
    if not article_ids:
        return
    removed = store.article_records(article_ids, texts=False)
    stories = sorted({record.story for record in removed.values()})
    store.delete(article_ids)
    for article_id in article_ids:
        if index is not None:
            index.remove(article_id)
    for story in stories:
        members = store.article_records(stories=[story])
        labels = regroup(members)
        store.set_stories({i: s for i, s in labels.items() if members[i].story != s})
