"""The Evaluations page: the grid with intervals, outputs side by side (worst regressions first), comparisons."""

from __future__ import annotations

from typing import Any

from tunesmith.core.errors import StageError
from tunesmith.core.jsonl import read_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs
from tunesmith.ui.overview import find_run, run_row


def _eval_run(loaded: LoadedProject, ref: str) -> RunDir:
    return find_run(loaded, "eval", ref)


def list_evaluations(loaded: LoadedProject) -> list[dict[str, Any]]:
    out = []
    for run in reversed(list_runs(loaded.dir, "eval")):
        row = run_row(run)
        inputs = run.info.get("inputs") or {}
        row.update(train_run=inputs.get("train_run"), data_run=inputs.get("data_run"))
        out.append(row)
    return out


def evaluation(loaded: LoadedProject, ref: str) -> dict[str, Any]:
    run = _eval_run(loaded, ref)
    if not run.path("summary.json").is_file():
        return {"run": run_row(run), "summary": None}
    summary = run.read_json("summary.json")
    return {
        "run": run_row(run),
        "inputs": run.info.get("inputs") or {},
        "summary": summary,
        "metrics": list(next(iter(summary["systems"].values()), {}).keys()),
        "systems": list(summary["systems"]),
    }


def _outputs(run: RunDir) -> list[dict[str, Any]]:
    return read_jsonl(run.path("outputs.jsonl"))


def side_by_side(
    loaded: LoadedProject, ref: str, *, a: str, b: str, metric: str | None = None, offset: int = 0, limit: int = 20
) -> dict[str, Any]:
    """Each test example's outputs of systems ``a`` and ``b``, ordered by ``b - a`` on the metric: the examples
    where ``b`` (say the fine-tune) lost most to ``a`` (say the base model) first."""
    run = _eval_run(loaded, ref)
    metric = metric or run.read_json("summary.json")["primary"]
    by_id: dict[str, dict[str, Any]] = {}
    for row in _outputs(run):
        entry = by_id.setdefault(row["id"], {"id": row["id"], "input": row["input"], "reference": row["reference"]})
        entry[row["system"]] = {
            "output": row["output"],
            "score": row["scores"].get(metric),
            "scores": row["scores"],
            "completion_tokens": row.get("completion_tokens"),
            "latency_s": row.get("latency_s"),
            "finish_reason": row.get("finish_reason"),
            "citations": row.get("citations") or [],
        }
    rows = [e for e in by_id.values() if a in e and b in e]
    for e in rows:
        sa, sb = e[a]["score"], e[b]["score"]
        e["diff"] = sb - sa if isinstance(sa, int | float) and isinstance(sb, int | float) else None
    rows.sort(key=lambda e: (e["diff"] is None, e["diff"] if e["diff"] is not None else 0.0))
    return {"metric": metric, "a": a, "b": b, "total": len(rows), "rows": rows[offset : offset + limit]}


def compare(loaded: LoadedProject, refs: list[str], metric: str | None) -> dict[str, Any]:
    from tunesmith.eval.compare import compare_runs

    runs = [_eval_run(loaded, ref) for ref in refs]
    if len(runs) < 1:
        raise StageError("pick at least one evaluation run to compare")
    return compare_runs(runs, metric or loaded.config.eval.primary, resamples=1000)
