"""Wire copies folded into stories (issue 13): grouping at ingest, retrieval that keeps
no two copies among the top passages, "also reported by" on citations, removal that
keeps the rest of a story consistent, the index cache, and real reprints from the
corpora."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from newsqa import NewsQA, Settings
from newsqa.articles import parse_file
from newsqa.store import ArticleRecord
from newsqa.store.records import pack_signature, unpack_signature
from newsqa.stories import StoryIndex, outlet, regroup, same_story, signature

from .conftest import SEED_FILE, TEST_DATA, shared_data

SEED = parse_file(SEED_FILE)[0]
PARAGRAPHS = SEED.text.split("\n\n")


def copy_record(paragraphs: list[str], url: str, title: str, day: str = "2024-03-05") -> str:
    return json.dumps({"title": title, "date": day, "url": url, "text": "\n\n".join(paragraphs)})


def write_copy(folder: Path, name: str, paragraphs: list[str], url: str, title: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(copy_record(paragraphs, url, title), encoding="utf-8")
    return path


# -- the rule, on texts -------------------------------------------------------------------


def test_a_trimmed_reprint_is_the_same_story_and_another_report_is_not() -> None:
    trimmed = "\n\n".join(PARAGRAPHS[:-4])
    assert same_story(SEED.text, SEED.date, trimmed, SEED.date).same
    # The same report a month later is another item (a templated or repeated text).
    assert not same_story(SEED.text, "2024-03-05", trimmed, "2024-04-05").same
    other = "\n\n".join(PARAGRAPHS[10:])  # the article's second half: no shared lead
    assert not same_story("\n\n".join(PARAGRAPHS[:8]), SEED.date, other, SEED.date).same


def test_templated_reports_with_other_figures_are_different_stories() -> None:
    one = (
        "The Federal Reserve entered the U.S. Government securities market to arrange 1.5 "
        "billion dlrs of customer repurchase agreements, a Fed spokesman said. Dealers said "
        "Federal funds were trading at 6-3/16 pct when the Fed began its temporary and "
        "indirect supply of reserves to the banking system."
    )
    other = one.replace("1.5 billion", "two billion").replace("6-3/16", "6-5/16")
    assert not same_story(one, "1987-03-10", other, "1987-03-11").same
    assert same_story(one, "1987-03-10", one, "1987-03-11").same


def test_signatures_pack_into_metadata_and_back() -> None:
    values = signature(SEED.text)
    assert unpack_signature(pack_signature(values)) is not None
    assert np.array_equal(unpack_signature(pack_signature(values)), values)
    assert unpack_signature("not base64!") is None
    assert outlet("https://www.aljazeera.com/news/2017/03/x.html") == "aljazeera.com"
    assert outlet("Reuters") == "Reuters"


def test_regroup_splits_copies_that_were_linked_only_through_the_removed_one() -> None:
    a = "\n\n".join(PARAGRAPHS[:6])  # the first half
    c = "\n\n".join(PARAGRAPHS[1:])  # all but the lead paragraph
    assert same_story(SEED.text, SEED.date, a, SEED.date).same
    assert same_story(SEED.text, SEED.date, c, SEED.date).same
    assert not same_story(a, SEED.date, c, SEED.date).same

    def member(article_id: str, text: str, ingested_at: float) -> ArticleRecord:
        return ArticleRecord(article_id, "", SEED.date, "", "bbb", ingested_at, text=text)

    members = {"aaa": member("aaa", a, 2.0), "ccc": member("ccc", c, 3.0)}
    assert regroup(members) == {"aaa": "aaa", "ccc": "ccc"}
    members["bbb"] = member("bbb", SEED.text, 1.0)
    assert regroup(members) == {"aaa": "bbb", "bbb": "bbb", "ccc": "bbb"}


def test_labelled_reprints_from_reuters_group_and_templates_do_not() -> None:
    path = shared_data("reuters21578", "reuters21578.jsonl")
    wanted = {"4552", "4595", "3164", "3735", "3470", "3522"}
    docs = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if str(r["newid"]) in wanted:
                day = datetime.strptime(r["date"].split()[0], "%d-%b-%Y").date().isoformat()
                docs[str(r["newid"])] = (r["body"], day)
    labels = {(a, b): lab for c, a, b, lab in csv.reader((TEST_DATA / "story_pairs.csv").open())}
    assert labels["4552", "4595"] == "same"  # same-day re-issue of a trade bill story
    assert same_story(*docs["4552"], *docs["4595"]).same
    assert labels["3470", "3522"] == "same"  # a flash contained in the full story
    assert same_story(*docs["3470"], *docs["3522"]).same
    assert labels["3164", "3735"] == "different"  # "Fed adds reserves", two days apart
    assert not same_story(*docs["3164"], *docs["3735"]).same


def test_the_index_finds_what_datasketchs_lsh_finds_through_adds_and_removals(
    tmp_path: Path,
) -> None:
    """The numpy index must give the candidates of datasketch's ``MinHashLSH`` with the
    same bands (the reference it replaced), while rows are sorted, in the unsorted
    tail, after removals move rows, and once saved and loaded again."""
    from datasketch import MinHash, MinHashLSH

    from newsqa import stories

    rng = np.random.default_rng(3)
    bases = rng.integers(0, 2**32, size=(40, stories.NUM_PERM), dtype=np.uint64)
    signatures = []
    for i in range(3_000):  # near copies of 40 texts, from barely to mostly alike
        values = bases[i % 40].copy()
        changed = rng.random(stories.NUM_PERM) < rng.uniform(0.3, 1.0)
        values[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint64)
        signatures.append(values.astype(np.uint32))
    b, r = stories._bands()
    reference = MinHashLSH(num_perm=stories.NUM_PERM, params=(b, r))
    index = StoryIndex()

    def minhash(values: np.ndarray) -> MinHash:
        return MinHash(
            num_perm=stories.NUM_PERM, hashvalues=values.astype(np.uint64), scheme=stories._SCHEME
        )

    def same_candidates() -> None:
        for values in signatures[:200]:
            expected = {
                k
                for k in reference.query(minhash(values))
                if np.mean(index.signature_of(k) == values) >= 0.1
            }
            found = index.candidates(values)
            assert set(found) == expected
            estimates = [np.mean(index.signature_of(k) == values) for k in found]
            assert estimates == sorted(estimates, reverse=True)

    for i, values in enumerate(signatures):
        reference.insert(str(i), minhash(values), check_duplication=False)
        index.add(str(i), values)
        if i in (500, 2_999):
            same_candidates()
    for i in range(0, 3_000, 7):
        reference.remove(str(i))
        index.remove(str(i))
    same_candidates()
    assert len(index) == len(reference.keys) and "7" not in index

    index.cache_dir = tmp_path / "stories"
    index.save()
    index = StoryIndex(tmp_path / "stories")
    index._load()
    same_candidates()
    assert len(index) == len(reference.keys) and "7" not in index


# -- in the library -----------------------------------------------------------------------


@pytest.mark.slow
def test_copies_share_a_story_retrieval_folds_them_and_citations_say_who_else(
    qa: NewsQA, tmp_path: Path
) -> None:
    copy = write_copy(
        tmp_path / "wire",
        "copy",
        PARAGRAPHS[:-3],
        "https://www.example-daily.com/world/german-leak",
        "Berlin denies war plans after leaked call",
    )
    assert qa.ingest([SEED_FILE]).ok and qa.ingest([copy]).ok
    infos = {i.source: i for i in qa.articles()}
    seed_info = infos[str(SEED_FILE)]
    copy_info = infos["https://www.example-daily.com/world/german-leak"]
    assert seed_info.story == copy_info.story == seed_info.id  # the first one names it

    hits = qa.search.search("How long was the recording?", 6).hits
    texts = [h.passage.text for h in hits]
    assert len(hits) == 6
    assert all(h.story == seed_info.id for h in hits)
    # No two hits from different copies carry the same text; the folded copies ride along.
    pairs = [(a, b) for a in hits for b in hits if a.passage.article_id != b.passage.article_id]
    assert all(a.passage.text != b.passage.text for a, b in pairs)
    assert any(h.copies for h in hits)
    assert len(set(texts)) == len(texts)

    qa.search.fold_copies = False
    unfolded = qa.search.search("How long was the recording?", 6).hits
    assert len({h.passage.article_id for h in unfolded}) == 2  # copies crowd the top
    qa.search.fold_copies = True

    answer = qa.ask("How long was the recording?")
    assert answer.answerable and answer.citations
    cited = answer.citations[0]
    (other,) = cited.also_reported
    assert other.article_id != cited.article_id
    assert other.outlet in ("example-daily.com", str(SEED_FILE))
    assert other.date == "2024-03-05"


@pytest.mark.slow
def test_removing_the_story_founder_relabels_the_rest(qa: NewsQA, tmp_path: Path) -> None:
    folder = tmp_path / "wire"
    first = write_copy(folder, "a", PARAGRAPHS, "https://one.example/a", "First")
    write_copy(folder, "b", PARAGRAPHS[:6], "https://two.example/b", "Second")
    write_copy(folder, "c", PARAGRAPHS[1:], "https://three.example/c", "Third")
    assert qa.ingest([first]).ok  # first in: it names the story
    report = qa.ingest([folder])
    assert report.ok
    by_title = {i.title: i for i in qa.articles()}
    founder = by_title["First"].id
    assert {i.story for i in by_title.values()} == {founder}

    assert qa.remove(founder)
    left = {i.title: i for i in qa.articles()}
    # "Second" and "Third" were copies of "First" only: each is its own story now,
    # named after itself, in the records and in every passage.
    assert left["Second"].story == left["Second"].id
    assert left["Third"].story == left["Third"].id
    passages = list(qa.store.iter_passages())
    for info in left.values():
        stories = {sp.story for sp in passages if sp.passage.article_id == info.id}
        assert stories == {info.id}


@pytest.mark.slow
def test_a_new_process_groups_against_the_library_through_the_cached_index(
    settings: Settings, tmp_path: Path
) -> None:
    assert NewsQA(settings).ingest([SEED_FILE]).ok
    cache = settings.data_dir / "stories" / settings.collection
    assert (cache / "index.json").exists()
    index = StoryIndex(cache)
    index._load()
    assert len(index) == 1

    later = NewsQA(settings)  # another process: loads the cache, syncs by generation
    copy = write_copy(tmp_path / "w", "copy", PARAGRAPHS[:-2], "https://x.example/y", "Copy")
    assert later.ingest([copy]).ok
    stories = {i.story for i in later.articles()}
    assert len(stories) == 1

    # A cache that is gone or damaged is rebuilt from the signatures in the store.
    (cache / "signatures.npy").write_bytes(b"garbage")
    third = NewsQA(settings)
    other = write_copy(tmp_path / "w2", "copy2", PARAGRAPHS[:-1], "https://z.example/", "Z")
    assert third.ingest([other]).ok
    assert len({i.story for i in third.articles()}) == 1
