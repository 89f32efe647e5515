"""Every training recipe on the real bundled model, a few steps each, as a user runs them.

One small project (the example's golden replies, plus a preference dataset made
from them) feeds the recipes; each test is a real CLI run. Together with the
kill-and-resume and the two-process DDP runs this tier takes a few minutes on
2 CPU cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e

FAST = [
    # the stop check generates up to twice the longest reply for 4 prompts after every run; these tests look at
    # recipes, resumption and export, and the demo test checks stopping on a model trained long enough to stop
    "--set",
    "train.stop_check=0",
    "--set",
    "train.max_steps=2",
    "--set",
    "train.batch_size=2",
    "--set",
    "train.micro_batch_size=2",
    "--set",
    "train.max_length=384",
    "--set",
    "train.save_steps=100",
    "--set",
    "train.eval_steps=100",
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import shutil

    root = tmp_path_factory.mktemp("training") / "northwind"
    shutil.copytree(EXAMPLE, root)
    golden = [json.loads(line) for line in (root / "data" / "golden.jsonl").read_text().splitlines()]
    system = "You are Northwind Outfitters' customer support assistant."
    pairs = []
    for row, other in zip(golden[:60], golden[60:120], strict=True):
        pairs.append(
            {
                "input": {
                    "messages": [{"role": "system", "content": system}, {"role": "user", "content": row["ticket"]}]
                },
                "preferred_output": [{"role": "assistant", "content": row["reply"]}],
                "non_preferred_output": [{"role": "assistant", "content": other["reply"]}],
            }
        )
    (root / "data" / "preferences.jsonl").write_text("\n".join(json.dumps(p) for p in pairs) + "\n")
    import yaml

    config = yaml.safe_load((root / "tunesmith.yaml").read_text())
    config["data"].setdefault("sources", []).append({"path": "data/preferences.jsonl"})
    # tracking has its own tests (tests/unit/test_registry.py, the demo e2e); here it would only add an MLflow
    # store and a copy of every recipe's weights to each of these runs
    config["tracking"] = {"enabled": False}
    (root / "tunesmith.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("data", "build", "-p", str(root), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["examples"]["train"] > 100
    return root


def train(project: Path, recipe: str, *extra: str) -> dict:
    result = run_cli("train", "-p", str(project), "--recipe", recipe, "--json", *FAST, *extra)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_data_build_keeps_preference_pairs(project: Path) -> None:
    data_run = sorted(p for p in (project / "runs").iterdir() if p.name.endswith("-data"))[-1]
    manifest = json.loads((data_run / "manifest.json").read_text())
    assert sum(manifest["preference_pairs"].values()) == 60 and manifest["accounted"]
    first = json.loads((data_run / "preference_train.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"input", "preferred_output", "non_preferred_output"}


@pytest.mark.parametrize("recipe", ["sft-dora", "sft-qlora", "sft-full"])
def test_sft_recipes(project: Path, recipe: str) -> None:
    summary = train(project, recipe)
    assert summary["recipe"] == recipe and summary["final_train_loss"] is not None
    folder = Path(summary["adapter"])
    assert (folder / "tokenizer.json").is_file() and (folder / "chat_template.jinja").is_file()
    if recipe == "sft-full":
        assert folder.name == "model" and (folder / "model.safetensors").is_file()
    else:
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["use_dora"] is (recipe == "sft-dora")
        assert not config.get("modules_to_save")  # loadable by vLLM's LoRA loader


@pytest.mark.parametrize("recipe", ["dpo", "kto"])
def test_preference_recipes(project: Path, recipe: str) -> None:
    summary = train(project, recipe)
    assert summary["recipe"] == recipe and summary["final_train_loss"] is not None
    history = [
        json.loads(line) for line in (Path(summary["adapter"]).parent / "metrics.jsonl").read_text().splitlines()
    ]
    assert any(k.startswith("rewards/") or k.startswith("eval_rewards/") or k == "kl" for row in history for k in row)


def test_reward_then_rlhf(project: Path) -> None:
    reward = train(project, "reward")
    assert 0.0 <= reward["reward_accuracy"] <= 1.0 and reward["pairs_scored"] > 0
    rlhf = train(
        project,
        "rlhf",
        "--set",
        "train.rlhf_generations=2",
        "--set",
        "train.rlhf_max_new_tokens=16",
        "--set",
        "train.max_steps=1",
    )
    assert rlhf["recipe"] == "rlhf" and rlhf["reward_run"].endswith("-train")
    assert (Path(rlhf["adapter"]) / "adapter_model.safetensors").is_file()


def test_dry_run_estimate_is_within_25_percent_of_measured(project: Path) -> None:
    args = [
        "--set",
        "train.micro_batch_size=4",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.max_steps=3",
        "--set",
        "train.save_steps=100",
        "--set",
        "train.eval_steps=100",
    ]
    plan = run_cli("train", "-p", str(project), "--dry-run", "--json", *args)
    assert plan.returncode == 0, plan.stderr[-2000:]
    estimate = json.loads(plan.stdout)
    measured = train(project, "sft-lora", *args)["peak_rss_mib"] * 2**20
    assert abs(estimate["peak_bytes"] - measured) / measured < 0.25, (estimate["peak_bytes"] / 2**20, measured / 2**20)


def test_fit_memory_picks_a_plan_within_the_budget_or_says_none_fits(project: Path) -> None:
    fits = run_cli("train", "-p", str(project), "--fit-memory", "3GiB", "--dry-run", "--json")
    assert fits.returncode == 0, fits.stderr[-2000:]
    plan = json.loads(fits.stdout)
    assert plan["peak_bytes"] <= 3 * 2**30 and plan["micro_batch_size"] * plan["grad_accumulation"] >= 8
    assert "fits 3GiB" in fits.stderr
    too_small = run_cli("train", "-p", str(project), "--fit-memory", "64MiB", "--dry-run")
    assert too_small.returncode == 2 and "no micro batch size fits 64MiB" in too_small.stderr
    assert "Traceback" not in too_small.stderr


def _loss_by_step(run: Path) -> dict[int, float]:
    # a step logged by the killed process and again after resuming counts once: the resumed value
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_kill_and_resume_reaches_the_same_loss(project: Path) -> None:
    args = [*FAST, "--set", "train.max_steps=6", "--set", "train.save_steps=2", "--set", "train.seed=7"]
    uninterrupted = _loss_by_step(Path(train(project, "sft-lora", *args[len(FAST) :])["adapter"]).parent)

    runs_before = set((project / "runs").iterdir())
    process = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "train", "-p", str(project), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.time() + 300
    killed_at = None
    while time.time() < deadline and process.poll() is None:
        new = [p for p in set((project / "runs").iterdir()) - runs_before]
        if new and list((new[0] / "checkpoints").glob("checkpoint-4/COMPLETE")):
            os.killpg(process.pid, signal.SIGKILL)
            killed_at = new[0]
            break
        time.sleep(0.2)
    process.wait()
    assert killed_at is not None, "the run finished before it could be killed"
    before_kill = _loss_by_step(killed_at)
    # the same seed in another process repeats the curve exactly up to the kill
    assert [before_kill[s] for s in range(1, 5)] == pytest.approx([uninterrupted[s] for s in range(1, 5)], abs=1e-6)

    # resuming without --set: the run continues with its own recorded settings
    resumed = run_cli("train", "-p", str(project), "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stderr and "checkpoint-4" in resumed.stderr
    after = _loss_by_step(killed_at)
    assert sorted(after) == sorted(uninterrupted) == list(range(1, 7))
    assert after[6] == pytest.approx(uninterrupted[6], abs=1e-3)


def test_distributed_data_parallel_on_two_cpu_processes(project: Path) -> None:
    summary = train(project, "sft-lora", "--nproc", "2")
    assert summary["world_size"] == 2 and Path(summary["adapter"], "adapter_model.safetensors").is_file()


def test_export_merges_and_writes_a_gguf_that_reads_back(project: Path) -> None:
    # with generation-based evaluation and early stopping on, as a watching user would train
    watched = [
        "--set",
        "train.eval_steps=1",
        "--set",
        "train.eval_generations=2",
        "--set",
        "train.early_stopping_patience=3",
    ]
    adapter = Path(train(project, "sft-lora", *watched)["adapter"])
    rows = [json.loads(line) for line in (adapter.parent / "metrics.jsonl").read_text().splitlines()]
    generated = [r for r in rows if "eval_rouge_l" in r]
    assert [r["step"] for r in generated] == [1, 2] and all(0 <= r["eval_rouge_l"] <= 1 for r in generated)
    assert all(0 <= r["eval_stop_rate"] <= 1 for r in generated)
    result = run_cli("export", str(adapter.parent), "-p", str(project), "--gguf", "--gguf-dtype", "f32", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["identical"] == report["prompts"] and report["max_logit_diff"] < 1e-3
    assert report["gguf"]["max_logit_diff"] < 1e-2 and report["gguf"]["tokenizer_round_trip"]
