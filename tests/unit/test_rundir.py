"""Run folders: two processes starting the same stage in the same second get a folder each."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.core.rundir import RunDir


def test_a_name_taken_between_look_and_make_moves_to_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = RunDir.create(tmp_path / "runs", "train", name="20261206-120000-train")
    # another process made the folder after this one looked: mkdir is the only check that cannot race
    monkeypatch.setattr(Path, "exists", lambda self: False)
    second = RunDir.create(tmp_path / "runs", "train", name="20261206-120000-train")
    third = RunDir.create(tmp_path / "runs", "train", name="20261206-120000-train")
    assert [r.root.name for r in (first, second, third)] == [
        "20261206-120000-train",
        "20261206-120000-train-2",
        "20261206-120000-train-3",
    ]
