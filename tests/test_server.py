"""The Chroma server path: a real `chroma run` process, a CLI ingest, queries from here.

What it shows (issues 2 and 6): one library on a server is shared by processes (and
machines: each NewsQA here has its own data dir, as another machine would), the BM25
side works from a local cache keyed by the store's generation, a server restart loses
nothing and the same NewsQA instance recovers by itself, and a server that is not
there gives one clear error instead of a traceback.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from newsqa import NewsQA, Settings, StoreError
from newsqa.lexical import _META

pytestmark = [pytest.mark.slow, pytest.mark.server]

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED_FILE = SEEDS / "000_6eff8e50bb41c3d7.txt"
BIN = Path(sys.executable).parent
CHROMA = BIN / "chroma"
NEWSQA = BIN / "newsqa"
QUESTION = "How long was the recording?"
EXTRA = (
    "date 2024-03-06\n"
    "The harbour authority closed the northern pier on Wednesday after storm damage. "
    "Engineers said the pier would reopen in April once the pylons had been replaced."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class ChromaServer:
    """`chroma run` on a folder and a port; can be stopped and started again on both."""

    path: Path
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        command = [str(CHROMA), "run", "--path", str(self.path)]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not answers_heartbeat(self.url):
            if self.process.poll() is not None:
                pytest.fail(f"chroma run exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"chroma run did not answer in {timeout} s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def cli(*args: str, data_dir: Path, chroma_url: str) -> subprocess.CompletedProcess[str]:
    """Run the `newsqa` command in its own process against the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSQA_")}
    env.update(NEWSQA_DATA_DIR=str(data_dir), NEWSQA_CHROMA_URL=chroma_url)
    return subprocess.run(
        [str(NEWSQA), *args], env=env, capture_output=True, text=True, timeout=600
    )


@dataclass
class Served:
    server: ChromaServer
    ingest: subprocess.CompletedProcess[str]
    tmp: Path

    def qa(self, name: str) -> NewsQA:
        """A client with its own data dir, as on another machine."""
        return NewsQA(Settings(data_dir=self.tmp / name, chroma_url=self.server.url))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A running server holding the seed article, ingested by a `newsqa ingest` process."""
    if not CHROMA.exists():
        pytest.skip(f"needs the chroma CLI at {CHROMA}")
    tmp = tmp_path_factory.mktemp("server")
    server = ChromaServer(tmp / "chroma-server", free_port(), tmp / "chroma.log")
    server.start()
    try:
        ingest = cli("ingest", "--json", str(SEEDS), data_dir=tmp / "cli", chroma_url=server.url)
        yield Served(server, ingest, tmp)
    finally:
        server.stop()


def check_citations(qa: NewsQA, answer: Any) -> None:
    assert answer.answerable and answer.citations
    for c in answer.citations:
        text = qa.store.article_text(c.article_id)
        assert c.verified and text is not None and text[c.start : c.end] == c.text


def test_ingest_in_one_process_query_from_another(served: Served) -> None:
    assert served.ingest.returncode == 0, served.ingest.stderr
    report = json.loads(served.ingest.stdout)
    assert (report["added"], report["failed"]) == (1, 0)
    assert "Traceback" not in served.ingest.stderr

    qa = served.qa("reader")
    assert qa.store.is_server
    (info,) = qa.articles()
    assert (info.source, info.passages) == (str(SEED_FILE), report["results"][0]["passages"])
    answer = qa.ask(QUESTION)
    assert "38-minute" in answer.text
    check_citations(qa, answer)

    # Re-ingesting from here adds nothing: the article ids are content ids.
    count = qa.store.count_passages()
    again = qa.ingest([SEEDS])
    assert (again.count("added"), again.count("unchanged"), again.ok) == (0, 1, True)
    assert qa.store.count_passages() == count == info.passages


def test_bm25_runs_from_a_local_cache_keyed_by_generation(served: Served) -> None:
    reader = served.qa("bm25-reader")
    cache = reader.settings.data_dir / "bm25" / reader.settings.collection
    (seed,) = reader.articles()
    hits = reader.lexical.search("Taurus missiles recording", 5)
    assert hits and all(pid.startswith(f"{seed.id}:") for pid, _ in hits)
    meta = json.loads((cache / _META).read_text())
    assert meta["generation"] == reader.store.generation() != ""

    # Another "machine" writes through the server: the reader sees the new generation,
    # rebuilds its own BM25 copy, and finds the new article on the next question.
    writer = served.qa("bm25-writer")
    extra = served.tmp / "extra"
    extra.mkdir()
    (extra / "pier.txt").write_text(EXTRA)
    assert writer.ingest([extra]).count("added") == 1
    answer = reader.ask("When will the northern pier reopen?")
    assert "April" in answer.text
    check_citations(reader, answer)
    assert json.loads((cache / _META).read_text())["generation"] == writer.store.generation()
    assert any(h.bm25_score for h in reader.search.search("northern pier pylons", 3).hits)

    # Leave the shared library as the other tests expect it.
    (pier,) = [a for a in writer.articles() if a.source == str(extra / "pier.txt")]
    assert writer.remove(pier.id)


def test_server_restart_loses_nothing_and_the_client_recovers(served: Served) -> None:
    qa = served.qa("survivor")
    before = qa.ask(QUESTION)
    articles, count = qa.articles(), qa.store.count_passages()

    served.server.stop()
    # While it is down: one clear error naming the URL, from the same instance.
    with pytest.raises(StoreError) as info:
        qa.ask(QUESTION)
    message = str(info.value)
    assert served.server.url in message and "chroma run" in message
    with pytest.raises(StoreError):
        qa.articles()

    served.server.start()  # same folder, same port
    after = qa.ask(QUESTION)  # the same NewsQA object: no restart of the "app"
    assert after.text == before.text
    check_citations(qa, after)
    assert qa.articles() == articles
    assert qa.store.count_passages() == count
    # A fresh process-like client sees the same library.
    assert served.qa("after-restart").articles() == articles


def test_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(StoreError, match=r"^cannot reach the Chroma server at " + url):
        NewsQA(Settings(data_dir=tmp_path / "lib", chroma_url=url)).articles()

    for args in (("articles", "list"), ("ingest", str(SEED_FILE)), ("ask", QUESTION)):
        done = cli(*args, data_dir=tmp_path / "lib", chroma_url=url)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"error: cannot reach the Chroma server at {url}")


def test_wire_copies_group_on_a_server_from_another_machine(served: Served) -> None:
    """Issue 13: story signatures live on the server, so a client whose data dir has no
    story index yet groups a copy with the seed that the CLI process ingested."""
    qa = served.qa("stories")
    paragraphs = SEED_FILE.read_text(encoding="utf-8").split("\n\n")
    record = {
        "title": "Berlin denies war plans",
        "date": "2024-03-05",
        "url": "https://www.example-daily.com/berlin",
        "text": "\n\n".join(paragraphs[:-3]).removeprefix(" date 2024-03-05 ").strip(),
    }
    copy = served.tmp / "copy.json"
    copy.write_text(json.dumps(record), encoding="utf-8")
    assert qa.ingest([copy]).ok
    infos = {i.source: i for i in qa.articles()}
    seed, other = infos[str(SEED_FILE)], infos[record["url"]]
    assert other.story == seed.story == seed.id
    answer = qa.ask(QUESTION)
    assert answer.answerable
    assert {c.article_id for c in answer.citations[0].also_reported} == {
        seed.id,
        other.id,
    } - {answer.citations[0].article_id}
    assert qa.remove(other.id)  # the library as the other tests found it
    assert [i.story for i in qa.articles()] == [seed.id]
