"""Self-distillation replay: the base model's answers mixed at a ratio, cached once, never the probe's prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunesmith.core.rundir import RunDir
from tunesmith.models.generation import Generation, GenerationParams
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.config import ReplayConfig, TrainConfig
from tunesmith.train.replay import ensure_replay, resolve_ratio


class ScriptedBase:
    """Answers every prompt; prompts containing 'story' run past the token limit (finish_reason 'length')."""

    name = "scripted-base"
    batch_size = 8

    def __init__(self) -> None:
        self.asked: list[str] = []

    def generate(self, chats: list[list[dict[str, Any]]], params: GenerationParams, **_: Any) -> list[Generation]:
        prompts = [c[-1]["content"] for c in chats]
        self.asked += prompts
        return [
            Generation(f"Answer to: {p}", 5, 6, "length" if "story" in p.lower() else "stop", 0.01) for p in prompts
        ]


@pytest.fixture()
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalModelRef:
    monkeypatch.setenv("TUNESMITH_CACHE", str(tmp_path / "cache"))  # the answers cache, not the user's
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return LocalModelRef(id=str(folder))


def test_replay_is_mixed_at_its_ratio_and_cached(tmp_path: Path, base: LocalModelRef) -> None:
    generator = ScriptedBase()
    run = RunDir.create(tmp_path / "runs", "train")
    records, skipped, info = ensure_replay(
        run, ReplayConfig(ratio=0.5), base=base, project_dir=tmp_path, n_task=40, seed=1, generator=generator
    )
    assert info["examples"] == len(records) == 20 and info["ratio"] == 0.5
    assert all(r["messages"][0]["role"] == "user" and r["messages"][1]["role"] == "assistant" for r in records)
    assert all(r["meta"]["replay"] and r["id"].startswith("replay:") for r in records)
    # an answer the base model did not finish is never trained on: it is listed with its reason
    unfinished = [p for p in generator.asked if "story" in p.lower()]
    assert unfinished and all("story" not in r["messages"][0]["content"].lower() for r in records)
    assert sum("did not finish" in s["reason"] for s in skipped) == len(unfinished)
    assert len(generator.asked) <= round(20 * 1.3) + 4  # a few spare prompts, not the whole set
    # the run folder records the examples: a resumed run trains on the same ones without generating
    again, _, reused = ensure_replay(run, ReplayConfig(ratio=0.5), base=base, project_dir=tmp_path, n_task=40, seed=1)
    assert again == records and reused["reused"]
    # another run asks the cache, not the model, for what the base model already answered
    second = ScriptedBase()
    other = RunDir.create(tmp_path / "runs", "train")
    more, _, _ = ensure_replay(
        other, ReplayConfig(ratio=0.5), base=base, project_dir=tmp_path, n_task=40, seed=1, generator=second
    )
    assert more == records and second.asked == []


def test_prompts_that_copy_the_probe_are_dropped(tmp_path: Path, base: LocalModelRef) -> None:
    prompts = tmp_path / "mine.jsonl"
    rows = [{"prompt": "What is the capital of France?"}] + [
        {"prompt": f"Describe hobby number {i}."} for i in range(30)
    ]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = RunDir.create(tmp_path / "runs", "train")
    cfg = ReplayConfig(ratio=1.0, prompts="mine.jsonl")
    records, skipped, _ = ensure_replay(
        run, cfg, base=base, project_dir=tmp_path, n_task=10, seed=0, generator=ScriptedBase()
    )
    assert len(records) == 10
    assert all("France" not in r["messages"][0]["content"] for r in records)
    assert any("duplicates retention-probe prompt" in s["reason"] for s in skipped)


def test_ratio_auto_and_the_shorthand() -> None:
    assert resolve_ratio(ReplayConfig(), 200)[0] == 0.25
    assert resolve_ratio(ReplayConfig(), 20)[0] == pytest.approx(16 / 20)  # at least 16 examples
    assert TrainConfig.model_validate({"replay": 0.3}).replay == ReplayConfig(ratio=0.3)
    assert TrainConfig.model_validate({"replay": None}).replay is None
    with pytest.raises(ValueError, match="between 0 and 4"):
        ReplayConfig(ratio=9)
