"""When the gate says no: search for settings that pass it, on validation data, then evaluate and gate again.

`tunesmith run --remedy` reads the failed gate's evidence and turns each failed check into the settings
that move it, anchored at what the failed run used:

| failed check | searched | why |
| --- | --- | --- |
| retention | replay ratio up, learning rate down, fewer epochs | forgetting comes from large, long updates away from the base; replay holds general answers in place |
| refusal | replay ratio down, learning rate up, more epochs | declining is learned from the task data, which replay dilutes |
| a metric threshold or margin | learning rate, epochs, LoRA rank around the current values | how much of the task is learned |

The search is a constrained study (tune/constraints.py: every trial held to the gate's checks on
validation data), bounded by trials and minutes. Its best feasible trial is evaluated on the test split,
which the search never saw, and gated again; with no feasible trial the run stops with the study's report
of which check each trial failed. Checks no training setting moves (the regression suite, personal data,
toxicity) are named as such: they need data or cases changed, not a search.
"""

from __future__ import annotations

import json
from typing import Any

from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.pipeline import Context, PipelineResult, execute, pipeline_summary
from tunesmith.tune.config import Param

SEARCHABLE = ("retention", "refusal", "metric")


def remedy_space(failed: list[dict[str, Any]], hp: dict[str, Any], replay: float) -> dict[str, Param]:
    """The search space aimed at the failed checks, around the failed run's resolved settings ``hp``."""
    lr = float(hp.get("learning_rate", 1e-3))
    epochs = float(hp.get("epochs", 2))
    rank = int(hp.get("lora_r", 16))
    ranges: dict[str, tuple[float, float, bool]] = {}  # name -> (low, high, log)

    def widen(name: str, low: float, high: float, log: bool = False) -> None:
        if name in ranges:
            old = ranges[name]
            low, high = min(low, old[0]), max(high, old[1])
        ranges[name] = (low, high, log)

    space: dict[str, Param] = {}
    for check in failed:
        kind = _kind(check)
        if kind == "retention":
            widen("replay", max(replay, 0.25), max(1.0, replay * 2))
            widen("learning_rate", lr / 4, lr, log=True)
            widen("epochs", 1.0, max(epochs, 1.5))
        elif kind == "refusal":
            widen("replay", 0.0, max(replay, 0.25))
            widen("learning_rate", lr, lr * 2, log=True)
            widen("epochs", epochs, epochs + 1)
        elif kind == "metric":
            widen("learning_rate", lr / 2, lr * 2, log=True)
            widen("epochs", max(1.0, epochs - 1), epochs + 1)
            space["lora_r"] = Param(choices=sorted({8, 16, 32, rank}))
    for name, (low, high, log) in ranges.items():
        if high > low:
            space[name] = Param(low=low, high=high, log=log)
    return space


def _kind(check: dict[str, Any]) -> str:
    if check.get("kind") == "retention":
        return "retention"
    if check.get("name") == "refusal":
        return "refusal"
    if check.get("kind") == "metric":
        return "metric"
    return "other"


def run_until_gate(
    ctx: Context, result: PipelineResult, *, trials: int, minutes: float | None = None
) -> PipelineResult:
    """``result`` when its gate passed; else a bounded constrained search, the best feasible trial evaluated
    on the test split and gated again (the new result), or ``result`` with the search's report."""
    from tunesmith.tune.run import run as tune

    gate = result.summary.get("gate")
    if gate is None or gate["passed"]:
        return result
    parent = result.run
    failed = [c for c in gate["checks"] if not c["passed"]]
    other = [c["name"] for c in failed if _kind(c) not in SEARCHABLE]
    train_run, data_run = ctx.runs["train"], ctx.runs["data"]
    hp = train_run.read_json("hyperparameters.json") if train_run.path("hyperparameters.json").is_file() else {}
    replay = float(((train_run.info.get("summary") or {}).get("replay") or {}).get("ratio") or 0.0)
    space = remedy_space(failed, hp, replay)
    record: dict[str, Any] = {"failed": [c["name"] for c in failed], "not_searchable": other}
    if other or not space:
        record["status"] = "not searchable"
        record["why"] = (
            f"{', '.join(other)} {'is' if len(other) == 1 else 'are'} not moved by training settings: change the "
            "data or the cases"
            if other
            else "no failed check a training setting moves"
        )
        return _finish(ctx, result, record)
    cfg = ctx.project.config
    tune_cfg = cfg.tune.updated(
        where="--remedy",
        trials=trials,
        search_space=space,
        constraints="gate",
        study=f"{cfg.name}-remedy-{parent.id}",
    )
    note(
        f"[yellow]the gate failed ({', '.join(record['failed'])}):[/] searching {sorted(space)} for settings that pass it"
    )
    tune_run = RunDir.create(parent.root, "tune", tune_cfg.model_dump(mode="json"), name="remedy")
    with tune_run.running(keep=lambda key: key != "trials") as outcome:
        outcome.summary = tune(
            tune_cfg,
            train=cfg.train,
            base=cfg.base_model,
            eval_cfg=cfg.eval,
            knowledge=cfg.knowledge,
            gates=cfg.gates,
            tracking=cfg.tracking,
            project_name=cfg.name,
            project_dir=ctx.project.dir,
            data_run=data_run,
            run_dir=tune_run,
            timeout_s=minutes * 60 if minutes else None,
            enqueue_default=False,
        )
    study = outcome.summary
    record.update(search=str(tune_run.root), space={k: v.model_dump(exclude_none=True) for k, v in space.items()})
    record["trials"] = len(study["trials"])
    record["infeasible"] = study["infeasible"]
    best = study.get("best")
    if best is None:
        record["status"] = "no feasible trial"
        record["why"] = study.get("no_feasible", "no trial finished")
        return _finish(ctx, result, record)
    record.update(status="found", trial=best["number"], params=best["params"], train_run=best["train_run"])
    note(f"trial {best['number']} ({best['params']}) meets the gate on validation: evaluating it on the test split")
    execute(ctx, "eval", data_ref=data_run.id, train_ref=best["train_run"], baseline_ref=_baseline_id(ctx))
    execute(ctx, "gate")
    from tunesmith.registry.runs import resolve_run

    ctx.runs["train"] = resolve_run(ctx.project.dir, best["train_run"], "train")
    return _finish(ctx, result, record)


def _baseline_id(ctx: Context) -> str | None:
    run = ctx.runs.get("baseline")
    return run.id if run is not None else None


def _finish(ctx: Context, result: PipelineResult, record: dict[str, Any]) -> PipelineResult:
    """The pipeline's summary and report, now with the remedy (and its evaluation and gate, when it ran)."""
    parent = result.run
    summary = pipeline_summary(ctx, parent, seconds=result.summary.get("seconds", 0.0))
    summary["remedy"] = record
    summary["first_gate"] = result.summary.get("gate")
    ctx.report(
        parent,
        eval_run=ctx.runs.get("eval"),
        train_run=ctx.runs.get("train"),
        data_run=ctx.runs.get("data"),
        baseline_run=ctx.runs.get("baseline"),
        gate_run=ctx.runs.get("gate"),
    )
    parent.write_json("summary.json", summary)
    parent.update_summary(gate_passed=summary.get("gate_passed"), remedy=record.get("status"))
    note(f"remedy: {record['status']}" + (f" ({record['why']})" if record.get("why") else ""))
    return PipelineResult(run=parent, summary=json.loads(json.dumps(summary, default=str)))
