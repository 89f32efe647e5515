"""`tunesmith export`: merge an adapter into its base, save plain safetensors, prove the outputs match.

For QLoRA the adapter is merged into the base loaded in full precision, not the
4-bit weights it trained against: merging into quantized weights would round
the merged update away. Verification reloads the merged folder with plain
transformers and compares its greedy outputs and logits with the adapter
applied on the base; with `--gguf`, the GGUF file is read back through
transformers and compared the same way. `--no-verify` skips those loads, so a
large model exports in about 1 GiB of memory besides its largest tensor.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_dir, atomic_write_json
from tunesmith.core.deps import require
from tunesmith.core.errors import StageError
from tunesmith.core.progress import note
from tunesmith.core.rundir import RunDir
from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator, load_causal_lm, load_tokenizer, stop_ids
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.layout import MODEL_DIR, adapter_of
from tunesmith.train.merge import merge_shards, streamable

PROBES = [
    [{"role": "user", "content": "Do you ship to Canada?"}],
    [{"role": "user", "content": "How do I return a jacket that does not fit?"}],
    [{"role": "user", "content": "What is the capital of France?"}],
]


def _logits(model: Any, tokenizer: Any) -> Any:
    torch = require("torch")
    text = tokenizer.apply_chat_template(PROBES[0], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.inference_mode():
        return model(**ids).logits.float()


def export_run(
    run: RunDir,
    base: LocalModelRef,
    project_dir: Path,
    *,
    gguf: bool = False,
    gguf_dtype: str = "f16",
    ollama: bool = False,
    system_prompt: str | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Merge, save and verify; ``gguf`` also writes a GGUF file, ``ollama`` a Modelfile beside it. A full
    fine-tune's model/ folder is merged already: it is only written as GGUF (and Modelfile).

    One model is in memory at a time while verifying (the adapter's reference, then the merged folder, then the
    GGUF read back: each let go before the next loads). ``verify=False`` loads none (but for an adapter PEFT must
    merge): a LoRA adapter merged tensor by tensor into files of 1 GiB and a GGUF written tensor by tensor need
    about that much memory besides the largest tensor, whatever the model's size.
    """
    adapter = adapter_of(run)
    full = run.path(MODEL_DIR) if adapter is None and run.path(MODEL_DIR, "config.json").is_file() else None
    if adapter is None and full is None:
        raise StageError(
            "this run has no adapter or model to export",
            where=str(run.root),
            fix="Export a finished training run (`tunesmith registry list` or the runs/ folder lists them).",
        )
    weights = adapter or full
    assert weights is not None
    recipe = (
        json.loads((weights / "tunesmith.json").read_text()).get("recipe")
        if (weights / "tunesmith.json").exists()
        else None
    )
    if recipe == "reward":
        raise StageError(
            "a reward model is a scorer, not a chat model", where=str(run.root), fix="Export a generative training run."
        )
    if full is not None:
        if not (gguf or ollama):
            raise StageError(
                "a full fine-tune's model/ folder is already merged safetensors",
                where=str(full),
                fix="Load it with transformers as it is, or add --gguf (and --ollama) to write it for llama.cpp.",
            )
        tokenizer = require("transformers").AutoTokenizer.from_pretrained(str(full))
        logits = _folder_logits(full, tokenizer) if verify else None
        plain = Plain(full, tokenizer, logits, {"model": str(full), "recipe": recipe})
    else:
        assert adapter is not None
        plain = _merge(adapter, recipe, base, project_dir, run.path("export", "merged"), verify=verify)
    result = {**plain.report, "verified": verify}
    if gguf or ollama:
        from tunesmith.train.gguf_export import write_gguf

        path = run.path("export", f"model-{gguf_dtype}.gguf")
        path.parent.mkdir(exist_ok=True)  # a full fine-tune has no merged folder in it
        info = write_gguf(plain.folder, path, dtype=gguf_dtype)
        if plain.logits is not None:
            info.update(_read_back(path, plain, with_config=bool(info.get("read_back_with_config"))))
        result["gguf"] = info
        if ollama:
            from tunesmith.train.ollama import write_modelfile

            stops = plain.tokenizer.convert_ids_to_tokens(stop_ids(_generation_config(plain.folder), plain.tokenizer))
            result["modelfile"] = str(write_modelfile(path, plain.tokenizer, stops, system_prompt))
    atomic_write_json(run.path("export", "export.json"), result)
    return result


@dataclass
class Plain:
    """A model folder plain transformers loads (a merged adapter, a full fine-tune), its tokenizer, the logits its
    GGUF file must reproduce (None unverified) and the export report so far."""

    folder: Path
    tokenizer: Any
    logits: Any
    report: dict[str, Any]


def _fp32(folder: Path, **kwargs: Any) -> Any:
    """``folder``'s model in fp32, loaded by plain transformers as a user would (a bf16 checkpoint too: the
    GGUF read back is compared in fp32)."""
    transformers = require("transformers")
    return transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=require("torch").float32, **kwargs)


