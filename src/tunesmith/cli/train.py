"""`tunesmith train` and `tunesmith export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console

RECIPES = "sft-lora, sft-dora, sft-qlora, sft-full, dpo, kto, reward, rlhf"


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        project: ProjectOpt = Path("."),
        recipe: Annotated[str | None, typer.Option(help=f"Recipe ({RECIPES}); default: train.recipe.")] = None,
        data: Annotated[str | None, typer.Option(help="Data run to train on (default: the latest).")] = None,
        resume: Annotated[
            bool, typer.Option(help="Continue the latest unfinished training run from its last complete checkpoint.")
        ] = False,
        run: Annotated[str | None, typer.Option(help="With --resume: the training run to continue.")] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the estimated duration and peak memory, and stop.")
        ] = False,
        fit_memory: Annotated[
            str | None, typer.Option(help="Choose micro batch and activation checkpointing to fit, e.g. 8GiB.")
        ] = None,
        nproc: Annotated[int, typer.Option(help="Processes for distributed data-parallel training.")] = 1,
        from_trial: Annotated[
            int | None, typer.Option("--from-trial", help="Train with the settings of this `tunesmith tune` trial.")
        ] = None,
        study: Annotated[str | None, typer.Option(help="With --from-trial: the study (default: tune.study).")] = None,
        accelerate_config: Annotated[
            str | None, typer.Option(help="fsdp, deepspeed-zero2, deepspeed-zero3, ddp-cpu, or a config file.")
        ] = None,
        set_: SetOpt = None,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Fine-tune the base model on the latest data build (default recipe: LoRA SFT on assistant tokens)."""
        set_debug(debug)
        from tunesmith.pipeline import Context, execute

        overrides = list(set_ or []) + ([f"train.recipe={recipe}"] if recipe else [])
        loaded = load(project, overrides)
        if from_trial is not None:
            from tunesmith.tune.run import trial_overrides

            tune_cfg = loaded.config.tune.model_copy(update={"study": study} if study else {})
            settings = trial_overrides(tune_cfg, loaded, from_trial)
            console.print(f"settings of trial {from_trial}: {' '.join(settings)}", highlight=False)
            overrides = settings + overrides  # what the command line sets still wins
            loaded = load(project, overrides)
        if dry_run or fit_memory:
            plan = _plan(loaded, data, fit_memory)
            if dry_run:
                if json_:
                    import json
                    import sys

                    sys.stdout.write(json.dumps(plan, indent=2) + "\n")
                raise typer.Exit(0)
            overrides += [
                f"train.micro_batch_size={plan['micro_batch_size']}",
                f"train.activation_checkpointing={str(plan['activation_checkpointing']).lower()}",
            ]
            loaded = load(project, overrides)
        ctx = Context.for_project(loaded)
        resume_run = _unfinished(loaded.dir, run) if resume else None
        run_dir = execute(
            ctx, "train", resume_run=resume_run, data_ref=data, nproc=nproc, accelerate_config=accelerate_config
        )
        summary = run_dir.info["summary"]
        loss = summary.get("final_val_loss")
        rate = summary.get("stop_rate")
        # NaN when train.stop_check is 0: nothing was checked
        stops = f"stops by itself on {rate:.0%} of samples" if rate == rate and rate is not None else "stop check off"
        console.print(
            f"{summary['recipe']}: {summary['adapter']}  final train loss {summary['final_train_loss']}  "
            f"val loss {loss}  {stops}"
        )
        emit(run_dir.root, summary, json_)

    @app.command("export")
    def export(
        run: Annotated[str | None, typer.Argument(help="Training run (default: the latest LoRA-family run).")] = None,
        project: ProjectOpt = Path("."),
        gguf: Annotated[bool, typer.Option(help="Also write a GGUF file (llama-family architectures).")] = False,
        gguf_dtype: Annotated[str, typer.Option(help="GGUF tensor type: f32 or f16.")] = "f16",
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Merge an adapter into its base (dequantized first for QLoRA), save safetensors, verify the outputs match."""
        set_debug(debug)
        import json
        import sys

        from tunesmith.registry.runs import resolve_run
        from tunesmith.train.export import export_run

        loaded = load(project, None)
        train_run = resolve_run(loaded.dir, run, "train")
        result = export_run(train_run, loaded.config.base_model, loaded.dir, gguf=gguf, gguf_dtype=gguf_dtype)
        if json_:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        console.print(
            f"merged model: {result['merged']}  (greedy outputs identical on {result['identical']}/"
            f"{result['prompts']} prompts; max logit difference {result['max_logit_diff']:.2e})"
        )
        if "gguf" in result:
            g = result["gguf"]
            console.print(
                f"GGUF: {g['path']} ({g['size_mib']:.1f} MiB, {g['tensors']} tensors; read back with "
                f"transformers: max logit difference {g['max_logit_diff']:.2e})"
            )


def _plan(loaded: Any, data_ref: str | None, fit_memory: str | None) -> dict[str, Any]:
    """Token lengths of the training split under the base model's template, and the estimate (or fit)."""
    from tunesmith.core.errors import ConfigError
    from tunesmith.data.formats.read import read_items
    from tunesmith.data.stats import TokenStats
    from tunesmith.models.local import load_tokenizer
    from tunesmith.models.resolve import local_path
    from tunesmith.registry.runs import resolve_run
    from tunesmith.train.estimate import estimate_run, parse_size
    from tunesmith.train.estimate import fit_memory as fit

    cfg, ref = loaded.config, loaded.config.base_model
    data_run = resolve_run(loaded.dir, data_ref, "data")
    tokenizer = load_tokenizer(local_path(ref, loaded.dir))
    stats = TokenStats()
    for item in read_items(data_run.path("train.jsonl")):
        if item.example is not None:
            stats.add(tokenizer, item.example.messages)
    if fit_memory:
        try:
            budget = parse_size(fit_memory)
        except ValueError as exc:
            raise ConfigError(str(exc), where="--fit-memory", fix="Write e.g. --fit-memory 8GiB.") from None
        plan = fit(budget, cfg.train, ref, loaded.dir, stats.lengths, stats.trained)
        if plan is None:
            raise ConfigError(
                f"no micro batch size fits {fit_memory} even with activation checkpointing",
                where="--fit-memory",
                fix="Raise the budget, lower train.max_length, or use sft-qlora.",
            )
        console.print(
            f"fits {fit_memory}: micro batch {plan['micro_batch_size']} x {plan['grad_accumulation']} "
            f"accumulation, activation checkpointing {'on' if plan['activation_checkpointing'] else 'off'}, "
            f"estimated peak {plan['peak_gib']:.2f} GiB"
        )
        return plan
    plan = estimate_run(cfg.train, ref, loaded.dir, stats.lengths, stats.trained)
    console.print(
        f"{cfg.train.recipe}: {plan['steps']} steps ({plan['epochs']:g} epochs) on {stats.examples} "
        f"examples, micro batch {plan['micro_batch_size']}"
    )
    console.print(
        f"estimated duration {plan['minutes']:.1f} min at ~{plan['tokens_per_s']:.0f} tokens/s; peak memory "
        f"~{plan['peak_gib']:.2f} GiB ({', '.join(f'{k} {v / 2**30:.2f}' for k, v in plan['breakdown'].items())})"
    )
    console.print(f"[dim]{plan['assumptions']}[/]")
    return plan


def _unfinished(project_dir: Path, ref: str | None):  # type: ignore[no-untyped-def]
    from tunesmith.core.errors import StageError
    from tunesmith.registry.runs import list_runs

    runs = [r for r in list_runs(project_dir, "train") if ref is None or r.id == ref or str(r.root) == ref]
    runs = [r for r in runs if r.status in ("failed", "interrupted")] if ref is None else runs
    if not runs:
        raise StageError(
            "no unfinished training run to resume",
            where="runs/",
            fix="Start one with `tunesmith train`, or name one with --run.",
        )
    return runs[-1]
