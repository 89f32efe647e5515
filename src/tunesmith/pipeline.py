"""The whole workflow, and each stage's entry from a project.

Every stage runs the same way whether called alone (`tunesmith train`) or
chained (`tunesmith run`): a run folder is made (or resumed), the stage's
`run()` owns its loop, the folder is marked by how it ended. A stage entry
here only turns the project's sections into the stage's plain arguments and
finds the earlier runs it consumes. Chained runs nest their stage folders
inside one pipeline folder, and a resumed pipeline skips the stages that
already succeeded there.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.core.errors import StageError
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir, is_run_dir
from tunesmith.models.pool import ModelPool
from tunesmith.project import LoadedProject
from tunesmith.registry.runs import list_runs, resolve_run, runs_root
from tunesmith.train.layout import trained_weights

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

    def report(self, target: RunDir, **runs: RunDir | None) -> Path | None:
        from tunesmith.eval.report import write_report

        cfg = self.project.config
        return write_report(
            target,
            title=f"{cfg.name}: fine-tune vs baseline",
            use_case=cfg.use_case,
            human=human_labels(self.project, runs.get("eval_run")),
            **runs,
        )


def human_labels(project: LoadedProject, eval_run: RunDir | None) -> dict[str, Any] | None:
    """People's labels of this evaluation's outputs (from any run with the same outputs), as a metric."""
    if eval_run is None or not eval_run.path("outputs.jsonl").is_file():
        return None
    from tunesmith.core.jsonl import read_jsonl
    from tunesmith.eval.calibration import label_store
    from tunesmith.eval.labels import for_rows, human_summary

    cfg = project.config.eval
    labels = for_rows(label_store(project.dir, cfg).current(), read_jsonl(eval_run.path("outputs.jsonl")))
    return human_summary(labels, resamples=cfg.bootstrap, confidence=cfg.confidence, seed=cfg.seed)


def refresh_report(project: LoadedProject, eval_run: RunDir) -> Path | None:
    """The evaluation's report again (after labelling), from the runs it recorded as its inputs."""
    ctx = Context.for_project(project)
    inputs = eval_run.info.get("inputs") or {}
    runs = {
        f"{stage}_run": ctx.optional_run(stage, inputs[f"{stage}_run"]) if inputs.get(f"{stage}_run") else None
        for stage in ("train", "data", "baseline")
    }
    return ctx.report(eval_run, eval_run=eval_run, **runs)


# -- stage entries ------------------------------------------------------------------------
def stage_data(ctx: Context, run_dir: RunDir) -> dict[str, Any]:
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


def stage_baseline(ctx: Context, run_dir: RunDir) -> dict[str, Any]:
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
    return result.summary()


def stage_train(
    ctx: Context, run_dir: RunDir, *, data_ref: str | None = None, nproc: int = 1, accelerate_config: str | None = None
) -> dict[str, Any]:
    cfg = ctx.project.config
    train_cfg = cfg.train
    if run_dir.resumed:
        # a resumed run continues with the settings it started with and on its own data, whatever the
        # project file says now: otherwise steps, schedule and batches would not match
        from tunesmith.train.config import TrainConfig

        train_cfg = run_dir.config(TrainConfig)
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
    rewards = None
    if train_cfg.recipe == "grpo":
        from tunesmith.core.errors import ConfigError
        from tunesmith.rewards import build_rewards

        if nproc > 1 or accelerate_config:
            raise ConfigError(
                "grpo runs in one process for now", where="--nproc", fix="Run it without --nproc/--accelerate-config."
            )
        # built before any model loads: an unchecked judge or a missing rule fails in a second
        rewards = build_rewards(train_cfg.grpo.rewards, ctx.project)
    if nproc > 1 or accelerate_config:
        from tunesmith.train.launch import launch

        found = launch(
            nproc,
            run_dir=run_dir.root,
            train=train_cfg,
            base=cfg.base_model,
            data_dir=data_run.root,
            project_dir=ctx.project.dir,
            resume=run_dir.resumed,
            accelerate_config=accelerate_config,
        )
        return {"recipe": train_cfg.recipe, **found}
    from tunesmith.train.run import run

    result = run(
        train_cfg,
        base=cfg.base_model,
        data_dir=data_run.root,
        project_dir=ctx.project.dir,
        run_dir=run_dir,
        resume=run_dir.resumed,
        rewards=rewards,
    )
    # the whole process's peak resident memory: comparable between recipes run on their own
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return {"recipe": train_cfg.recipe, "peak_rss_mib": peak, **result.summary()}


