"""Loading the model to train, per recipe: full precision, or 4-bit NF4 for QLoRA, and its adapter config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.deps import require
from tunesmith.core.errors import ModelSourceError
from tunesmith.models.device import pick_device, pick_dtype
from tunesmith.models.local import load_causal_lm, tokenizer_for
from tunesmith.models.quiet import quiet_libraries
from tunesmith.models.resolve import local_path
from tunesmith.models.spec import LocalModelRef


def quantization_unavailable(device: str) -> str | None:
    """Why 4-bit loading cannot work here, or None when it can."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return "bitsandbytes is not installed (pip install 'bitsandbytes>=0.50')"
    except Exception as exc:  # bitsandbytes raises RuntimeError/OSError when its native library cannot load
        return f"bitsandbytes cannot load its kernels here ({exc})"
    if device == "mps":
        return "bitsandbytes has no 4-bit kernels for Apple MPS"
    return None


def load_for_training(ref: LocalModelRef, base_dir: Path, recipe: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, resolved path): fp32 on CPU, bf16 on capable GPUs, NF4 4-bit for sft-qlora.

    Full fine-tuning on a GPU keeps fp32 master weights and computes in bf16 (the Trainer's autocast):
    in pure bf16 an update smaller than 1/256 of its weight rounds away, which small learning rates
    make the common case. Adapters train in fp32 over a bf16 base (PEFT keeps adapter weights fp32)."""
    if recipe != "sft-qlora":
        if recipe == "sft-full" and ref.dtype == "auto" and pick_device(ref.device).startswith("cuda"):
            ref = ref.model_copy(update={"dtype": "float32"})
        model, tokenizer, path = load_causal_lm(ref, base_dir)
        model.train()
        return model, tokenizer, path
    transformers = require("transformers")
    quiet_libraries()
    device = pick_device(ref.device)
    reason = quantization_unavailable(device)
    if reason:
        raise ModelSourceError(
            f"QLoRA needs 4-bit quantization, which is not available: {reason}",
            fix="Use --recipe sft-lora (no quantization, ~4x the weight memory), or run on a CUDA GPU or a CPU "
            "with bitsandbytes >= 0.50.",
        )
    path = local_path(ref, base_dir)
    # compute in fp32 on CPU (fast there), bf16 on GPUs; weights stored as NF4 with nested quantization
    compute = pick_dtype(device, ref.dtype)
    config = transformers.BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path,
        quantization_config=config,
        dtype=compute,
        device_map={"": device},
        revision=ref.revision,
        trust_remote_code=ref.trust_remote_code,
        use_safetensors=True,
    )
    peft = require("peft")
    model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return model, tokenizer_for(ref, base_dir), path


def lora_config(
    recipe: str, *, r: int, alpha: int, dropout: float, target_modules: Any, task_type: str = "CAUSAL_LM"
) -> Any | None:
    """The adapter for a recipe: LoRA, DoRA (weight-decomposed LoRA, Liu et al. 2024), or none (full)."""
    if recipe == "sft-full":
        return None
    peft = require("peft")
    return peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        task_type=task_type,
        bias="none",
        use_dora=recipe == "sft-dora",
    )
