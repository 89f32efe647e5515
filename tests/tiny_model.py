"""A tiny random-initialized model with the bundled model's real tokenizer and chat template.

The mechanics of training, resuming, distributed launch, export, serving and
the job worker do not need a model that knows anything: they need a model of
the same family, tokenizer and template that runs in milliseconds. This is
the bundled SmolLM2's configuration shrunk to two layers of width 64 (about
3.2M parameters, almost all in the embedding its 49k-token vocabulary needs),
built locally from its config, as transformers tests itself. The end-to-end
tier keeps the real model, where behaviour (stopping, the house voice) is
what is tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}


def build_tiny_model(folder: Path, real_model_dir: str, *, seed: int = 0) -> Path:
    """Save a tiny Llama (SmolLM2's family) with ``real_model_dir``'s tokenizer into ``folder``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    if (folder / "model.safetensors").is_file():
        return folder
    config = AutoConfig.from_pretrained(real_model_dir)
    for key, value in TINY.items():
        setattr(config, key, value)
    config.head_dim = TINY["hidden_size"] // TINY["num_attention_heads"]
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(real_model_dir).save_pretrained(str(folder))
    return folder


def tiny_generator_with_adapter(folder: Path, *, batch_size: int) -> Any:
    """A LocalGenerator over the tiny model with a random (non-zero) all-linear LoRA named "tuned"."""
    import peft
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.models.local import LocalGenerator

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    adapted = peft.get_peft_model(model, config, adapter_name="tuned")
    adapted.eval()
    return LocalGenerator(adapted, tokenizer, name="tiny", batch_size=batch_size)
