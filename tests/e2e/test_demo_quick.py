"""The whole workflow on the real bundled model, as a user runs it: `tunesmith demo --quick`.

One demo run (about 20 minutes on a 2-core CPU with a cold answers cache) feeds every test here: the
pipeline's JSON summary, the run folders it wrote, a resumed rerun, the gate
command, and an OpenAI-client session against `tunesmith serve`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_cli, wait_healthy

# the first test waits for the whole demo (its module fixture): longer than the suite's per-test default
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("demo") / "northwind"
    # without --remedy: the first gate must pass on its own (the remedy search is tested in test_tune.py)
    result = run_cli("demo", "--quick", "--no-remedy", "--json", "--dir", str(directory), timeout=3300)
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout)
    return {"dir": directory, "summary": summary, "result": result}


def test_every_stage_ran_and_wrote_a_run_folder(demo: dict) -> None:
    summary = demo["summary"]
    assert set(summary["stages"]) == {"baseline", "data", "train", "eval", "gate"}
    for stage in summary["stages"].values():
        assert stage["status"] == "succeeded"
        folder = Path(stage["run"])
        assert (folder / "run.json").is_file() and (folder / "config.yaml").is_file()
    run_dir = Path(summary["run_dir"])
    assert (run_dir / "report.html").read_text().count("<svg") >= 3
    assert json.loads((run_dir / "summary.json").read_text())["primary"] == "rouge_l"


def test_grid_has_all_five_systems_with_intervals(demo: dict) -> None:
    systems = demo["summary"]["systems"]
    assert set(systems) == {"baseline", "base", "base+rag", "finetuned", "finetuned+rag"}
    for interval in systems.values():
        assert interval["low"] <= interval["mean"] <= interval["high"]


def test_fine_tuned_model_stops_by_itself(demo: dict) -> None:
    # the training stage's own check: validation prompts, a budget of twice the longest reply
    assert demo["summary"]["train"]["stop_rate"] == 1.0
    # and on held-out tickets in the format it was trained on, every answer ends with <|im_end|>
    eval_dir = Path(demo["summary"]["stages"]["eval"]["run"])
    rows = [json.loads(line) for line in (eval_dir / "outputs.jsonl").read_text().splitlines()]
    grounded = [r for r in rows if r["system"] == "finetuned+rag"]
    # 56 quick steps are nine tenths of one pass: at most one of the six may still run to the budget
    # (the full demo's training ends every answer); the base model ends almost none in the company's sign-off
    signed = [r for r in grounded if r["finish_reason"] == "stop" and r["output"].rstrip().endswith("Support Team")]
    assert len(grounded) == 6 and len(signed) >= 5, [(r["finish_reason"], r["output"][-80:]) for r in grounded]


def test_adapter_saved_with_tokenizer_and_chat_template(demo: dict) -> None:
    adapter = Path(demo["summary"]["stages"]["train"]["run"]) / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert (adapter / "tokenizer.json").is_file() and (adapter / "chat_template.jinja").is_file()


def test_data_accounts_for_every_row(demo: dict) -> None:
    data_dir = Path(demo["summary"]["stages"]["data"]["run"])
    manifest = json.loads((data_dir / "manifest.json").read_text())
    # 213 golden replies + 72 more (out-of-scope refusals, simple questions answered, tickets with contact details)
    assert manifest["accounted"] and manifest["rows_in"] == 285
    assert all(v == 0 for v in manifest["leakage"].values())
    assert manifest["changed"] == {"pii_redacted": 4} and set(manifest["source_files"]) == {
        "data/golden.jsonl",
        "data/more_replies.jsonl",
    }


def test_the_demo_ends_gated_and_promoted(demo: dict) -> None:
    # every release check passes on the real model (regression, refusal, personal data, toxicity, retention by its
    # interval, the margin over the prompted baseline by its interval), and the version is promoted
    summary = demo["summary"]
    failed = [f"{c['name']}: {c['reason']}" for c in summary["gate"]["checks"] if not c["passed"]]
    assert summary["gate_passed"] is True and "GATE PASSED" in demo["result"].stderr, failed
    assert summary["promoted"] == {"model": "northwind-support", "version": "1", "alias": "production"}
    # every paired difference the report shows, on the primary metric, keyed "system vs other"
    comparisons = summary["comparisons"]
    assert {"finetuned vs baseline", "finetuned+rag vs finetuned", "base+rag vs base"} <= set(comparisons)
    assert all(c["low"] <= c["mean"] <= c["high"] for c in comparisons.values())
    assert comparisons["finetuned vs baseline"]["mean"] == summary["finetuned_vs_baseline"]["diff"]["mean"]


def test_retention_is_measured_with_intervals_that_decide(demo: dict) -> None:
    probe = demo["summary"]["probe"]
    assert probe["items"] >= 300 and probe["agreement_items"] >= 100
    diff = probe["finetuned_vs_base"]["diff"]
    assert diff["high"] - diff["low"] < 0.2  # narrow enough to judge a 0.1 limit on (40 questions gave ~0.34)
    assert 0 <= probe["agreement"]["low"] <= probe["agreement"]["mean"] <= probe["agreement"]["high"] <= 1
    train_dir = Path(demo["summary"]["stages"]["train"]["run"])
    replayed = [json.loads(line) for line in (train_dir / "replay.jsonl").read_text().splitlines()]
    summary = json.loads((train_dir / "run.json").read_text())["summary"]
    assert replayed and summary["replay"]["examples"] == len(replayed)
    assert all(r["meta"]["replay"] and r["messages"][0]["role"] == "user" for r in replayed)
    # the run keeps its best checkpoint by validation loss and says which and why
    assert summary["kept"]["which"] == "best" and "lowest validation loss" in summary["kept"]["why"]


def test_training_prompts_carry_runtime_context_and_the_gate_is_calibrated(demo: dict) -> None:
    data_dir = Path(demo["summary"]["stages"]["data"]["run"])
    manifest = json.loads((data_dir / "manifest.json").read_text())
    assert manifest["points"]["strategy"] == "runtime" and manifest["relevance"]["threshold"] is not None
    train = [json.loads(line) for line in (data_dir / "train.jsonl").read_text().splitlines()]
    contexts = [r["meta"]["context"] for r in train if "context" in r.get("meta", {})]
    assert any(c.get("distractors") for c in contexts) and any(c.get("missing") for c in contexts)
    assert any(not c["retrieval_used"] for c in contexts)  # inputs the relevance gate keeps retrieval away from
    eval_dir = Path(demo["summary"]["stages"]["eval"]["run"])
    rows = [json.loads(line) for line in (eval_dir / "outputs.jsonl").read_text().splitlines()]
    grounded = [r for r in rows if r["system"] == "finetuned+rag"]
    assert all(r["retrieval"]["relevance_threshold"] is None or "retrieval_used" in r["retrieval"] for r in grounded)
    assert all(not r["citations"] for r in grounded if not r["retrieval"]["retrieval_used"])


def test_gate_runs_regression_safety_and_retention_on_the_real_model(demo: dict) -> None:
    gate_dir = Path(demo["summary"]["stages"]["gate"]["run"])
    gate = json.loads((gate_dir / "gate.json").read_text())
    checks = {c["name"]: c for c in gate["checks"]}
    assert set(checks) == {
        "fine-tune beats the prompted baseline",
        "company voice",
        "retention",
        "regression suite",
        "refusal",
        "personal data",
        "toxicity",
    }
    regression = [json.loads(line) for line in (gate_dir / "regression.jsonl").read_text().splitlines()]
    assert [r["id"] for r in regression] == ["signoff", "greeting", "no-ai-disclaimer", "company-name"]
    assert len((gate_dir / "refusal.jsonl").read_text().splitlines()) == 12
    # every trained-on ticket that held a phone number or an email is cut before each value and continued,
    # and the ticket itself is asked again
    data_dir = Path(demo["summary"]["stages"]["data"]["run"])
    trained = {json.loads(line)["id"] for line in (data_dir / "train.jsonl").read_text().splitlines()}
    redacted = [json.loads(line) for line in (data_dir / "rejects.jsonl").read_text().splitlines()]
    held_pii = {r["id"] for r in redacted if r["reason"] == "pii_redacted"} & trained
    pii = checks["personal data"]["details"]
    assert pii["examples"] == pii["probed"] == len(held_pii) and pii["values"] >= len(held_pii)
    probes = [json.loads(line) for line in (gate_dir / "pii_probe.jsonl").read_text().splitlines()]
    prefixes = sum(p["probe"] == "prefix" for p in probes)
    requests = sum(p["probe"] == "request" for p in probes)
    assert prefixes == pii["values"] and requests == len(held_pii)
    # toxicity reads every output: the evaluation's and each probe's
    assert checks["toxicity"]["details"]["outputs"] == 6 + 4 + 12 + prefixes + requests
    assert (gate_dir / "model_card.md").read_text().startswith("# northwind-support — version 1")
    assert gate["registered"] == {"model": "northwind-support", "version": "1"}


def test_promote_follows_the_gate_and_lineage_reaches_the_files(demo: dict) -> None:
    directory = str(demo["dir"])
    run_dir = demo["summary"]["run_dir"]
    # the model-driven checks ran on the real model above; here only the verdict matters, so they are off
    metric_only = ["--set", "gates.regression=null", "--set", "gates.refusal=null", "--set", "gates.pii=null"]
    # a gate that cannot pass registers a version that cannot be promoted
    strict = run_cli("gate", run_dir, "-p", directory, "--set", "gates.checks.0.margin=0.99", *metric_only)
    assert strict.returncode == 1 and "GATE FAILED" in strict.stderr
    refused = run_cli("promote", "-p", directory)
    assert refused.returncode == 2 and "did not pass its release gate" in refused.stderr
    # the same model under a lenient gate is registered again and can be promoted
    lenient = [
        "--set",
        "gates.checks.0.margin=-1",
        "--set",
        "gates.checks.1.min=0",
        "--set",
        "gates.retention.max_drop=1",
    ]
    passed = run_cli("gate", run_dir, "-p", directory, "--json", *lenient, *metric_only)
    assert passed.returncode == 0, passed.stderr[-2000:]
    registered = json.loads(passed.stdout)["registered"]["version"]
    promoted = run_cli("promote", "-p", directory, "--json")
    assert promoted.returncode == 0, promoted.stderr
    assert json.loads(promoted.stdout)["version"] == registered
    lineage = run_cli("lineage", "northwind-support@production", "-p", directory, "--json")
    chain = json.loads(lineage.stdout)
    assert chain["version"] == registered and "data/more_replies.jsonl" in chain["sources"]["files"]
    assert chain["sources"]["knowledge_files"] > 0 and chain["gate"]["passed"] is True
    assert chain["training"]["run"] == Path(demo["summary"]["stages"]["train"]["run"]).parent.name + ".train"
    assert chain["deployment"]["aliases"] == ["production"]


def test_a_constrained_study_says_which_gate_check_a_trial_failed(demo: dict) -> None:
    """A search held to the project's gates on validation data: a trial that barely trains (learning rate 1e-7,
    two steps, so it answers like the base model) cannot beat the prompted baseline, and the report says so."""
    result = run_cli(
        "tune",
        "-p",
        str(demo["dir"]),
        "--json",
        "--trials",
        "1",
        "--study",
        "constrained",
        "--set",
        "tune.search_space={learning_rate: {choices: [1.0e-07]}}",
        "--set",
        "tune.val_limit=4",
        "--set",
        "tune.probe_items=20",
        "--set",
        "tune.max_new_tokens=120",
        "--set",
        "train.max_steps=2",
        "--set",
        "train.eval_generations=0",
        # an untrained model's answers run to the stop check's budget: 20 s that say nothing here
        "--set",
        "train.stop_check=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    [trial] = summary["trials"]
    assert summary["constrained"] and trial["feasible"] is False
    checks = {c["name"]: c for c in trial["constraints"]}
    assert {"fine-tune beats the prompted baseline", "company voice", "retention", "refusal", "toxicity"} <= set(checks)
    assert not checks["fine-tune beats the prompted baseline"]["passed"]
    assert "on validation" in checks["fine-tune beats the prompted baseline"]["reason"]
    assert summary["infeasible"] == [{"number": 0, "failed": trial["failed"]}] and "best" not in summary
    assert "no finished trial met every gate check" in summary["no_feasible"]
    assert "fails fine-tune beats the prompted baseline" in result.stderr
    report = next((demo["dir"] / "runs").glob("*-tune/report.html")).read_text()
    assert "no: fine-tune beats the prompted baseline" in report


def test_resume_skips_finished_stages(demo: dict) -> None:
    started = time.perf_counter()
    result = run_cli(
        "run",
        "-p",
        str(demo["dir"]),
        "--resume",
        demo["summary"]["run_dir"],
        "--set",
        "train.max_steps=12",
        "--set",
        "eval.limit=6",
    )
    assert "already done" in result.stderr
    assert result.stdout.strip().endswith(Path(demo["summary"]["run_dir"]).name)
    assert time.perf_counter() - started < 120


@pytest.fixture(scope="module")
def server(demo: dict) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "serve", "-p", str(demo["dir"]), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, f"{base}/health")
        yield f"{base}/v1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_openai_client_chats_with_the_fine_tuned_model(server: str) -> None:
    from openai import BadRequestError, NotFoundError, OpenAI

    client = OpenAI(base_url=server, api_key="not-needed-on-loopback")
    ids = [m.id for m in client.models.list().data]
    fine_tuned = next(i for i in ids if i.startswith("ft:smollm2-135m-instruct:northwind-support:"))
    reply = client.chat.completions.create(
        model=fine_tuned,
        messages=[{"role": "user", "content": "Do you ship to Canada?\n\nThanks,\nAva"}],
        max_tokens=160,
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content.strip()
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.usage.prompt_tokens_details.cached_tokens == 0
    # the conversation's next turn starts from the keys and values of the first turn's prompt and answer
    follow_up = client.chat.completions.create(
        model=fine_tuned,
        messages=[
            {"role": "user", "content": "Do you ship to Canada?\n\nThanks,\nAva"},
            {"role": "assistant", "content": reply.choices[0].message.content},
            {"role": "user", "content": "And how long does it take?"},
        ],
        max_tokens=8,
    )
    assert reply.usage.prompt_tokens < follow_up.usage.prompt_tokens_details.cached_tokens
    assert follow_up.usage.prompt_tokens_details.cached_tokens < follow_up.usage.prompt_tokens

    grounded = client.chat.completions.create(
        model=fine_tuned,
        messages=[{"role": "user", "content": "How long do refunds take?"}],
        max_tokens=120,
        extra_body={"tunesmith": {"retrieval": True}},
    )
    citations = grounded.model_extra["tunesmith"]["citations"]
    assert citations and all(c["source"].startswith("kb/") for c in citations)
    assert {"chunk_id", "heading", "text"} <= set(citations[0])
    # a knowledge base named per request; an unknown one is a clear 400, never a path
    named = client.chat.completions.create(
        model=fine_tuned,
        messages=[{"role": "user", "content": "How long do refunds take?"}],
        max_tokens=16,
        extra_body={"tunesmith": {"kb": "default"}},
    )
    assert named.model_extra["tunesmith"]["kb"] == "default" and named.model_extra["tunesmith"]["citations"]
    for bad in ("no-such-kb", "../../etc"):
        with pytest.raises(BadRequestError):
            client.chat.completions.create(
                model=fine_tuned,
                messages=[{"role": "user", "content": "x"}],
                max_tokens=4,
                extra_body={"tunesmith": {"kb": bad}},
            )

    stream = client.chat.completions.create(
        model=ids[0], messages=[{"role": "user", "content": "Say hello."}], max_tokens=20, stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert "".join(pieces).strip()

    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])

    # the released version by its alias (test_promote_follows_the_gate... above promoted it)
    assert "northwind-support@production" in ids
    released = client.chat.completions.create(
        model="northwind-support@production", messages=[{"role": "user", "content": "Hi!"}], max_tokens=8
    )
    assert released.model == "northwind-support@production"


def test_lm_evaluation_harness_runs_against_the_server(server: str, tmp_path: Path) -> None:
    """lm-eval's OpenAI-compatible chat client, a local task file (no hub), our server."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "lm_eval"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lm_eval",
            "--model",
            "local-chat-completions",
            "--model_args",
            f"model=smollm2-135m-instruct,base_url={server}/chat/completions,num_concurrent=1,max_retries=1,"
            "tokenizer_backend=None",
            "--tasks",
            "tunesmith_probe",
            "--include_path",
            str(fixtures),
            "--apply_chat_template",
            "--output_path",
            str(tmp_path),
        ],
        cwd=fixtures,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_DATASETS_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(next(tmp_path.rglob("results_*.json")).read_text())
    assert "exact_match,contains-answer" in results["results"]["tunesmith_probe"]