def _folder_logits(folder: Path, tokenizer: Any) -> Any:
    model = _fp32(folder, use_safetensors=True).eval()
    logits = _logits(model, tokenizer)
    del model
    gc.collect()
    return logits


def _generation_config(folder: Path) -> Any:
    """The generation settings transformers would load with the model in ``folder``, without its weights."""
    transformers = require("transformers")
    if (folder / "generation_config.json").is_file():
        return transformers.GenerationConfig.from_pretrained(str(folder))
    return transformers.GenerationConfig.from_model_config(transformers.AutoConfig.from_pretrained(str(folder)))


def _read_back(path: Path, plain: Plain, *, with_config: bool) -> dict[str, Any]:
    """Load the GGUF file through transformers and compare its logits and tokenizer with the folder's."""
    transformers = require("transformers")
    # transformers reads no RoPE scaling or partial rotation from a GGUF (llama.cpp does: Llama 3.1's from its
    # rope_freqs tensor, checked against transformers' frequencies in the tests): the read-back then runs the
    # model's own settings
    scaled = {"config": transformers.AutoConfig.from_pretrained(str(plain.folder))} if with_config else {}
    back = _fp32(path.parent, gguf_file=path.name, **scaled)
    back.hf_quantizer = None
    got = _logits(back.eval(), plain.tokenizer)
    del back
    gc.collect()
    back_tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    return {
        "max_logit_diff": float((got - plain.logits).abs().max()),
        # what a quantized file (bf16, q8_0) changes that matters: the most likely next token, position by position
        "top1_agreement": float((got.argmax(-1) == plain.logits.argmax(-1)).float().mean()),
        "tokenizer_round_trip": back_tok.encode("Hello Northwind!") == plain.tokenizer.encode("Hello Northwind!"),
    }


def _merge(
    adapter: Path, recipe: str | None, base: LocalModelRef, project_dir: Path, target: Path, *, verify: bool
) -> Plain:
    """Merge ``adapter`` into a full-precision base at ``target``; verified, reload it with plain transformers and
    compare its greedy answers and logits with the adapter's."""
    folder = _base_folder(base, project_dir)
    why_not = streamable(adapter) if folder is not None else "the base checkpoint is not a local folder"
    expected = expected_logits = None
    report: dict[str, Any] = {
        "merged": str(target),
        "recipe": recipe,
        "no_modules_to_save": not json.loads((adapter / "adapter_config.json").read_text()).get("modules_to_save"),
        "merged_by": "shards" if why_not is None else "peft",
    }
    if verify or why_not is not None:
        peft = require("peft")
        # full precision base (the QLoRA run trained against NF4; merging into fp32 keeps the update exact)
        model, tokenizer, _ = load_causal_lm(base.model_copy(update={"dtype": "float32"}), project_dir)
        adapted = peft.PeftModel.from_pretrained(model, str(adapter))
        adapted.eval()
        if verify:
            reference = LocalGenerator(adapted, tokenizer, name="adapter")
            expected = reference.generate(
                PROBES, GenerationParams(max_new_tokens=48), adapter=next(iter(reference.adapters))
            )
            expected_logits = _logits(adapted, tokenizer)
            del reference
        if why_not is not None:
            note(f"merging with PEFT, the whole model in memory ({why_not})")
            merged = adapted.merge_and_unload()
            with atomic_dir(target) as tmp:
                merged.save_pretrained(tmp, safe_serialization=True)
                load_tokenizer(str(adapter)).save_pretrained(tmp)
            del merged
        # the reference model goes before the merged one loads: one model in memory at a time
        del adapted, model
        gc.collect()
    if why_not is None:
        # one tensor at a time, into files of 1 GiB (train/merge.py)
        assert folder is not None
        merge_shards(folder, adapter, target, tokenizer_from=adapter)
    note(f"merged model written to {target}")
    reloaded_tok = require("transformers").AutoTokenizer.from_pretrained(str(target))
    if not verify:
        return Plain(target, reloaded_tok, None, report)
    # reload with nothing but transformers, as a user would
    reloaded = _fp32(target, use_safetensors=True).eval()
    got = LocalGenerator(reloaded, reloaded_tok, name="merged").generate(PROBES, GenerationParams(max_new_tokens=48))
    assert expected is not None and expected_logits is not None
    report["prompts"] = len(PROBES)
    report["identical"] = sum(a.text == b.text for a, b in zip(expected, got, strict=True))
    report["max_logit_diff"] = float((_logits(reloaded, reloaded_tok) - expected_logits).abs().max())
    del reloaded
    gc.collect()
    return Plain(target, reloaded_tok, expected_logits, report)


def _base_folder(base: LocalModelRef, project_dir: Path) -> Path | None:
    """The base model's checkpoint folder (a hub id: its snapshot in the local cache), or None."""
    from tunesmith.models.resolve import local_path

    where = local_path(base, project_dir)
    if Path(where).is_dir():
        return Path(where)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(where, local_files_only=True))
    except Exception:  # not in the cache as a snapshot: PEFT's merge on the loaded model
        return None
