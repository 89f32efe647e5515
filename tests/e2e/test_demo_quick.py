"""The whole workflow on the real bundled model, as a user runs it: `tunesmith demo --quick`.

One demo run (about 3 minutes on 2 CPU cores) feeds every test here: the
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

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    directory = tmp_path_factory.mktemp("demo") / "northwind"
    result = run_cli("demo", "--quick", "--json", "--dir", str(directory))
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
    # 40 quick steps are about one epoch: at most one of the six may still run to the budget
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
    # 213 golden replies + 48 more (out-of-scope refusals, simple questions answered, tickets with contact details)
    assert manifest["accounted"] and manifest["rows_in"] == 261
    assert all(v == 0 for v in manifest["leakage"].values())
    assert manifest["changed"] == {"pii_redacted": 4} and set(manifest["source_files"]) == {
        "data/golden.jsonl",
        "data/more_replies.jsonl",
    }


def test_gate_decision_is_printed(demo: dict) -> None:
    # the demo completes either way; `tunesmith gate` alone exits 0/1 (test_promote_follows_the_gate... below)
    passed = demo["summary"]["gate"]["passed"]
    assert ("GATE PASSED" if passed else "GATE FAILED") in demo["result"].stderr


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
    assert len((gate_dir / "refusal.jsonl").read_text().splitlines()) == 6
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
    assert checks["toxicity"]["details"]["outputs"] == 6 + 4 + 6 + prefixes + requests
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
    # the same model under a gate it passes (lenient on the quick demo's 40 training steps) can be promoted
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
