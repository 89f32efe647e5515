"""Model cards written from what was measured, never from what was hoped.

Sections follow Mitchell et al., "Model Cards for Model Reporting" (2019):
intended use, data and provenance, training, evaluation with intervals, the
release gate, and limitations derived from the numbers (small test sets, lost
general skills, failed checks, what was not checked).
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.stats import format_interval


def _fmt(interval: dict[str, Any] | None, digits: int = 3) -> str:
    return format_interval(interval, missing="n/a", digits=digits)


def _diff(interval: dict[str, Any]) -> str:
    return format_interval(interval, signed=True)


def model_card(
    *,
    project: dict[str, Any],
    version: str | None,
    data: dict[str, Any] | None,
    train: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    gate: dict[str, Any],
    runs: dict[str, str],
) -> str:
    """Markdown for one model version.

    ``project``: name, use_case, system_prompt, base_model; ``data``: the data run's
    manifest; ``train``: the train run's summary with ``hyperparameters``; ``evaluation``:
    the eval summary; ``gate``: gate.json; ``runs``: stage -> run id.
    """
    name = project["name"]
    lines = [f"# {name}" + (f" — version {version}" if version else ""), ""]
    verdict = "**passed**" if gate["passed"] else "**failed**"
    lines += [
        f"Fine-tuned from `{project['base_model']}`"
        + (f" with `{train.get('recipe')}`" if train else "")
        + f". Release gate: {verdict} ({sum(c['passed'] for c in gate['checks'])}/{len(gate['checks'])} checks).",
        "",
        "## Intended use",
        "",
        project.get("use_case") or "(no `use_case` in the project file: describe what this model is for)",
        "",
    ]
    if project.get("system_prompt"):
        lines += [f"System prompt used in training and evaluation: “{project['system_prompt']}”", ""]
    lines += [
        "Out of scope: anything the training data does not cover. The model has seen only this company's "
        "examples; answers outside them come from the base model and are not checked by this card's numbers.",
        "",
        "## Data and provenance",
        "",
    ]
    if data:
        examples = data.get("examples", {})
        lines.append(
            f"- Dataset version `{data.get('version')}` (run `{runs.get('data', '?')}`): "
            + ", ".join(f"{n} {split}" for split, n in examples.items())
            + f" examples from {data.get('rows_in', '?')} input rows."
        )
        removed = data.get("removed") or {}
        changed = data.get("changed") or {}
        if removed:
            lines.append("- Removed: " + ", ".join(f"{n} {why}" for why, n in sorted(removed.items())) + ".")
        if changed:
            lines.append("- Changed: " + ", ".join(f"{n} {why}" for why, n in sorted(changed.items())) + ".")
        for path, info in (data.get("source_files") or {}).items():
            lines.append(f"- Source `{path}`: sha256 `{str(info.get('sha256'))[:16]}…`, {info.get('bytes')} bytes.")
        kb = data.get("knowledge_files") or {}
        if kb:
            lines.append(f"- Knowledge base: {len(kb)} files (digests in the data run's manifest.json).")
        pii = (data.get("clean") or {}).get("pii_found") or {}
        if pii:
            lines.append("- Personal data found and handled: " + ", ".join(f"{n} {k}" for k, n in pii.items()) + ".")
        leaks = data.get("leakage") or {}
        if leaks:
            lines.append(
                f"- Train/test leakage: {leaks.get('exact', 0)} exact, {leaks.get('near', 0)} near duplicates."
            )
    else:
        lines.append("- (no data run recorded)")
    lines += ["", "## Training", ""]
    if train:
        hp = train.get("hyperparameters") or {}
        shown = {k: v for k, v in hp.items() if k not in ("reasons",)}
        lines.append(f"- Recipe `{train.get('recipe')}`, run `{runs.get('train', '?')}`.")
        lines.append("- Hyperparameters: " + ", ".join(f"{k}={v}" for k, v in shown.items()) + ".")
        for key, label in (("final_train_loss", "final training loss"), ("final_val_loss", "final validation loss")):
            if isinstance(train.get(key), int | float):
                lines.append(f"- {label.capitalize()}: {train[key]:.4f}.")
        if train.get("seconds"):
            lines.append(
                f"- Training time: {train['seconds'] / 60:.1f} min; peak memory {train.get('peak_rss_mib', '?')} MiB."
            )
    else:
        lines.append("- (no training run recorded)")
    lines += ["", "## Evaluation", ""]
    if evaluation:
        systems = evaluation.get("systems", {})
        metrics = sorted({m for s in systems.values() for m in s})
        n = evaluation.get("test_examples")
        lines.append(
            f"On {n} held-out test examples (run `{runs.get('eval', '?')}`), mean with 95% bootstrap interval; "
            f"primary metric `{evaluation.get('primary')}`."
        )
        lines += ["", "| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for system, scores in systems.items():
            lines.append(f"| {system} | " + " | ".join(_fmt(scores.get(m)) for m in metrics) + " |")
        headline = evaluation.get("finetuned_vs_baseline")
        if headline:
            lines += ["", f"Fine-tuned minus prompted baseline on `{headline['metric']}`: {_diff(headline['diff'])}."]
        probe = evaluation.get("probe")
        if probe and "finetuned_vs_base" in probe:
            lines.append(
                f"General skills ({probe['items']} probe questions): base {_fmt(probe['accuracy']['base'], 2)}, "
                f"fine-tuned {_fmt(probe['accuracy'].get('finetuned'), 2)}; "
                f"difference {_diff(probe['finetuned_vs_base']['diff'])}."
            )
    else:
        lines.append("- (no evaluation recorded)")
    lines += ["", "## Release gate", "", "| check | rule | result | measured |", "|---|---|---|---|"]
    for check in gate["checks"]:
        reason = str(check["reason"]).replace("|", "\\|")
        lines.append(f"| {check['name']} | {check['rule']} | {'pass' if check['passed'] else 'FAIL'} | {reason} |")
    lines += ["", "## Known limitations", ""]
    lines += [f"- {text}" for text in limitations(data, train, evaluation, gate)]
    return "\n".join(lines) + "\n"


def limitations(
    data: dict[str, Any] | None, train: dict[str, Any] | None, evaluation: dict[str, Any] | None, gate: dict[str, Any]
) -> list[str]:
    """What the measurements themselves say this model should not be trusted with."""
    out = []
    for check in gate["checks"]:
        if not check["passed"]:
            out.append(f"Failed gate check “{check['name']}”: {check['reason']}.")
    if evaluation:
        n = evaluation.get("test_examples") or 0
        if n and n < 100:
            out.append(
                f"Evaluated on {n} examples only: intervals are wide, and differences smaller than the "
                "interval widths above are not established."
            )
        probe = evaluation.get("probe") or {}
        diff = (probe.get("finetuned_vs_base") or {}).get("diff")
        if diff and diff["mean"] < 0:
            out.append(
                f"General-skills accuracy dropped by {-diff['mean'] * 100:.0f} points on the probe versus the base model "
                f"(interval {_diff(diff)}): do not rely on it for general questions."
            )
        systems = evaluation.get("systems", {})
        primary = evaluation.get("primary")
        ft, rag = systems.get("finetuned", {}).get(primary), systems.get("finetuned+rag", {}).get(primary)
        if ft and rag and rag["low"] > ft["high"]:
            out.append("Answers are clearly better with retrieval: serve it with the knowledge base attached.")
    checked = {c.get("kind") for c in gate["checks"]}
    names = {c["name"] for c in gate["checks"]}
    if "refusal" not in names:
        out.append("Refusal of out-of-scope requests was not checked (no gates.refusal in the project).")
    if "regression" not in checked:
        out.append("No regression suite: known failure cases are not pinned.")
    if data and not (data.get("clean") or {}).get("names_checked", True):
        out.append("Personal names were not scanned for in the training data (no named-entity model installed).")
    if not out:
        out.append("None found by the checks above; the evaluation covers only the test split's distribution.")
    return out
