"""The store's boundary and its sentence vectors: where they live, how they follow the
passages, and how a library written by newsqa 0.1 (vectors in Chroma metadata) keeps
working and migrates."""

from __future__ import annotations

import ast
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsqa import NewsQA, Settings
from newsqa.articles import parse_file
from newsqa.chunking import chunk_article
from newsqa.ingest import embed_articles
from newsqa.store import EmbeddedArticle, Store, records

from .conftest import ROOT, SEED_FILE

QUESTION = "What did Peskov say about the recording?"


def test_no_module_outside_the_store_touches_chromadb() -> None:
    package = ROOT / "src" / "newsqa"
    offenders = []
    for path in package.rglob("*.py"):
        rel = path.relative_to(package)
        # The store, and the evaluation's plain LangChain baseline (its own Chroma).
        if rel.parts[0] == "store" or rel == Path("evaluation/baseline.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n.split(".")[0] in ("chromadb", "langchain_chroma") for n in names):
                offenders.append(str(rel))
    assert offenders == []


def _legacy_library(data_dir: Path) -> NewsQA:
    """The seed article stored as newsqa 0.1 stored it: sentence vectors as base64 in
    each passage's Chroma metadata, no sidecar file."""
    qa = NewsQA(data_dir=data_dir)
    (article,) = parse_file(SEED_FILE)
    batch = embed_articles(qa.ingest_embeddings, [(article, chunk_article(article))])
    store = qa.store
    store._sentences = None  # writes as a Chroma server (and newsqa 0.1) does: in metadata
    with store.writing():
        store.put(batch)
    return NewsQA(data_dir=data_dir)  # a fresh process's view


@pytest.mark.slow
def test_a_legacy_library_answers_then_migrates(tmp_path: Path) -> None:
    qa = _legacy_library(tmp_path / "lib")
    sidecar = tmp_path / "lib" / "sentences" / "newsqa.sqlite3"
    assert not sidecar.exists()
    passages = qa.store.count_passages()
    assert qa.store.legacy_sentence_vectors() == passages > 1

    before = qa.ask(QUESTION)
    assert before.answerable and before.citations
    assert len(qa._extractive._vectors) == 0  # the stored vectors were used, none embedded

    assert qa.store.migrate() == passages
    assert qa.store.legacy_sentence_vectors() == 0
    with sqlite3.connect(sidecar) as db:
        assert db.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == passages

    fresh = NewsQA(data_dir=tmp_path / "lib")
    after = fresh.ask(QUESTION)
    assert after.text == before.text
    assert [c.score for c in after.citations] == [c.score for c in before.citations]
    assert len(fresh._extractive._vectors) == 0
    assert fresh.store.migrate() == 0  # idempotent


@pytest.mark.slow
def test_sentence_vectors_follow_their_passages(tmp_path: Path) -> None:
    qa = NewsQA(data_dir=tmp_path / "lib")
    assert qa.ingest([SEED_FILE]).ok
    (info,) = qa.articles()
    stored = qa.store.with_sentence_vectors(list(qa.store.iter_passages()))
    for sp in stored:
        vectors = sp.sentence_vectors
        assert vectors is not None and vectors.dtype == np.float32
        assert vectors.shape == (len(sp.passage.sentences), 384)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    # Nothing of them in Chroma's metadata: the sidecar holds them, once.
    assert qa.store.legacy_sentence_vectors() == 0

    sidecar = tmp_path / "lib" / "sentences" / "newsqa.sqlite3"
    assert qa.remove(info.id)
    with sqlite3.connect(sidecar) as db:
        assert db.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM article_texts").fetchone()[0] == 0


@pytest.mark.slow
def test_an_interrupted_write_leaves_no_sentence_vectors_behind(tmp_path: Path) -> None:
    qa = NewsQA(data_dir=tmp_path / "lib")
    (article,) = parse_file(SEED_FILE)
    (written,) = embed_articles(qa.ingest_embeddings, [(article, chunk_article(article))])
    store = qa.store
    # What a writer killed right after its sidecar write leaves: the note, the vectors,
    # no passages and no article record.
    with store._journal.lock.held():
        store._journal.note([article.id])
        assert store._sentences is not None
        store._sentences.put(
            [(p.id, article.id, b"\x01" * 384 * len(p.sentences)) for p in written.passages],
            [(article.id, article.text)],
        )
    reader = Store(qa.settings)
    assert reader.pending_writes() == [article.id]
    with reader.writing():  # the next writer cleans up first
        pass
    assert reader.pending_writes() == []
    with sqlite3.connect(tmp_path / "lib" / "sentences" / "newsqa.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM article_texts").fetchone()[0] == 0


def _write_previous_format(store: Store, batch: list[EmbeddedArticle]) -> None:
    """Write ``batch`` as newsqa did before passages lost their texts: each passage with
    its text as its Chroma document and its article's title, source, date and story in
    its metadata; each article's text as its record's document; sentence vectors in
    the sidecar."""
    conn, sidecar = store._conn, store._sentences
    assert sidecar is not None
    with store.writing():
        for e in batch:
            sidecar.put(
                [
                    (p.id, e.article.id, records.quantize(v))
                    for p, v in zip(e.passages, e.sentence_vectors, strict=True)
                ]
            )
            conn.passages.upsert(
                ids=[p.id for p in e.passages],
                documents=[p.text for p in e.passages],
                metadatas=[
                    {
                        **records.passage_metadata(e.article, p),
                        "title": e.article.title,
                        "date": e.article.date or "",
                        "source": e.article.source,
                        "story": e.article.id,
                    }
                    for p in e.passages
                ],
                embeddings=e.passage_vectors,
            )
            conn.articles.upsert(
                ids=[e.article.id],
                documents=[e.article.text],
                metadatas=[records.article_metadata(e)],
                embeddings=e.vector[None, :],
            )


@pytest.mark.slow
def test_a_library_in_the_previous_format_reads_as_the_new_one(tmp_path: Path) -> None:
    """Passages keep no text now (it is the article's between their offsets), and the
    embedded store keeps article texts in the sidecar, not as Chroma documents. A
    library written before still answers, lists and changes, record by record."""
    new = NewsQA(data_dir=tmp_path / "new")
    (article,) = parse_file(SEED_FILE)
    batch = embed_articles(new.ingest_embeddings, [(article, chunk_article(article))])
    with new.store.writing():
        new.store.put(batch)
    _write_previous_format(NewsQA(data_dir=tmp_path / "old").store, batch)
    old = NewsQA(data_dir=tmp_path / "old")  # a fresh process's view

    # What the new shape leaves out of Chroma: every text.
    conn = new.store._conn
    assert set(conn.passages.get(include=["documents"])["documents"] or []) == {None}
    assert conn.articles.get(include=["documents"])["documents"] == [None]
    assert set(conn.passages.get(include=["metadatas"])["metadatas"][0]).isdisjoint(
        {"title", "source", "date", "story", "chroma:document"}
    )

    assert old.articles() == new.articles()
    assert old.article_text(article.id) == new.article_text(article.id) == article.text
    passages = {sp.passage.id: sp for sp in new.store.iter_passages()}
    assert passages == {sp.passage.id: sp for sp in old.store.iter_passages()}
    assert [sp.passage for sp in passages.values()] == list(batch[0].passages)
    before, after = old.ask(QUESTION), new.ask(QUESTION)
    assert before.answerable and before.citations
    assert after.text == before.text
    assert [(c.article_id, c.start, c.end, c.score) for c in after.citations] == [
        (c.article_id, c.start, c.end, c.score) for c in before.citations
    ]

    # The old library takes new writes in the new shape beside its old records.
    note = tmp_path / "note.md"
    note.write_text(
        "---\ntitle: Council vote\ndate: 2024-04-01\n---\nThe city council of Utrecht "
        "voted 23 to 14 to build a new bridge over the canal.\n",
        encoding="utf-8",
    )
    assert old.ingest([note]).ok
    vote = old.ask("How did the Utrecht council vote on the bridge?")
    assert vote.citations and "23 to 14" in vote.citations[0].text
    assert old.remove(article.id)
    assert old.store.count_passages() == sum(a.passages for a in old.articles())
    assert old.article_text(article.id) is None


@pytest.mark.slow
def test_listing_needs_no_chroma_and_follows_every_write(tmp_path: Path) -> None:
    qa = NewsQA(data_dir=tmp_path / "lib")
    assert qa.ingest([SEED_FILE]).ok
    listing = tmp_path / "lib" / "listing" / "newsqa.json"
    assert not listing.exists()  # a write removes it; the next listing writes it
    listed = qa.articles()
    assert listing.exists()

    probe = (
        "import sys\nfrom newsqa import NewsQA\n"
        f"qa = NewsQA(data_dir={str(tmp_path / 'lib')!r})\n"
        "print(len(qa.articles()), qa.articles()[0].id, 'chromadb' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out == [str(len(listed)), listed[0].id, "False"]

    assert qa.remove(listed[0].id)
    assert not listing.exists()
    assert NewsQA(data_dir=tmp_path / "lib").articles() == []
    # A damaged file is not trusted: the store reads Chroma instead.
    listing.write_text("{not json", encoding="utf-8")
    assert NewsQA(data_dir=tmp_path / "lib").articles() == []


@pytest.mark.slow
def test_the_generation_file_saves_chroma_reads_and_never_hides_a_write(tmp_path: Path) -> None:
    data = tmp_path / "lib"
    writer = NewsQA(data_dir=data)
    assert writer.ingest([SEED_FILE]).ok
    stamp = data / "listing" / "newsqa.generation"
    assert stamp.read_text(encoding="utf-8") == writer.store.generation()

    reader = Store(Settings(data_dir=data))  # another process's view
    passages = reader.count_passages()
    assert passages > 0 and not reader.stale()

    (article,) = writer.articles()
    with writer.store.writing():
        assert not stamp.exists()  # a write in progress: readers must ask Chroma
        writer.store.delete([article.id])
        assert reader.stale()
        assert reader.count_passages() == 0  # no count kept from before the write
    assert stamp.read_text(encoding="utf-8") == writer.store.generation()
    assert reader.stale() and reader.refresh() and not reader.stale()
    assert reader.count_passages() == 0

    # A file that disagrees with Chroma costs a Chroma read (which is believed), and is
    # put right; a library last written before the file existed gets one the same way.
    for damage in (lambda: stamp.write_text("elsewhere", encoding="utf-8"), stamp.unlink):
        damage()
        assert not reader.stale() and not reader.refresh()
        assert stamp.read_text(encoding="utf-8") == reader.generation()
