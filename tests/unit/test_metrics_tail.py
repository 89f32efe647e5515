"""The worker reads a training run's metrics.jsonl as it grows, a line only once it is whole."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.core.rundir import RunDir
from tunesmith.serve.worker import MetricsTail


def test_each_look_returns_the_lines_written_since_the_last(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "runs", "train", {})
    tail = MetricsTail(run)
    assert tail.read() == []  # no file yet
    path = run.path("metrics.jsonl")
    line = lambda **row: json.dumps(row) + "\n"  # noqa: E731
    path.write_text(line(step=1, loss=2.0) + line(step=1, eval_loss=2.5) + '{"step": 2, "lo')
    assert tail.read() == [{"step": 1, "loss": 2.0}, {"step": 1, "eval_loss": 2.5}]
    assert tail.read() == []  # the half-written line waits
    with path.open("a") as f:  # finished; then a killed run's torn line and the resumed run's first
        f.write('ss": 1.5}\n' + '{"step": 3, "lo' + line(step=3, loss=1.2) + "[1, 2]\n")
    assert tail.read() == [{"step": 2, "loss": 1.5}]
    assert tail.by_step == {1: {"step": 1, "loss": 2.0, "eval_loss": 2.5}, 2: {"step": 2, "loss": 1.5}}
    path.write_text(line(step=1, loss=9.0))  # written anew: read from the top
    assert tail.read() == [{"step": 1, "loss": 9.0}] and tail.by_step == {1: {"step": 1, "loss": 9.0}}


def test_the_jobs_page_curve_is_thinned_and_keeps_every_evaluation(tmp_path: Path) -> None:
    from tunesmith.ui.jobs import MAX_POINTS, loss_curve

    run = RunDir.create(tmp_path / "runs", "train", {})
    with run.path("metrics.jsonl").open("w") as f:
        for step in range(1, 10_001):
            f.write(json.dumps({"step": step, "max_steps": 10_000, "loss": 1.0 / step, "time": 0.0}) + "\n")
            if step % 1000 == 0:
                f.write(json.dumps({"step": step, "eval_loss": 2.0 / step}) + "\n")
    curve = loss_curve(run)
    assert MAX_POINTS // 2 <= len(curve) <= MAX_POINTS + 10
    assert curve[0]["step"] == 1 and curve[-1]["step"] == 10_000 and curve[-1]["max_steps"] == 10_000
    assert [p["step"] for p in curve if "eval_loss" in p] == list(range(1000, 10_001, 1000))
    with run.path("metrics.jsonl").open("a") as f:  # the next look reads only what was added
        f.write(json.dumps({"step": 10_001, "loss": 0.5}) + "\n")
    assert loss_curve(run)[-1] == {"step": 10_001, "max_steps": None, "loss": 0.5}


def test_a_logs_last_lines_are_read_from_its_end(tmp_path: Path) -> None:
    from tunesmith.core.logtail import last_lines

    log = tmp_path / "job.log"
    assert last_lines(log, 3) == []
    log.write_text("".join(f"line {i} " + "x" * 90 + "\n" for i in range(100_000)) + "\n  \n")  # ~10 MB
    assert last_lines(log, 2) == [f"line {i} " + "x" * 90 for i in (99_998, 99_999)]
    # only the end is read: a window smaller than a line gives none whole, never a cut one
    assert last_lines(log, 5, max_bytes=50) == []
    log.write_text("only\n")
    assert last_lines(log, 5) == ["only"]
