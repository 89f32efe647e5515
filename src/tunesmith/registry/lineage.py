"""Lineage: source files -> dataset version -> training run -> evaluation -> gate decision -> deployment.

Built from the registry version's tags and the run folders they name, so it
answers "which data made this model, and who let it out?" for any version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunesmith.core.rundir import RunDir, is_run_dir
from tunesmith.core.stats import format_interval
from tunesmith.registry.models import GATE_TAG, VersionRef, aliases_of, resolve
from tunesmith.registry.runs import list_runs
from tunesmith.registry.tracking import Tracker


def lineage(tracker: Tracker, ref: VersionRef, project_dir: Path) -> dict[str, Any]:
    version = resolve(tracker, ref)
    tags = dict(version.tags)
    by_id = {r.id: r for r in list_runs(project_dir)}  # one walk of runs/ for every stage

    def run_of(stage: str) -> RunDir | None:
        return by_id.get(tags.get(f"tunesmith.{stage}_run") or "")

    gate_dir = tags.get("tunesmith.gate_run_dir")
    gate_run = RunDir(Path(gate_dir)) if gate_dir and is_run_dir(Path(gate_dir)) else run_of("gate")
    eval_run, train_run, data_run = run_of("eval"), run_of("train"), run_of("data")
    missing = [
        name
        for name, run, tag in (
            ("data", data_run, "tunesmith.data_run"),
            ("train", train_run, "tunesmith.train_run"),
            ("eval", eval_run, "tunesmith.eval_run"),
            ("gate", gate_run, "tunesmith.gate_run"),
        )
        if run is None and tags.get(tag)
    ]

    manifest = data_run.read_json("manifest.json") if data_run and data_run.path("manifest.json").is_file() else {}
    sources = {
        "files": manifest.get("source_files", {}),
        "knowledge_files": len(manifest.get("knowledge_files", {}) or {}),
    }
    dataset = {
        "version": tags.get("tunesmith.dataset_version") or manifest.get("version"),
        "run": tags.get("tunesmith.data_run"),
        "examples": manifest.get("examples"),
        "removed": manifest.get("removed"),
        "rows_in": manifest.get("rows_in"),
    }
    train_summary = train_run.info.get("summary", {}) if train_run else {}
    training = {
        "run": tags.get("tunesmith.train_run"),
        "recipe": tags.get("tunesmith.recipe") or train_summary.get("recipe"),
        "base_model": tags.get("tunesmith.base_model"),
        "hyperparameters": {k: v for k, v in (train_summary.get("hyperparameters") or {}).items() if k != "reasons"},
        "final_val_loss": train_summary.get("final_val_loss"),
        "mlflow_run": version.run_id,
        "weights": tags.get("tunesmith.weights"),
    }
    evaluation: dict[str, Any] = {"run": tags.get("tunesmith.eval_run")}
    if eval_run and eval_run.path("summary.json").is_file():
        summary = eval_run.read_json("summary.json")
        primary = summary.get("primary")
        evaluation.update(
            primary=primary,
            test_examples=summary.get("test_examples"),
            finetuned=(summary.get("systems", {}).get("finetuned") or {}).get(primary),
            finetuned_vs_baseline=(summary.get("finetuned_vs_baseline") or {}).get("diff"),
        )
    gate: dict[str, Any] = {"run": tags.get("tunesmith.gate_run"), "decision": tags.get(GATE_TAG)}
    if gate_run and gate_run.path("gate.json").is_file():
        detail = gate_run.read_json("gate.json")
        gate.update(
            passed=detail["passed"],
            checks=[{"name": c["name"], "passed": c["passed"], "reason": c["reason"]} for c in detail["checks"]],
        )
    aliases = aliases_of(tracker, version.name, version.version)
    deployment = {
        "aliases": aliases,
        "promotions": {
            k.removeprefix("tunesmith.promoted."): v for k, v in tags.items() if k.startswith("tunesmith.promoted.")
        },
        "demotions": {
            k.removeprefix("tunesmith.demoted."): v for k, v in tags.items() if k.startswith("tunesmith.demoted.")
        },
        "serve_as": [f"{version.name}@{a}" for a in aliases],
    }
    return {
        "model": version.name,
        "version": str(version.version),
        "source": version.source,
        "registry": tracker.uri,
        "sources": sources,
        "dataset": dataset,
        "training": training,
        "evaluation": evaluation,
        "gate": gate,
        "deployment": deployment,
        "missing_run_folders": missing,
    }


def lineage_lines(chain: dict[str, Any]) -> list[tuple[int, str]]:
    """(depth, text) rows for printing the chain as a tree."""
    rows: list[tuple[int, str]] = [(0, f"{chain['model']} version {chain['version']}  ({chain['registry']})")]
    files = chain["sources"]["files"]
    source_text = ", ".join(f"{p} (sha256 {str(i['sha256'])[:12]})" for p, i in files.items()) or "not recorded"
    if chain["sources"]["knowledge_files"]:
        source_text += f"; knowledge base: {chain['sources']['knowledge_files']} files"
    rows.append((1, f"source files: {source_text}"))
    d = chain["dataset"]
    examples = ", ".join(f"{n} {s}" for s, n in (d.get("examples") or {}).items())
    rows.append((2, f"dataset {d['version']}  (data run {d['run']}; {examples or '?'} from {d.get('rows_in')} rows)"))
    t = chain["training"]
    hp = t["hyperparameters"]
    shown = ", ".join(f"{k}={hp[k]}" for k in ("learning_rate", "epochs", "lora_r", "max_steps") if k in hp)
    rows.append((3, f"training run {t['run']}  ({t['recipe']} on {t['base_model']}; {shown})"))
    e = chain["evaluation"]
    if e.get("primary"):
        rows.append(
            (
                4,
                f"evaluation {e['run']}  ({e['primary']} fine-tuned {format_interval(e.get('finetuned'), missing='n/a')}, "
                f"vs baseline {format_interval(e.get('finetuned_vs_baseline'), signed=True, missing='n/a')}, n={e.get('test_examples')})",
            )
        )
    else:
        rows.append((4, f"evaluation {e['run']}"))
    g = chain["gate"]
    checks = g.get("checks") or []
    verdict = (g.get("decision") or "?").upper()
    rows.append(
        (
            5,
            f"gate {g['run']}: {verdict}"
            + (f" ({sum(c['passed'] for c in checks)}/{len(checks)} checks)" if checks else ""),
        )
    )
    for check in checks:
        if not check["passed"]:
            rows.append((6, f"failed: {check['name']}: {check['reason']}"))
    dep = chain["deployment"]
    if dep["aliases"]:
        for alias in dep["aliases"]:
            rows.append((6, f"deployment: @{alias} since {dep['promotions'].get(alias, '?')}"))
    else:
        rows.append((6, "deployment: not promoted"))
    return rows


def to_json(chain: dict[str, Any]) -> str:
    return json.dumps(chain, indent=2, default=str)
