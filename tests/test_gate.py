"""The readers-writer gate that lets app sessions ask at the same time (issue 14).

Real threads, no timing: a barrier that only opens when two threads are inside
at once shows that readers overlap; events show that a writer runs alone.
"""

from __future__ import annotations

import threading

import pytest

from newsqa.gate import ReadWriteGate

WAIT_S = 10  # generous: only a deadlock or a serialised reader gets near it


def test_readers_hold_the_gate_at_the_same_time() -> None:
    gate = ReadWriteGate()
    inside = threading.Barrier(4, timeout=WAIT_S)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with gate.shared():
                inside.wait()  # opens only when all four readers are inside together
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S * 2)
    assert errors == []


def test_a_writer_waits_for_readers_and_new_readers_wait_for_it() -> None:
    gate = ReadWriteGate()
    reader_in, release_reader = threading.Event(), threading.Event()
    writer_in, late_reader_in = threading.Event(), threading.Event()
    order: list[str] = []

    def first_reader() -> None:
        with gate.shared():
            reader_in.set()
            release_reader.wait(WAIT_S)
            order.append("reader done")

    def writer() -> None:
        with gate.exclusive():
            writer_in.set()
            order.append("writer")

    def late_reader() -> None:
        with gate.shared():
            late_reader_in.set()
            order.append("late reader")

    threads = [threading.Thread(target=first_reader)]
    threads[0].start()
    assert reader_in.wait(WAIT_S)
    threads.append(threading.Thread(target=writer))
    threads[1].start()
    # The writer is queued behind the reader; a reader arriving now queues behind it.
    while not gate._writers_waiting:
        threading.Event().wait(0.01)
    threads.append(threading.Thread(target=late_reader))
    threads[2].start()
    assert not writer_in.wait(0.2)
    assert not late_reader_in.is_set()
    release_reader.set()
    for t in threads:
        t.join(WAIT_S)
    assert order == ["reader done", "writer", "late reader"]


def test_nested_use_in_one_thread() -> None:
    gate = ReadWriteGate()
    with gate.exclusive(), gate.shared(), gate.exclusive():
        pass  # a writer may call a method that reads, or writes again
    with gate.shared(), gate.shared():
        pass
    with gate.shared(), pytest.raises(RuntimeError, match="deadlock"), gate.exclusive():
        pass
    # Released properly: a writer gets in at once from another thread.
    done = threading.Event()

    def write() -> None:
        with gate.exclusive():
            done.set()

    threading.Thread(target=write).start()
    assert done.wait(WAIT_S)
