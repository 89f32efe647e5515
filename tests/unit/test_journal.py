"""The generation journal shared by processes: the answers cache is one file per base model for every project."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

from tunesmith.models.journal import Journal


def _entry(key: str) -> dict[str, str]:
    return {"key": key, "text": f"answer {key}", "finish_reason": "stop"}


def _lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]  # raises on a damaged line


def test_a_batch_another_process_is_still_writing_is_waited_for_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    Journal(path).put_many([_entry("a")])
    # another process appending a batch: it holds the file's lock and has written half a line so far
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    fcntl.flock(fd, fcntl.LOCK_EX)
    line = (json.dumps(_entry("b")) + "\n").encode()
    os.write(fd, line[:10])
    opened: list[Journal] = []
    reader = threading.Thread(target=lambda: opened.append(Journal(path)))
    reader.start()
    reader.join(timeout=0.5)
    assert reader.is_alive(), "the journal was read while a batch was half written"
    os.write(fd, line[10:])
    os.close(fd)
    reader.join(timeout=10)
    assert "a" in opened[0] and "b" in opened[0]
    assert [row["key"] for row in _lines(path)] == ["a", "b"]


def test_a_killed_writers_torn_line_is_cut_by_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    Journal(path).put_many([_entry("a"), _entry("b")])
    with path.open("ab") as f:  # a writer killed mid-line
        f.write(json.dumps(_entry("c")).encode()[:15])
    journal = Journal(path)
    assert journal.resumed == 2 and "c" not in journal
    journal.put_many([_entry("c"), _entry("d")])
    assert [row["key"] for row in _lines(path)] == ["a", "b", "c", "d"]
    assert Journal(path).resumed == 4


def test_a_damaged_line_costs_its_own_answer_only(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    with path.open("wb") as f:  # a line damaged in the middle (say, written before appends were locked)
        f.write((json.dumps(_entry("a")) + "\n").encode() + b'{"key": "b", \x00garbage\n')
        f.write((json.dumps(_entry("c")) + "\n").encode())
    journal = Journal(path)
    assert "a" in journal and "c" in journal and "b" not in journal
    journal.put_many([_entry("b")])
    assert {"a", "b", "c"} <= set(Journal(path)._entries)


def test_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "answers.jsonl"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_append_batches, args=(str(path), tag, start)) for tag in "xy"]
    workers.append(context.Process(target=_open_repeatedly, args=(str(path), start)))  # stages starting meanwhile
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    rows = [line for line in path.read_bytes().splitlines()]
    keys = {json.loads(line)["key"] for line in rows}  # raises on a line two writers interleaved
    assert len(rows) == len(keys) == 2 * 30 * 60


def _append_batches(path: str, tag: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    for batch in range(30):  # each batch by a newly opened journal, as a new stage or worker opens it
        Journal(Path(path)).put_many(
            [{**_entry(f"{tag}-{batch}-{i}"), "text": "x" * 400} for i in range(60)]  # 60 lines, past one buffer
        )


def _open_repeatedly(path: str, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    for _ in range(200):
        if os.path.exists(path):
            Journal(Path(path))
