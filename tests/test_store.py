"""The store's boundary and its sentence vectors: where they live, how they follow the
passages, and how a library written by newsqa 0.1 (vectors in Chroma metadata) keeps
working and migrates."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from newsqa import NewsQA
from newsqa.articles import parse_file
from newsqa.chunking import chunk_article
from newsqa.ingest import embed_articles
from newsqa.store import Store

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
            [(p.id, article.id, b"\x01" * 384 * len(p.sentences)) for p in written.passages]
        )
    reader = Store(qa.settings)
    assert reader.pending_writes() == [article.id]
    with reader.writing():  # the next writer cleans up first
        pass
    assert reader.pending_writes() == []
    with sqlite3.connect(tmp_path / "lib" / "sentences" / "newsqa.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM sentence_vectors").fetchone()[0] == 0
