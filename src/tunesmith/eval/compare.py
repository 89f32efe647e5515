"""`tunesmith eval compare`: any past evaluation runs side by side, paired where they share examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import bootstrap_mean, holm, paired_comparison


def compare_runs(runs: list[RunDir], metric: str, *, resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Every (run, system)'s metric with its interval; each later entry paired with the first on shared ids."""
    entries: list[dict[str, Any]] = []
    per_entry: list[dict[str, float]] = []
    for run in runs:
        rows = read_jsonl(run.path("outputs.jsonl"))
        systems = sorted({r["system"] for r in rows}, key=lambda s: [r["system"] for r in rows].index(s))
        for system in systems:
            values = {r["id"]: r["scores"].get(metric, float("nan")) for r in rows if r["system"] == system}
            interval = bootstrap_mean(list(values.values()), resamples=resamples, seed=seed)
            entries.append({"run": run.id, "system": system, "metric": metric, **interval.to_dict()})
            per_entry.append(values)
    reference = per_entry[0] if per_entry else {}
    for entry, values in zip(entries[1:], per_entry[1:], strict=True):
        shared = sorted(set(values) & set(reference))
        if len(shared) < 2:
            entry["vs_first"] = None
            continue
        comparison = paired_comparison(
            entry["system"],
            entries[0]["system"],
            metric,
            [values[i] for i in shared],
            [reference[i] for i in shared],
            resamples=resamples,
            seed=seed,
        )
        entry["vs_first"] = {**comparison.to_dict(), "shared_examples": len(shared)}
    # every entry against the first is one family of tests: Holm-adjust their p-values together
    tested = [e["vs_first"] for e in entries[1:] if e.get("vs_first")]
    for vs, adjusted in zip(tested, holm([vs["test_p"] for vs in tested]), strict=True):
        vs["holm_p"] = adjusted
        vs["significant"] = bool(adjusted < 0.05)
    return {
        "metric": metric,
        "reference": f"{entries[0]['run']}/{entries[0]['system']}" if entries else None,
        "entries": entries,
    }


def eval_runs(paths: list[str], project_dir: Path) -> list[RunDir]:
    from tunesmith.registry.runs import resolve_run

    out = []
    for ref in paths:
        candidate = Path(ref)
        for path in (candidate, project_dir / ref, project_dir / "runs" / ref):
            if (path / "eval" / "run.json").is_file():  # a pipeline run: its eval stage
                candidate = path / "eval"
                break
        out.append(resolve_run(project_dir, str(candidate), "eval"))
    return out
