"""`tunesmith train` and `tunesmith export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tunesmith.cli.common import DebugOpt, JsonOpt, ProjectOpt, SetOpt, emit, load, set_debug
from tunesmith.core.progress import console

RECIPES = "sft-lora, sft-dora, sft-qlora, sft-full, dpo, kto, reward, rlhf, grpo"


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
        settings: Annotated[
            Path | None,
            typer.Option(
                help="A YAML or JSON file of train settings laid over the project's `train:` section (what the "
                "job worker passes for a fine-tuning job)."
            ),
        ] = None,
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
        from tunesmith.registry.runs import find_unfinished

        loaded = load(project, set_)
        train_cfg = _train_settings(loaded, recipe, from_trial, study, settings)
        loaded = loaded.with_config(train=train_cfg)
        if dry_run or fit_memory:
            plan = _plan(loaded, data, fit_memory)
            if dry_run:
                if json_:
                    import json
                    import sys

                    sys.stdout.write(json.dumps(plan, indent=2) + "\n")
                raise typer.Exit(0)
            train_cfg = train_cfg.updated(
                where="--fit-memory",
                micro_batch_size=plan["micro_batch_size"],
                activation_checkpointing=plan["activation_checkpointing"],
            )
            loaded = loaded.with_config(train=train_cfg)
        ctx = Context.for_project(loaded)
        resume_run = find_unfinished(loaded.dir, "train", run) if resume else None
        options = {"data_ref": data, "nproc": nproc, "accelerate_config": accelerate_config}
        run_dir = execute(ctx, "train", resume_run=resume_run, **options)
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
        gguf: Annotated[
            bool, typer.Option(help="Also write a GGUF file (Llama, Mistral, Qwen2.5, Qwen3, Phi-3, Phi-4).")
        ] = False,
        gguf_dtype: Annotated[str, typer.Option(help="GGUF tensor type: f32, f16, bf16 or q8_0.")] = "f16",
        ollama: Annotated[
            bool, typer.Option(help="Also write an Ollama Modelfile (chat template, stop tokens) next to the GGUF.")
        ] = False,
        verify: Annotated[
            bool,
            typer.Option(
                help="Reload what was written and compare its answers and logits with the adapter's. --no-verify "
                "loads no model (DoRA and other adapters PEFT must merge load the base once): an export then needs "
                "about 1 GiB of memory besides the largest tensor, whatever the model's size."
            ),
        ] = True,
        json_: JsonOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        """Merge an adapter into its base (dequantized first for QLoRA), save safetensors, verify the outputs match;
        --gguf (and --ollama) write a full fine-tune too."""
        set_debug(debug)
        import json
        import sys

        from tunesmith.registry.runs import resolve_run
        from tunesmith.train.export import export_run
        from tunesmith.train.gguf_export import check_gguf_type

        check_gguf_type(gguf_dtype)  # before the merge, which takes a while
        loaded = load(project, None)
        train_run = resolve_run(loaded.dir, run, "train")
        result = export_run(
            train_run,
            loaded.config.base_model,
            loaded.dir,
            gguf=gguf,
            gguf_dtype=gguf_dtype,
            ollama=ollama,
            system_prompt=loaded.config.system_prompt or None,
            verify=verify,
        )
        if json_:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
            return
        unchecked = "not verified (--no-verify)"
        if "merged" in result:
            checked = (
                f"greedy outputs identical on {result['identical']}/{result['prompts']} prompts; max logit difference "
                f"{result['max_logit_diff']:.2e}"
                if result["verified"]
                else unchecked
            )
            console.print(f"merged model: {result['merged']}  ({checked}; merged by {result['merged_by']})")
        else:
            console.print(f"full fine-tune: {result['model']}  (merged already)")
        if "gguf" in result:
            g = result["gguf"]
            checked = (
                f"read back with transformers: max logit difference {g['max_logit_diff']:.2e}, the same next token "
                f"at {g['top1_agreement']:.1%} of positions"
                if result["verified"]
                else unchecked
            )
            console.print(
                f"GGUF: {g['path']} ({g['dtype']}, {g['size_mib']:.1f} MiB, {g['tensors']} tensors; {checked})"
            )
        if "modelfile" in result:
            console.print(f"Ollama: {result['modelfile']}  (ollama create NAME -f {result['modelfile']})")


def _train_settings(
    loaded: Any, recipe: str | None, from_trial: int | None, study: str | None, settings: Path | None
) -> Any:
    """The project's `train:` with --recipe, a tune trial's settings and a settings file laid over it, in order."""
    train_cfg = loaded.config.train
    if recipe:
        train_cfg = train_cfg.updated(where="--recipe", recipe=recipe)
    if from_trial is not None:
        from tunesmith.tune.study import trial_params

        tune_cfg = loaded.config.tune.updated(**({"study": study} if study else {}))
        params = trial_params(tune_cfg, loaded.dir, loaded.config.name, from_trial)
        console.print(f"settings of trial {from_trial}: {params}", highlight=False)
        # what the command line sets (--set train.X=..., --recipe) still wins
        named = {path[1] for path in loaded.doc.origins if len(path) == 2 and path[0] == "train"}
        given = {k: getattr(train_cfg, k) for k in named | ({"recipe"} if recipe else set())}
        train_cfg = train_cfg.updated(where=f"trial {from_trial}", **params).updated(**given)
    if settings is not None:
        train_cfg = train_cfg.updated(where=str(settings), **_read_settings(settings))
    return train_cfg


def _plan(loaded: Any, data_ref: str | None, fit_memory: str | None) -> dict[str, Any]:
    """Token lengths of the training split under the base model's template, and the estimate (or fit)."""
    from tunesmith.core.errors import ConfigError
    from tunesmith.data.formats.read import read_items
    from tunesmith.data.stats import TokenStats
    from tunesmith.models.local import tokenizer_for
    from tunesmith.registry.runs import resolve_run
    from tunesmith.train.estimate import estimate_run, parse_size
    from tunesmith.train.estimate import fit_memory as fit
    from tunesmith.train.lengths import fitting, require_rows

    cfg, ref = loaded.config, loaded.config.base_model
    data_run = resolve_run(loaded.dir, data_ref, "data")
    tokenizer = tokenizer_for(ref, loaded.dir)
    stats = TokenStats()
    for item in read_items(data_run.path("train.jsonl")):
        if item.example is not None:
            stats.add(tokenizer, item.example.messages, item.example.tools)
    # sized on what SFT keeps: a sequence it sets aside must not size the memory or count in the steps
    max_length = cfg.train.max_length
    lengths, trained, aside = stats.lengths, stats.trained, []
    if cfg.train.recipe.startswith("sft"):
        lengths, trained, aside = fitting(stats.lengths, stats.trained, max_length)
        require_rows(
            lengths,
            stats.examples,
            [{"tokens": n} if n > max_length else {} for n in aside],
            what="examples",
            max_length=max_length,
            where=str(data_run.path("train.jsonl")),
        )
    if aside:
        console.print(
            f"[yellow]{len(aside)} of {len(stats.lengths)} sequences will be set aside[/] "
            f"({sum(n > max_length for n in aside)} longer than train.max_length={max_length})"
        )
    if fit_memory:
        try:
            budget = parse_size(fit_memory)
        except ValueError as exc:
            raise ConfigError(str(exc), where="--fit-memory", fix="Write e.g. --fit-memory 8GiB.") from None
        plan = fit(budget, cfg.train, ref, loaded.dir, lengths, trained)
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
        return plan | {"set_aside": len(aside)}
    plan = estimate_run(cfg.train, ref, loaded.dir, lengths, trained)
    console.print(
        f"{cfg.train.recipe}: {plan['steps']} steps ({plan['epochs']:g} epochs) on "
        f"{f'{len(lengths)} sequences' if len(lengths) != stats.examples else f'{stats.examples} examples'}, "
        f"micro batch {plan['micro_batch_size']}"
    )
    console.print(
        f"estimated duration {plan['minutes']:.1f} min at ~{plan['tokens_per_s']:.0f} tokens/s; peak memory "
        f"~{plan['peak_gib']:.2f} GiB ({', '.join(f'{k} {v / 2**30:.2f}' for k, v in plan['breakdown'].items())})"
    )
    memory = plan["device_memory_gib"]
    if memory:
        verdict = (
            "fits" if plan["fits"] else "[red]does not fit[/] (try --fit-memory, sft-qlora, or a lower max_length)"
        )
        console.print(f"{plan['device']} memory {memory:.0f} GiB: the run {verdict}")
    kernels = plan["kernels"]
    console.print(
        "kernels: "
        + "; ".join(f"{key} {kernels[key]} ({kernels['reasons'][key]})" for key in kernels if key != "reasons")
    )
    console.print(f"[dim]{plan['assumptions']}[/]")
    return plan | {"set_aside": len(aside)}


def _read_settings(path: Path) -> dict[str, Any]:
    from tunesmith.core.errors import ConfigError
    from tunesmith.core.yamlfile import load_yaml

    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigError("a settings file holds a mapping of train settings", where=str(path), fix="e.g. lora_r: 32")
    return dict(doc.data)
