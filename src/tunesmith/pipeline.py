"""The whole workflow, and each stage's entry from a project.

Every stage runs the same way whether called alone (`tunesmith train`) or
chained (`tunesmith run`): a run folder is made, the stage's `run()` owns its
loop, the folder is marked succeeded or failed. Chained runs nest their stage
folders inside one pipeline folder, and a resumed pipeline skips the stages
that already succeeded there.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tunesmith.core.atomic import atomic_write_text, read_jsonl
from tunesmith.core.errors import StageError, TunesmithError
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir, is_run_dir
from tunesmith.models.pool import ModelPool
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import resolve_run, runs_root
from tunesmith.train.config import TrainConfig

STAGES = ("baseline", "data", "train", "eval", "gate")


@dataclass
class Context:
    """What stages share inside one process: the project, loaded models, sibling runs."""

    project: LoadedProject
    pool: ModelPool
    parent: RunDir | None = None  # the pipeline run, when chained
    runs: dict[str, RunDir] = field(default_factory=dict)  # stage -> run used/produced here
    _tracker: Any = None

    @property
    def tracker(self) -> Any | None:
        """The project's MLflow store (opened on first use), or None when tracking is off."""
        cfg = self.project.config
        if not cfg.tracking.enabled:
            return None
        if self._tracker is None:
            from tunesmith.registry.tracking import open_tracker

            self._tracker = open_tracker(cfg.tracking, self.project.dir, cfg.name)
        return self._tracker

    @classmethod
    def for_project(cls, project: LoadedProject) -> Context:
        return cls(project=project, pool=ModelPool(project.dir))

    def input_run(self, stage: str, ref: str | None = None) -> RunDir:
        """The run of an earlier stage this stage consumes: named, from this pipeline, or the latest."""
        if ref is None and stage in self.runs:
            return self.runs[stage]
        return resolve_run(self.project.dir, ref, stage)

    def optional_run(self, stage: str, ref: str | None = None) -> RunDir | None:
        try:
            return self.input_run(stage, ref)
        except StageError:
            if ref is not None:
                raise
            return None


# -- stage entries ------------------------------------------------------------------------
def stage_data(ctx: Context, run_dir: RunDir, **_: Any) -> dict[str, Any]:
    from tunesmith.synth.run import run

    cfg = ctx.project.config
    result = run(
        cfg.data,
        knowledge=cfg.knowledge,
        system_prompt=cfg.system_prompt,
        base_model=cfg.base_model,
        project_dir=ctx.project.dir,
        run_dir=run_dir,
    )
    return {"version": result.version, "examples": result.counts, "rejected": result.rejected}


def stage_baseline(ctx: Context, run_dir: RunDir, **_: Any) -> dict[str, Any]:
    from tunesmith.prompts.run import run

    cfg = ctx.project.config
    if cfg.data.golden is None:
        raise StageError(
            "the baseline is measured on the golden outputs' validation split, and data.golden is not set",
            where=ctx.project.where("data"),
            fix="Declare data.golden, or run the stages after the baseline on their own.",
        )
    candidates = [cfg.base_model] + [
        c for c in cfg.models.candidates if ModelPool.key(c) != ModelPool.key(cfg.base_model)
    ]
    result = run(
        cfg.baseline,
        candidates=candidates,
        system_prompt=cfg.system_prompt,
        golden=cfg.data.golden,
        near_threshold=cfg.data.clean.near_dup_threshold,
        split=cfg.data.split,
        knowledge=cfg.knowledge,
        eval_cfg=cfg.eval,
        project_dir=ctx.project.dir,
        run_dir=run_dir,
        pool=ctx.pool,
    )
    chosen = result.chosen
    return {
        "model": chosen["model"],
        "template": chosen["template"],
        "score": chosen["score"],
        "prompt_tokens": chosen["prompt_tokens"],
        "latency_s": chosen["latency_s"],
        "leaderboard": [
            {
                k: e[k]
                for k in (
                    "model",
                    "template",
                    "score",
                    "prompt_tokens",
                    "output_tokens",
                    "seconds_per_request",
                    "cost_per_1k_requests",
                )
            }
            for e in result.leaderboard
        ],
    }


