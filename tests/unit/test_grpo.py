"""GRPO with the project's rewards: the rewards built from the project file, the early-stop guard, and a real
(tiny) GRPO run through TRL that logs every reward and the KL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tunesmith.core.errors import ConfigError, StageError
from tunesmith.project import load_project
from tunesmith.rewards import build_rewards
from tunesmith.train.config import GrpoConfig, RewardSpec
from tunesmith.train.grpo import Guard, prompts_of

SIGN_OFF = "Happy trails,\nThe Support Team"


def _project(folder: Path, **extra: Any) -> Path:
    cfg = {
        "name": "grpo",
        "system_prompt": "You are a support assistant.",
        "eval": {"style": {"required": ["Happy trails"], "max_words": 40}, **extra.pop("eval", {})},
        "tracking": {"enabled": False},
        **extra,
    }
    (folder / "tunesmith.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def _records(n: int = 4) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        answer = f"Hi! Order {i} ships tomorrow.\n\n{SIGN_OFF}" if i % 3 else "I'm sorry, but I can't help with that."
        out.append(
            {
                "id": f"r{i}",
                "messages": [
                    {"role": "system", "content": "You are a support assistant."},
                    {"role": "user", "content": f"Where is order {i}?"},
                    {"role": "assistant", "content": answer},
                ],
                "meta": {"input": f"Where is order {i}?", "output": answer},
            }
        )
    return out


def _call(fn: Any, completions: list[str], rows: list[dict[str, Any]]) -> list[float | None]:
    columns = {k: [r[k] for r in rows] for k in ("reference", "input", "points", "declines")}
    return fn(
        prompts=[r["prompt"] for r in rows],
        completions=[[{"role": "assistant", "content": c}] for c in completions],
        **columns,
    )


def test_rewards_are_the_projects_metrics_refusal_and_user_functions(tmp_path: Path) -> None:
    (tmp_path / "rewards.py").write_text(
        "def shorter(prompts, completions, references):\n    return [1.0 / (1 + len(c)) for c in completions]\n"
    )
    project = load_project(_project(tmp_path))
    specs = [
        RewardSpec(kind="style"),
        RewardSpec(kind="rouge", weight=0.5),
        RewardSpec(kind="refusal"),
        RewardSpec(kind="python", function="rewards.py:shorter", name="short"),
    ]
    functions, weights = build_rewards(specs, project)
    assert [f.__name__ for f in functions] == ["style", "rouge", "refusal", "short"] and weights == [1, 0.5, 1, 1]
    rows = prompts_of(_records(3))  # r0 declines, r1 and r2 answer
    assert [r["declines"] for r in rows] == [True, False, False]
    good = [rows[0]["reference"], rows[1]["reference"], rows[2]["reference"]]
    bad = ["Sure, here is a poem about the sea.", "no", "no"]
    style, rouge, refusal, short = (_call(f, good, rows) for f in functions)
    assert style[1] == 1.0 and _call(functions[0], bad, rows)[1] < 1.0
    assert rouge[1] == pytest.approx(1.0) and _call(functions[1], bad, rows)[1] < 0.2
    assert refusal == [1.0, 1.0, 1.0] and _call(functions[2], bad, rows)[0] == 0.0  # answered what it should decline
    assert short[1] == pytest.approx(1 / (1 + len(good[1])))


def test_rewards_the_project_cannot_compute_fail_before_training(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    with pytest.raises(ConfigError, match="eval.format.regex"):
        build_rewards([RewardSpec(kind="format")], project)
    with pytest.raises(ConfigError, match="both named 'style'"):
        build_rewards([RewardSpec(kind="style"), RewardSpec(kind="style", weight=2)], project)
    with pytest.raises(ConfigError, match="no reward function 'nope'"):
        build_rewards([RewardSpec(kind="python", function="nope")], project)
    with pytest.raises(ConfigError, match="inside the project"):
        build_rewards([RewardSpec(kind="python", function="../x.py:f")], project)
    judged = load_project(_project(tmp_path, eval={"judge": {"endpoint": "http://127.0.0.1:9/v1", "model": "j"}}))
    with pytest.raises(
        ConfigError, match="GRPO reward judge uses the LLM judge, but this judge .* has not been checked"
    ):
        build_rewards([RewardSpec(kind="judge")], judged)


def test_guard_stops_on_runaway_kl_or_reward_collapse_only_when_sustained() -> None:
    guard = Guard(GrpoConfig(max_kl=0.5, collapse=0.3, patience=2))
    assert guard.observe(1, {"reward": 0.8, "kl": 0.6}) is None  # one high KL is noise
    assert guard.observe(2, {"reward": 0.8, "kl": 0.1}) is None
    assert guard.observe(3, {"reward": 0.9, "kl": 0.7}) is None
    reason = guard.observe(4, {"reward": 0.9, "kl": 0.8})
    assert reason is not None and reason.startswith("KL to the reference 0.800 > 0.5") and "step 4" in reason
    collapse = Guard(GrpoConfig(max_kl=None, collapse=0.3, patience=2))
    for step, reward in enumerate([0.2, 0.8, 0.9, 0.7, 0.5], start=1):
        assert collapse.observe(step, {"reward": reward}) is None
    assert "reward collapsed" in (collapse.observe(6, {"reward": 0.3}) or "")
    assert Guard(GrpoConfig(max_kl=None, collapse=None)).observe(1, {"reward": -5.0, "kl": 99.0}) is None


def test_a_grpo_run_logs_each_reward_and_the_kl(tmp_path: Path, tiny_model: Path) -> None:
    from tunesmith.core.rundir import RunDir
    from tunesmith.models.spec import LocalModelRef
    from tunesmith.train.config import TrainConfig
    from tunesmith.train.run import run

    (tmp_path / "p").mkdir()
    project = _project(tmp_path / "p", models={"base": str(tiny_model)})
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records(4)))
    cfg = TrainConfig.model_validate(
        {
            "recipe": "grpo",
            "max_steps": 2,
            "batch_size": 4,
            "micro_batch_size": 4,
            "stop_check": 0,
            "replay": None,
            "learning_rate": 1e-3,
            "grpo": {"generations": 2, "max_new_tokens": 8, "rewards": [{"kind": "style"}, {"kind": "rouge"}]},
        }
    )
    run_dir = RunDir.create(project / "runs", "train")
    base = LocalModelRef(id=str(tiny_model))
    with pytest.raises(StageError, match="reward functions"):
        run(cfg, base=base, data_dir=data, project_dir=project, run_dir=run_dir)
    rewards = build_rewards(cfg.grpo.rewards, load_project(project))
    result = run(cfg, base=base, data_dir=data, project_dir=project, run_dir=run_dir, rewards=rewards)
    logged = [m for m in run_dir.metrics() if "reward" in m]
    assert len(logged) == 2
    for key in ("rewards/style/mean", "rewards/rouge/mean", "kl", "reward"):
        assert all(key in m for m in logged), (key, logged[0].keys())
    assert set(result.extra["rewards"]) == {"style", "rouge"} and result.extra["stopped_early"] is None
    assert (run_dir.root / "adapter" / "adapter_config.json").is_file()
    from tunesmith.eval.report import reward_charts

    charts = reward_charts(run_dir.metrics())  # the report draws every reward's curve and the KL
    assert 'aria-label="reward curves"' in charts and ">style<" in charts and 'aria-label="KL curve"' in charts
