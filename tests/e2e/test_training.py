"""Every training recipe as a user runs them (real CLI runs), on a tiny model of the bundled model's family.

One small project (the example's golden replies, plus preference pairs made from them) feeds the recipes.
The mechanics here (recipes, checkpoints, kill-and-resume, two-process DDP, merge and GGUF export, the
memory plan) do not need a model that knows anything, so they run on a 2-layer random Llama with the bundled
model's real tokenizer and chat template (tests/tiny_model.py); the memory estimate is checked on the real
model it is calibrated for, and the demo test trains the real model end to end.

Each recipe must make its loss go down, and its final loss must stay inside a band recorded from a run on
the reference machine (seeded, so a change to data handling, masking or the loss shows up here).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.e2e

FAST = [
    # the stop check generates after every run; a random model never stops, and the demo test checks stopping
    "--set",
    "train.stop_check=0",
    "--set",
    "train.max_steps=8",
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
    # a random model needs larger steps than a pretrained one to move in 8 of them
    "--set",
    "train.learning_rate=0.01",
    # a random model never finishes an answer, so it has none to replay (tests/unit/test_replay.py, the demo)
    "--set",
    "train.replay=0",
]

# Final-loss bands around seeded runs (recorded with the per-epoch seeded sampler, here and on CI alike: sft-lora
# 10.613 with two processes, sft-dora 10.610, sft-qlora 10.595, sft-full 9.195, dpo 0.151, kto 0.252, reward
# 0.003 after 12 steps; every curve starts at ~10.79, 0.693, 0.5 and 0.70): wide enough for another CPU's
# arithmetic, narrow enough that a broken loss mask or a recipe that stopped learning falls out
BANDS: dict[str, tuple[float, float]] = {
    "sft-lora": (10.55, 10.68),
    "sft-dora": (10.54, 10.67),
    "sft-qlora": (10.53, 10.66),
    "sft-full": (8.9, 9.35),
    "dpo": (0.08, 0.25),
    "kto": (0.15, 0.35),
    "reward": (0.0, 0.05),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    import shutil

    root = tmp_path_factory.mktemp("training") / "northwind"
    shutil.copytree(EXAMPLE, root)
    golden = [json.loads(line) for line in (root / "data" / "golden.jsonl").read_text().splitlines()]
    system = "You are Northwind Outfitters' customer support assistant."
    # a preference with a signal any model can learn: the team's reply over a curt non-answer
    pairs = [
        {
            "input": {"messages": [{"role": "system", "content": system}, {"role": "user", "content": row["ticket"]}]},
            "preferred_output": [{"role": "assistant", "content": row["reply"]}],
            "non_preferred_output": [{"role": "assistant", "content": "No."}],
        }
        for row in golden[:60]
    ]
    (root / "data" / "preferences.jsonl").write_text("\n".join(json.dumps(p) for p in pairs) + "\n")
    # the demonstrations are the other replies: a pair is not also a near-duplicate demonstration
    (root / "data" / "golden.jsonl").write_text("".join(json.dumps(row) + "\n" for row in golden[60:]))
    config = yaml.safe_load((root / "tunesmith.yaml").read_text())
    config["models"] = {"base": str(tiny_model)}
    config["data"].setdefault("sources", []).append({"path": "data/preferences.jsonl"})
    # knowledge points do not change what training does with an example: skip indexing the KB here
    config["data"]["points"] = 0
    # tracking has its own tests (tests/unit/test_registry.py, the demo e2e); here it would only add an MLflow
    # store and a copy of every recipe's weights to each of these runs
    config["tracking"] = {"enabled": False}
    (root / "tunesmith.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_cli("data", "build", "-p", str(root), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["examples"]["train"] > 90
    return root


def train(project: Path, recipe: str, *extra: str) -> dict:
    result = run_cli("train", "-p", str(project), "--recipe", recipe, "--json", *FAST, *extra)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def losses(summary: dict) -> list[float]:
    rows = [json.loads(line) for line in (Path(summary["adapter"]).parent / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if "loss" in r]


def assert_learned(summary: dict, recipe: str) -> None:
    curve = losses(summary)
    low, high = BANDS[recipe]
    assert curve[-1] < curve[0], f"{recipe}: the loss did not go down: {curve}"
    assert low <= curve[-1] <= high, f"{recipe}: final loss {curve[-1]:.4f} outside its band [{low}, {high}]: {curve}"


def test_data_build_keeps_preference_pairs(project: Path) -> None:
    data_run = sorted(p for p in (project / "runs").iterdir() if p.name.endswith("-data"))[-1]
    manifest = json.loads((data_run / "manifest.json").read_text())
    assert sum(manifest["preference_pairs"].values()) == 60 and manifest["accounted"]
    first = json.loads((data_run / "preference_train.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"input", "preferred_output", "non_preferred_output"}


@pytest.mark.parametrize("recipe", ["sft-dora", "sft-qlora", "sft-full"])
def test_sft_recipes(project: Path, recipe: str) -> None:
    summary = train(project, recipe)
    assert summary["recipe"] == recipe
    assert_learned(summary, recipe)
    folder = Path(summary["adapter"])
    assert (folder / "tokenizer.json").is_file() and (folder / "chat_template.jinja").is_file()
    if recipe == "sft-full":
        assert folder.name == "model" and (folder / "model.safetensors").is_file()
        # merged already: exported for llama.cpp and Ollama as it is (it used to be refused as having no adapter)
        result = run_cli("export", str(folder.parent), "-p", str(project), "--gguf-dtype", "q8_0", "--ollama", "--json")
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout)
        assert report["model"] == str(folder) and "merged" not in report
        assert report["gguf"]["tensor_types"] == {"q8_0": 15, "f32": 5} and report["gguf"]["top1_agreement"] > 0.9
        assert Path(report["modelfile"]).read_text().startswith("FROM ./model-q8_0.gguf\n")
        plain = run_cli("export", str(folder.parent), "-p", str(project))
        assert plain.returncode == 2 and "already merged" in plain.stderr and "--gguf" in plain.stderr
    else:
        config = json.loads((folder / "adapter_config.json").read_text())
        assert config["use_dora"] is (recipe == "sft-dora")
        assert not config.get("modules_to_save")  # loadable by vLLM's LoRA loader


@pytest.mark.parametrize("recipe", ["dpo", "kto"])
def test_preference_recipes(project: Path, recipe: str) -> None:
    summary = train(project, recipe, "--set", "train.learning_rate=0.005")
    assert summary["recipe"] == recipe
    assert_learned(summary, recipe)
    history = [
        json.loads(line) for line in (Path(summary["adapter"]).parent / "metrics.jsonl").read_text().splitlines()
    ]
    assert any(k.startswith("rewards/") or k.startswith("eval_rewards/") or k == "kl" for row in history for k in row)


def test_reward_then_rlhf(project: Path) -> None:
    reward = train(project, "reward", "--set", "train.max_steps=12")
    assert_learned(reward, "reward")
    # the team's reply over "No.": a reward model that learned anything ranks held-out pairs that way
    assert reward["pairs_scored"] > 0 and reward["reward_accuracy"] >= 0.75, reward
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
    # the memory model is calibrated on the real bundled model: measured against it
    real = ["--set", "models.base=bundled:smollm2-135m-instruct"]
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
    plan = run_cli("train", "-p", str(project), "--dry-run", "--json", *real, *args)
    assert plan.returncode == 0, plan.stderr[-2000:]
    estimate = json.loads(plan.stdout)
    measured = train(project, "sft-lora", *real, *args)["peak_rss_mib"] * 2**20
    assert abs(estimate["peak_bytes"] - measured) / measured < 0.25, (estimate["peak_bytes"] / 2**20, measured / 2**20)


def test_fit_memory_picks_a_plan_within_the_budget_or_says_none_fits(project: Path) -> None:
    fits = run_cli("train", "-p", str(project), "--fit-memory", "3GiB", "--dry-run", "--json")
    assert fits.returncode == 0, fits.stderr[-2000:]
    plan = json.loads(fits.stdout)
    # the plan splits the project's batch into micro batches, it never changes the batch itself
    batch = yaml.safe_load((project / "tunesmith.yaml").read_text())["train"]["batch_size"]
    assert plan["peak_bytes"] <= 3 * 2**30 and plan["micro_batch_size"] * plan["grad_accumulation"] == batch
    assert "fits 3GiB" in fits.stderr
    too_small = run_cli("train", "-p", str(project), "--fit-memory", "64MiB", "--dry-run")
    assert too_small.returncode == 2 and "no micro batch size fits 64MiB" in too_small.stderr
    assert "Traceback" not in too_small.stderr


def _loss_by_step(run: Path) -> dict[int, float]:
    # a step logged by the killed process and again after resuming counts once: the resumed value
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}


def test_kill_and_resume_reaches_the_same_loss(project: Path) -> None:
    # many steps after the checkpoint the run is killed at, so the kill lands mid-run on any machine
    steps = ["--set", "train.max_steps=24", "--set", "train.save_steps=4", "--set", "train.eval_steps=4"]
    steps += ["--set", "train.seed=7"]
    args = [*FAST, *steps]
    uninterrupted = _loss_by_step(Path(train(project, "sft-lora", *steps)["adapter"]).parent)

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
        if new and list((new[0] / "checkpoints").glob("checkpoint-8/COMPLETE")):
            os.killpg(process.pid, signal.SIGKILL)
            killed_at = new[0]
            break
        time.sleep(0.05)
    process.wait()
    assert killed_at is not None, "the run finished before it could be killed"
    before_kill = _loss_by_step(killed_at)
    # the same seed in another process repeats the curve exactly up to the kill
    assert [before_kill[s] for s in range(1, 9)] == pytest.approx([uninterrupted[s] for s in range(1, 9)], abs=1e-6)
    assert max(before_kill) < 24, "killed too late to test resuming"

    # resuming without --set: the run continues with its own recorded settings
    resumed = run_cli("train", "-p", str(project), "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stderr and "checkpoint-8" in resumed.stderr
    after = _loss_by_step(killed_at)
    assert sorted(after) == sorted(uninterrupted) == list(range(1, 25))
    assert after[24] == pytest.approx(uninterrupted[24], abs=1e-3)


def test_how_often_a_run_is_evaluated_does_not_change_what_it_trains(project: Path) -> None:
    # batches of 16 make an epoch ~7 steps, so 12 steps cross into the second epoch, whose order is drawn then;
    # each evaluation starts a data loader, which draws from torch's global generator
    steps = ["--set", "train.max_steps=12", "--set", "train.seed=7"]
    steps += ["--set", "train.batch_size=16", "--set", "train.micro_batch_size=16", "--set", "train.max_length=256"]
    rarely = train(project, "sft-lora", *steps)
    often = train(project, "sft-lora", *steps, "--set", "train.eval_steps=3", "--set", "train.save_steps=3")
    assert len(losses(often)) == len(losses(rarely)) == 12
    assert losses(often) == pytest.approx(losses(rarely), abs=1e-6)


def test_compiled_training_steps_train_what_eager_steps_do(project: Path) -> None:
    steps = ["--set", "train.max_steps=3", "--set", "train.seed=7"]
    eager = train(project, "sft-lora", *steps)
    compiled = run_cli("train", "-p", str(project), "--json", *FAST, *steps, "--set", "train.compile=true")
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    assert "compile = True" in compiled.stderr and "compiling the decoder's training step" in compiled.stderr
    # the same updates: a compiled step that dropped the adapter's gradients would part from step 2 on
    assert losses(json.loads(compiled.stdout)) == pytest.approx(losses(eager), rel=1e-3)


def test_distributed_data_parallel_on_two_cpu_processes(project: Path) -> None:
    summary = train(project, "sft-lora", "--nproc", "2")
    assert summary["world_size"] == 2 and Path(summary["adapter"], "adapter_model.safetensors").is_file()
    assert_learned(summary, "sft-lora")


def test_export_merges_and_writes_a_gguf_that_reads_back(project: Path) -> None:
    # with generation-based evaluation and early stopping on, as a watching user would train
    watched = [
        "--set",
        "train.eval_steps=1",
        "--set",
        "train.max_steps=2",
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
    result = run_cli(
        "export", str(adapter.parent), "-p", str(project), "--gguf", "--gguf-dtype", "f32", "--ollama", "--json"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["identical"] == report["prompts"] and report["max_logit_diff"] < 1e-3
    assert report["merged_by"] == "shards"  # one tensor in memory at a time, not PEFT's whole model
    assert report["gguf"]["max_logit_diff"] < 1e-2 and report["gguf"]["tokenizer_round_trip"]
    assert report["gguf"]["top1_agreement"] == 1.0 and report["gguf"]["tensor_types"] == {
        "f32": 20
    }  # 2 layers of 9, norm, embeddings
    # the Modelfile sits next to the GGUF, in the model's chat format (SmolLM2: ChatML), stopping at its end of turn
    modelfile = Path(report["modelfile"]).read_text()
    assert modelfile.startswith("FROM ./model-f32.gguf\n") and "<|im_start|>assistant" in modelfile
    assert 'PARAMETER stop "<|im_end|>"' in modelfile
    # --no-verify loads no model (an 8B model then exports in about 1 GiB of memory) and writes the same file
    gguf = Path(report["gguf"]["path"])
    written = hashlib.sha256(gguf.read_bytes()).hexdigest()
    quick = run_cli("export", str(adapter.parent), "-p", str(project), "--gguf", "--gguf-dtype", "f32", "--no-verify")
    assert quick.returncode == 0, quick.stderr[-3000:]
    assert "not verified (--no-verify); merged by shards" in " ".join(quick.stderr.split())
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() == written


def test_rows_that_do_not_fit_max_length_are_listed_and_nothing_left_is_one_clear_error(project: Path) -> None:
    # last in this module: its runs stop early, and no test after it reads "the latest run"
    short = ["--set", "train.max_length=60", "--set", "train.max_steps=1", "--set", "train.learning_rate=0.005"]
    dpo = run_cli("train", "-p", str(project), "--recipe", "dpo", "--json", *FAST, *short)
    assert dpo.returncode == 0, dpo.stderr[-3000:]
    aside = [json.loads(line) for line in (Path(json.loads(dpo.stdout)["adapter"]).parent / "skipped.jsonl").open()]
    # the pairs whose prompt alone fills 60 tokens, each named by its file and line, which TRL would drop unsaid
    assert aside and all(
        a["reason"].startswith("prompt of ") and a["id"].startswith("data/preferences.jsonl:") for a in aside
    )
    stderr = " ".join(dpo.stderr.split())
    assert "longer than train.max_length=60: their answers are cut there" in stderr
    # TRL kept exactly the rows measured as fitting: nothing dropped behind the list's back
    data_run = sorted(p for p in (project / "runs").iterdir() if p.name.endswith("-data"))[-1]
    pairs = len((data_run / "preference_train.jsonl").read_text().splitlines())
    kept = pairs - sum(a["split"] == "train" for a in aside)
    assert "the trainer dropped" not in stderr and f"Training dpo on {kept} examples" in stderr
    # the dry run is sized on what SFT keeps: the examples over max_length are not in its steps or its memory
    whole = run_cli("train", "-p", str(project), "--dry-run", "--json")
    fits = run_cli("train", "-p", str(project), "--dry-run", "--json", "--set", "train.max_length=150")
    assert whole.returncode == fits.returncode == 0, fits.stderr[-3000:]
    whole_plan, kept_plan = json.loads(whole.stdout), json.loads(fits.stdout)
    assert whole_plan["set_aside"] == 0 < kept_plan["set_aside"] and "will be set aside" in fits.stderr
    assert kept_plan["steps"] < whole_plan["steps"] and kept_plan["peak_bytes"] < whole_plan["peak_bytes"]
    for recipe, dry in (("reward", []), ("sft-lora", []), ("sft-lora", ["--dry-run"])):
        nothing = run_cli("train", "-p", str(project), "--recipe", recipe, *FAST, "--set", "train.max_length=40", *dry)
        assert nothing.returncode == 2 and "Traceback" not in nothing.stderr, nothing.stderr[-3000:]
        message = " ".join(nothing.stderr.split())
        assert "can be trained on (" in message and "Raise train.max_length to at least" in message
        # a run lists what it set aside; the dry run names the data it measured
        assert ("train.jsonl" if dry else "skipped.jsonl") in message
