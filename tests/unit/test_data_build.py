"""`tunesmith data build` with golden outputs and existing datasets: everything accounted for, split cleanly."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("build")
    (tmp_path / "data").mkdir()
    golden = [
        {
            "id": f"g{i}",
            "q": f"How do I care for product number {i} in winter?",
            "a": f"Product {i} should be dried fully and stored loosely; email care@acme.com for help.",
            "topic": "care" if i % 2 else "returns",
        }
        for i in range(30)
    ]
    golden.append(golden[0])  # an exact duplicate
    golden.append({"id": "bad", "q": "", "a": "no question"})
    (tmp_path / "data" / "golden.jsonl").write_text("\n".join(json.dumps(r) for r in golden) + "\n")
    with (tmp_path / "data" / "faq.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer"])
        for i in range(12):
            writer.writerow([f"Do you ship item {i} to region {i * 3}?", f"Yes, item {i} ships to region {i * 3}."])
    alpaca = [
        {"instruction": f"Summarize policy {i}", "input": "", "output": f"Policy {i} in short."} for i in range(6)
    ]
    (tmp_path / "data" / "extra.jsonl").write_text("\n".join(json.dumps(r) for r in alpaca) + "\n{broken\n")
    (tmp_path / "tunesmith.yaml").write_text(
        "name: acme\nsystem_prompt: You are Acme support.\n"
        "data:\n  golden: {path: data/golden.jsonl, input_field: q, output_field: a, label_field: topic}\n"
        "  points: 0\n  split: {val: 0.2, test: 0.2, seed: 5}\n"
        "  clean: {pii_allow_domains: [acme.com]}\n"
        "  sources:\n    - {path: data/faq.csv, columns: {input: question, output: answer}}\n"
        "    - {path: data/extra.jsonl}\n"
    )
    return tmp_path


@pytest.fixture(scope="module")
def built(project: Path) -> dict:
    """One build the tests below share (each CLI build costs seconds of imports and tokenizing)."""
    result = run_cli("data", "build", "-p", str(project), "--json")
    assert result.returncode == 0, result.stderr
    return {"summary": json.loads(result.stdout), "run": sorted((project / "runs").iterdir())[-1]}


def test_build_accounts_for_every_row(built: dict) -> None:
    run_dir = built["run"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["rows_in"] == 32 + 12 + 7
    assert manifest["accounted"] and manifest["leakage"] == {"exact": 0, "near": 0}
    assert sum(manifest["examples"].values()) == 30 + 12 + 6
    rejects = [json.loads(line) for line in (run_dir / "rejects.jsonl").read_text().splitlines()]
    stages = sorted(r["stage"] for r in rejects)
    assert stages == ["read", "read", "read"]
    reasons = " | ".join(r["reason"] for r in rejects)
    assert "invalid_json" in reasons and "duplicate id 'g0'" in reasons and "is empty" in reasons
    test_rows = [json.loads(line) for line in (run_dir / "test.jsonl").read_text().splitlines()]
    assert {r["meta"]["source"]["format"] for r in test_rows} >= {"golden"}
    # the company's own address is allowed, so nothing was redacted
    assert manifest["clean"]["changed"] == {}


def test_same_inputs_same_version(project: Path, built: dict) -> None:
    again = json.loads(run_cli("data", "build", "-p", str(project), "--json").stdout)["version"]
    assert again == built["summary"]["version"]


def test_stats_and_preview(project: Path, built: dict) -> None:
    stats = run_cli("data", "stats", "-p", str(project), "--json")
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    assert report["examples"] > 20 and report["trained_tokens"] < report["total_tokens"]
    assert report["estimate"]["minutes"] > 0 and report["estimate"]["peak_gib"] > 0
    preview = run_cli("data", "preview", "2", "-p", str(project), "--html", str(project / "p.html"))
    assert preview.returncode == 0, preview.stderr
    assert "lint: ok" in preview.stderr and 'class="t"' in (project / "p.html").read_text()
    truncated = run_cli("data", "preview", "1", "-p", str(project), "--max-length", "10")
    assert truncated.returncode == 1 and "response_truncated_away" in truncated.stderr