def stage_train(
    ctx: Context,
    run_dir: RunDir,
    *,
    data_ref: str | None = None,
    resume: bool = False,
    nproc: int = 1,
    accelerate_config: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    cfg = ctx.project.config
    train_cfg = cfg.train
    if resume:
        # a resumed run continues with the settings it started with (its config.yaml) and on its own
        # data, whatever the project file says now: otherwise steps, schedule and batches would not match
        train_cfg = TrainConfig.model_validate(yaml.safe_load(run_dir.path("config.yaml").read_text()))
        if train_cfg != cfg.train:
            note("Resuming with the run's own training settings (its config.yaml), not the project's current ones")
        data_ref = data_ref or run_dir.info.get("inputs", {}).get("data_run")
    data_run = ctx.input_run("data", data_ref)
    run_dir.record_inputs(
        data_run=data_run.id,
        dataset_version=data_run.info["inputs"].get("dataset_version"),
        base_model=cfg.base_model.id,
        recipe=train_cfg.recipe,
    )
    if nproc > 1 or accelerate_config:
        from tunesmith.train.launch import launch

        found = launch(
            nproc,
            run_dir=run_dir.root,
            train=train_cfg.model_dump(mode="json"),
            base=cfg.base_model.model_dump(mode="json"),
            data_dir=data_run.root,
            project_dir=ctx.project.dir,
            resume=resume,
            accelerate_config=accelerate_config,
        )
        return {"recipe": train_cfg.recipe, **{k: v for k, v in found.items() if k != "extra"}, **found["extra"]}
    from tunesmith.train.run import run

    result = run(
        train_cfg,
        base=cfg.base_model,
        data_dir=data_run.root,
        project_dir=ctx.project.dir,
        run_dir=run_dir,
        resume=resume,
    )
    return {
        "recipe": train_cfg.recipe,
        # the whole process's peak resident memory: comparable between recipes run on their own
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "adapter": str(result.adapter),
        "final_train_loss": result.final_train_loss,
        "final_val_loss": result.final_val_loss,
        "stop_rate": result.stop_rate,
        "hyperparameters": result.hyperparameters,
        **result.extra,
    }


def trained_weights(run: RunDir) -> Path:
    """The adapter folder of a LoRA-family run, or the model folder of a full fine-tune."""
    adapter = run.path("adapter")
    return adapter if adapter.is_dir() else run.path("model")


def _latest_generative(ctx: Context) -> RunDir | None:
    """The newest finished training run that produced a chat model (reward models do not answer)."""
    from tunesmith.registry.runs import list_runs

    runs = [
        r
        for r in list_runs(ctx.project.dir, "train")
        if r.status == "succeeded" and r.info.get("summary", {}).get("recipe") != "reward"
    ]
    return runs[-1] if runs else None


def stage_eval(
    ctx: Context,
    run_dir: RunDir,
    *,
    data_ref: str | None = None,
    train_ref: str | None = None,
    baseline_ref: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    from tunesmith.eval.run import run

    cfg = ctx.project.config
    data_run = ctx.input_run("data", data_ref)
    train_run = ctx.optional_run("train", train_ref)
    if train_run is not None and train_ref is None and train_run.info.get("summary", {}).get("recipe") == "reward":
        train_run = _latest_generative(ctx)
    baseline_run = ctx.optional_run("baseline", baseline_ref)
    baseline = baseline_run.read_json("baseline.json")["chosen"] if baseline_run else None
    if train_run is None:
        note("[yellow]no training run found: evaluating without the fine-tuned systems[/]")
    result = run(
        cfg.eval,
        base=cfg.base_model,
        system_prompt=cfg.system_prompt,
        knowledge=cfg.knowledge,
        data_dir=data_run.root,
        adapter_dir=trained_weights(train_run) if train_run else None,
        baseline=baseline,
        project_dir=ctx.project.dir,
        run_dir=run_dir,
        pool=ctx.pool,
    )
    run_dir.record_inputs(
        data_run=data_run.id,
        train_run=train_run.id if train_run else None,
        baseline_run=baseline_run.id if baseline_run else None,
        dataset_version=data_run.info["inputs"].get("dataset_version"),
    )
    write_report(ctx, run_dir, eval_run=run_dir, train_run=train_run, baseline_run=baseline_run, gate=None)
    return result.summary


def stage_gate(ctx: Context, run_dir: RunDir, *, eval_ref: str | None = None, **_: Any) -> dict[str, Any]:
    from tunesmith.gate.run import run
    from tunesmith.gate.subject import ModelSubject

    cfg = ctx.project.config
    eval_run = ctx.input_run("eval", eval_ref)
    inputs = eval_run.info.get("inputs", {})
    data_run = ctx.optional_run("data", inputs.get("data_run"))
    train_run = ctx.optional_run("train", inputs.get("train_run")) if inputs.get("train_run") else None

    def subject() -> ModelSubject:
        return ModelSubject(
            pool=ctx.pool,
            base=cfg.base_model,
            weights=trained_weights(train_run) if train_run else None,
            system_prompt=cfg.system_prompt,
            knowledge=cfg.knowledge,
            project_dir=ctx.project.dir,
            judge=ctx.pool.get(cfg.eval.judge) if cfg.eval.judge is not None else None,
        )

    scanner = None
    if cfg.gates.pii is not None and data_run is not None:
        from tunesmith.data.pii import PIIScanner
        from tunesmith.synth.config import DataBuildConfig

        clean = DataBuildConfig.model_validate(yaml.safe_load(data_run.path("config.yaml").read_text("utf-8"))).clean
        scanner = PIIScanner(clean.pii_kinds, clean.pii_allow, clean.pii_allow_domains)
    result = run(
        cfg.gates,
        eval_dir=eval_run.root,
        run_dir=run_dir,
        project_dir=ctx.project.dir,
        subject=subject,
        data_dir=data_run.root if data_run else None,
        pii_scanner=scanner,
    )
    run_dir.record_inputs(
        eval_run=eval_run.id,
        train_run=train_run.id if train_run else None,
        data_run=data_run.id if data_run else None,
        dataset_version=inputs.get("dataset_version"),
    )
    gate = result.to_dict()
    version = register_gated(ctx, run_dir, gate, {"data": data_run, "train": train_run, "eval": eval_run})
    registered = {"model": ctx.tracker.model_name, "version": version} if version is not None else None
    if registered:
        run_dir.write_json("gate.json", {**gate, "registered": registered})
    return {**gate, "eval_run": eval_run.id, "registered": registered}


def track(ctx: Context, run_dir: RunDir) -> str | None:
    """Log a finished run folder to MLflow (a warning, not a failure, when the store is unreachable)."""
    from tunesmith.registry.tracking import log_quietly

    weights = trained_weights(run_dir) if run_dir.stage == "train" else None
    return log_quietly(lambda: ctx.tracker, run_dir, weights=weights)


def register_gated(ctx: Context, gate_run: RunDir, gate: dict[str, Any], runs: dict[str, RunDir | None]) -> str | None:
    """A registry version for the gated model, whatever the verdict: its tags say whether it may be promoted."""
    from tunesmith.gate.card import model_card
    from tunesmith.registry.models import GATE_TAG, register

    cfg = ctx.project.config
    train_run, eval_run, data_run = runs.get("train"), runs.get("eval"), runs.get("data")
    card_inputs: dict[str, Any] = {
        "project": {
            "name": cfg.name,
            "use_case": cfg.use_case,
            "system_prompt": cfg.system_prompt,
            "base_model": cfg.base_model.id,
        },
        "data": data_run.read_json("manifest.json") if data_run and data_run.path("manifest.json").is_file() else None,
        "train": train_run.info.get("summary") if train_run else None,
        "evaluation": eval_run.read_json("summary.json") if eval_run else None,
        "gate": gate,
        "runs": {k: v.id for k, v in runs.items() if v is not None},
    }
    tracker = ctx.tracker
    version: str | None = None
    if tracker is not None and train_run is not None:
        try:
            train_mlflow = tracker.mlflow_run_id(train_run) or tracker.log_run(
                train_run, weights=trained_weights(train_run)
            )
            weights = trained_weights(train_run)
            logged = tracker.logs_weights(weights)
            source = f"runs:/{train_mlflow}/weights" if logged else weights.resolve().as_uri()
            evaluation = card_inputs["evaluation"] or {}
            primary = evaluation.get("primary")
            tags = {
                GATE_TAG: "passed" if gate["passed"] else "failed",
                "tunesmith.gate_run": gate_run.id,
                "tunesmith.gate_run_dir": str(gate_run.root.resolve()),
                "tunesmith.train_run": train_run.id,
                "tunesmith.eval_run": eval_run.id if eval_run else "",
                "tunesmith.data_run": data_run.id if data_run else "",
                "tunesmith.dataset_version": str(train_run.info.get("inputs", {}).get("dataset_version", "")),
                "tunesmith.base_model": cfg.base_model.id,
                "tunesmith.recipe": str(train_run.info.get("summary", {}).get("recipe", "")),
                "tunesmith.weights": str(trained_weights(train_run).resolve()),
            }
            score = (evaluation.get("systems", {}).get("finetuned") or {}).get(primary or "")
            if score:
                tags[f"tunesmith.finetuned.{primary}"] = (
                    f"{score['mean']:.4f} [{score['low']:.4f}, {score['high']:.4f}]"
                )
            version = register(tracker, source=source, run_id=train_mlflow, tags=tags, description=cfg.use_case or None)
        except Exception as exc:
            note(f"[yellow]not registered ({type(exc).__name__}: {exc});[/] the gate's verdict stands")
            version = None
    card = model_card(version=version, **card_inputs)
    atomic_write_text(gate_run.path("model_card.md"), card)
    if version is not None and tracker is not None:
        tracker.client.update_model_version(tracker.model_name, version, description=card)
    return version


STAGE_ENTRIES: dict[str, Callable[..., dict[str, Any]]] = {
    "baseline": stage_baseline,
    "data": stage_data,
    "train": stage_train,
    "eval": stage_eval,
    "gate": stage_gate,
}


def execute(ctx: Context, stage: str, *, resume_run: RunDir | None = None, **options: Any) -> RunDir:
    """Run one stage in its own run folder (or resume one), marking it succeeded or failed."""
    cfg = ctx.project.config
    section = {"baseline": cfg.baseline, "data": cfg.data, "train": cfg.train, "eval": cfg.eval}.get(stage)
    config = section.model_dump(mode="json") if section is not None else {"gates": cfg.gates.model_dump(mode="json")}
    if resume_run is not None:
        run_dir = resume_run
        run_dir.restart()
    elif ctx.parent is not None:
        run_dir = RunDir.create(ctx.parent.root, stage, config, name=stage)
    else:
        run_dir = RunDir.create(runs_root(ctx.project.dir), stage, config)
    try:
        run_dir.record(lambda: STAGE_ENTRIES[stage](ctx, run_dir, resume=resume_run is not None, **options))
    finally:
        track(ctx, run_dir)
    ctx.runs[stage] = run_dir
    return run_dir


# -- the whole workflow --------------------------------------------------------------------
@dataclass
class PipelineResult:
    run: RunDir
    summary: dict[str, Any]

    @property
    def gate_passed(self) -> bool | None:
        gate = self.summary.get("gate")
        return None if gate is None else bool(gate["passed"])


def run_pipeline(ctx: Context, *, stages: tuple[str, ...] = STAGES, resume: str | None = None) -> PipelineResult:
    """baseline -> data -> train -> eval -> gate -> report, in one pipeline run folder."""
    project = ctx.project
    if resume:
        parent = resolve_pipeline_run(project.dir, resume)
        parent.restart()
    else:
        parent = RunDir.create(runs_root(project.dir), "run", project.config.model_dump(mode="json"))
    ctx.parent = parent
    started = time.perf_counter()
    try:
        for stage in stages:
            existing = parent.path(stage)
            if is_run_dir(existing):
                previous = RunDir(existing)
                if previous.status == "succeeded":
                    note(f"{stage}: already done in {parent.id}, skipping")
                    ctx.runs[stage] = previous
                    continue
                execute(ctx, stage, resume_run=previous)
            else:
                execute(ctx, stage)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        parent.finish(status, error=exc.render() if isinstance(exc, TunesmithError) else repr(exc))
        raise
    summary = pipeline_summary(ctx, parent, seconds=time.perf_counter() - started)
    write_report(
        ctx,
        parent,
        eval_run=ctx.runs.get("eval"),
        train_run=ctx.runs.get("train"),
        baseline_run=ctx.runs.get("baseline"),
        gate=ctx.runs.get("gate"),
    )
    parent.write_json("summary.json", summary)
    parent.finish("succeeded", summary={k: summary[k] for k in ("primary", "gate_passed") if k in summary})
    return PipelineResult(run=parent, summary=summary)


def resolve_pipeline_run(project_dir: Path, ref: str) -> RunDir:
    candidate = Path(ref)
    for path in (candidate, project_dir / ref, runs_root(project_dir) / ref):
        if is_run_dir(path) and RunDir(path).stage == "run":
            return RunDir(path)
    raise StageError(
        f"no pipeline run named '{ref}'",
        where=str(runs_root(project_dir)),
        fix="Pass the folder of a `tunesmith run` (runs/<time>-run).",
    )


def pipeline_summary(ctx: Context, parent: RunDir, *, seconds: float) -> dict[str, Any]:
    cfg = ctx.project.config
    out: dict[str, Any] = {
        "project": cfg.name,
        "run_dir": str(parent.root),
        "seconds": round(seconds, 1),
        "primary": cfg.eval.primary,
        "stages": {},
    }
    for stage, run_dir in ctx.runs.items():
        info = run_dir.info
        out["stages"][stage] = {
            "run": str(run_dir.root),
            "status": info["status"],
            "seconds": info.get("summary", {}).get("seconds"),
        }
    if "data" in ctx.runs:
        out["dataset_version"] = ctx.runs["data"].info["inputs"].get("dataset_version")
    if "eval" in ctx.runs:
        ev = ctx.runs["eval"].read_json("summary.json")
        out["systems"] = {s: m[cfg.eval.primary] for s, m in ev["systems"].items()}
        out["finetuned_vs_baseline"] = ev.get("finetuned_vs_baseline")
        out["test_examples"] = ev["test_examples"]
        for key in ("probe", "pairwise"):
            if key in ev:
                out[key] = ev[key]
    if "train" in ctx.runs:
        train_summary = ctx.runs["train"].info.get("summary", {})
        out["train"] = {k: train_summary.get(k) for k in ("final_train_loss", "final_val_loss", "stop_rate")}
    if "gate" in ctx.runs:
        gate = ctx.runs["gate"].read_json("gate.json")
        out["gate"] = gate
        out["gate_passed"] = gate["passed"]
    return out


def write_report(
    ctx: Context,
    target: RunDir,
    *,
    eval_run: RunDir | None,
    train_run: RunDir | None,
    baseline_run: RunDir | None,
    gate: RunDir | None,
) -> Path | None:
    """report.html in ``target`` from whatever runs are available."""
    from tunesmith.eval.report import render_report, side_by_side

    cfg = ctx.project.config
    data: dict[str, Any] = {"title": f"{cfg.name}: fine-tune vs baseline", "use_case": cfg.use_case}
    if eval_run is not None:
        data["eval"] = eval_run.read_json("summary.json")
        data["comparisons"] = eval_run.read_json("comparisons.json")
        data["examples"] = side_by_side(read_jsonl(eval_run.path("outputs.jsonl")), cfg.eval.primary)
    if train_run is not None:
        data["loss"] = train_run.metrics()
    data_run = ctx.runs.get("data")
    if data_run is not None and data_run.path("train.jsonl").exists():
        data["lengths"] = [r["meta"]["tokens"] for r in read_jsonl(data_run.path("train.jsonl"))]
    if baseline_run is not None:
        data["leaderboard"] = baseline_run.read_json("baseline.json")["leaderboard"]
    if gate is not None:
        data["gate"] = gate.read_json("gate.json")
    if len(data) <= 2:
        return None
    path = target.path("report.html")
    atomic_write_text(path, render_report(data))
    return path