def latest_generative(project_dir: Path) -> RunDir | None:
    """The newest finished training run that produced a chat model (reward models do not answer)."""
    runs = [
        r
        for r in list_runs(project_dir, "train")
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
) -> dict[str, Any]:
    from tunesmith.eval.run import run

    cfg = ctx.project.config
    data_run = ctx.input_run("data", data_ref)
    train_run = ctx.optional_run("train", train_ref)
    if train_run is not None and train_ref is None and train_run.info.get("summary", {}).get("recipe") == "reward":
        train_run = latest_generative(ctx.project.dir)
    baseline_run = ctx.optional_run("baseline", baseline_ref)
    if train_run is None:
        note("[yellow]no training run found: evaluating without the fine-tuned systems[/]")
    result = run(
        cfg.eval,
        base=cfg.base_model,
        system_prompt=cfg.system_prompt,
        knowledge=cfg.knowledge,
        data_dir=data_run.root,
        adapter_dir=trained_weights(train_run) if train_run else None,
        baseline=baseline_run.read_json("baseline.json")["chosen"] if baseline_run else None,
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
    ctx.report(run_dir, eval_run=run_dir, train_run=train_run, data_run=data_run, baseline_run=baseline_run)
    return result.summary


def stage_gate(ctx: Context, run_dir: RunDir, *, eval_ref: str | None = None) -> dict[str, Any]:
    from tunesmith.gate.release import register_gated
    from tunesmith.gate.run import run
    from tunesmith.gate.subject import ModelSubject

    cfg = ctx.project.config
    eval_run = ctx.input_run("eval", eval_ref)
    inputs = eval_run.info.get("inputs", {})
    data_run = ctx.optional_run("data", inputs.get("data_run"))
    train_run = ctx.optional_run("train", inputs.get("train_run")) if inputs.get("train_run") else None

    relevance = (eval_run.read_json("summary.json").get("retrieval") or {}).get("relevance_threshold")

    def subject() -> ModelSubject:
        return ModelSubject(
            pool=ctx.pool,
            base=cfg.base_model,
            weights=trained_weights(train_run) if train_run else None,
            system_prompt=cfg.system_prompt,
            knowledge=cfg.knowledge,
            project_dir=ctx.project.dir,
            judge=ctx.pool.get(cfg.eval.judge) if cfg.eval.judge is not None else None,
            relevance=relevance,
        )

    from tunesmith.eval.calibration import judge_metrics, require_trusted_judge

    result = run(
        cfg.gates,
        eval_dir=eval_run.root,
        run_dir=run_dir,
        project_dir=ctx.project.dir,
        subject=subject,
        data_dir=data_run.root if data_run else None,
        trust_judge=lambda use: require_trusted_judge(ctx.project.dir, cfg.eval, use),
        judge_metrics=judge_metrics(cfg.eval),
    )
    run_dir.record_inputs(
        eval_run=eval_run.id,
        train_run=train_run.id if train_run else None,
        data_run=data_run.id if data_run else None,
        dataset_version=inputs.get("dataset_version"),
    )
    gate = result.to_dict()
    project = {
        "name": cfg.name,
        "use_case": cfg.use_case,
        "system_prompt": cfg.system_prompt,
        "base_model": cfg.base_model.id,
    }
    version = register_gated(
        ctx.tracker,
        project=project,
        gate_run=run_dir,
        gate=gate,
        data_run=data_run,
        train_run=train_run,
        eval_run=eval_run,
    )
    registered = {"model": ctx.tracker.model_name, "version": version} if version is not None else None
    if registered:
        run_dir.write_json("gate.json", {**gate, "registered": registered})
    return {**gate, "eval_run": eval_run.id, "registered": registered}


STAGE_ENTRIES: dict[str, Callable[..., dict[str, Any]]] = {
    "baseline": stage_baseline,
    "data": stage_data,
    "train": stage_train,
    "eval": stage_eval,
    "gate": stage_gate,
}


def execute(ctx: Context, stage: str, *, resume_run: RunDir | None = None, **options: Any) -> RunDir:
    """Run one stage in its own run folder (or resume one), marking it by how it ended, then track it."""
    from tunesmith.registry.tracking import log_quietly

    cfg = ctx.project.config
    section = {"baseline": cfg.baseline, "data": cfg.data, "train": cfg.train, "eval": cfg.eval}.get(stage)
    config = section.model_dump(mode="json") if section is not None else {"gates": cfg.gates.model_dump(mode="json")}
    nested = ctx.parent is not None
    parent = ctx.parent.root if ctx.parent is not None else runs_root(ctx.project.dir)
    run_dir = RunDir.begin(parent, stage, config, name=stage if nested else None, resume=resume_run)
    try:
        run_dir.record(lambda: STAGE_ENTRIES[stage](ctx, run_dir, **options))
    finally:
        weights = trained_weights(run_dir) if stage == "train" else None
        log_quietly(lambda: ctx.tracker, run_dir, weights=weights)
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
    previous = resolve_pipeline_run(project.dir, resume) if resume else None
    parent = RunDir.begin(runs_root(project.dir), "run", project.config.model_dump(mode="json"), resume=previous)
    ctx.parent = parent
    started = time.perf_counter()
    with parent.running(keep=lambda key: key in ("primary", "gate_passed")) as outcome:
        for stage in stages:
            if stage == "baseline" and project.config.data.golden is None:
                # the baseline is measured on golden outputs; a project of conversations (data.sources) has none
                note("baseline: skipped (no data.golden to measure prompts on)")
                continue
            existing = parent.path(stage)
            done = RunDir(existing) if is_run_dir(existing) else None
            if done is not None and done.status == "succeeded":
                note(f"{stage}: already done in {parent.id}, skipping")
                ctx.runs[stage] = done
                continue
            execute(ctx, stage, resume_run=done)
        summary = pipeline_summary(ctx, parent, seconds=time.perf_counter() - started)
        runs = ctx.runs
        ctx.report(
            parent,
            eval_run=runs.get("eval"),
            train_run=runs.get("train"),
            data_run=runs.get("data"),
            baseline_run=runs.get("baseline"),
            gate_run=runs.get("gate"),
        )
        parent.write_json("summary.json", summary)
        outcome.summary = summary
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
        for key in ("probe", "pairwise", "retrieval", "by_source"):
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
