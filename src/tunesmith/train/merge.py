"""Merging a LoRA adapter into its base checkpoint one shard at a time.

PEFT's `merge_and_unload` needs the base model loaded whole (and `export` loads it in fp32 so the merged update
is exact): 32 GB for an 8B model, 280 GB for a 70B one, before anything is written. A LoRA update is
`W + scale * B @ A` per adapted weight, so the merge can read the base's safetensors shards one at a time, add
the update to the weights it adapts and write the shard out: memory holds one shard. The result is the
tensors `merge_and_unload` gives on an fp32 base (tested), saved in fp32 as `export` saves them.

Adapters this does not cover exactly (DoRA's magnitude, per-module rank or alpha patterns, trained biases,
fan-in-fan-out layers, modules saved whole) return None from `streamable` and take PEFT's merge.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_dir
from tunesmith.core.errors import StageError

PREFIX = "base_model.model."
INDEX = "model.safetensors.index.json"


def streamable(adapter: Path) -> str | None:
    """None when ``adapter`` merges exactly shard by shard, else why not."""
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    reasons = {
        "not a LoRA adapter": config.get("peft_type") != "LORA",
        "DoRA": bool(config.get("use_dora")),
        "per-module ranks or alphas": bool(config.get("rank_pattern") or config.get("alpha_pattern")),
        "trained biases": config.get("bias", "none") != "none",
        "fan-in-fan-out layers": bool(config.get("fan_in_fan_out")),
        "modules saved whole": bool(config.get("modules_to_save")),
    }
    found = [reason for reason, applies in reasons.items() if applies]
    if found:
        return ", ".join(found)
    if not all(k.endswith((".lora_A.weight", ".lora_B.weight")) for k in _adapter_keys(adapter)):
        return "adapter weights other than lora_A and lora_B"
    return None


def _adapter_keys(adapter: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as f:
        return list(f.keys())


def _shards(base: Path) -> list[Path]:
    index = base / INDEX
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [base / name for name in files]
    return sorted(base.glob("*.safetensors"))


def merge_shards(base: Path, adapter: Path, target: Path, *, tokenizer_from: Path | None = None) -> dict[str, Any]:
    """Write ``base`` with ``adapter`` merged into ``target`` (config, generation config, fp32 shards and their
    index, and the tokenizer of ``tokenizer_from``), whole or not at all. Raises when an adapted weight is not in
    the base."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
    lora = load_file(str(adapter / "adapter_model.safetensors"))  # megabytes: the adapter is small
    updates = {
        key.removeprefix(PREFIX).removesuffix(".lora_A.weight") + ".weight": (
            value,
            lora[key.replace("lora_A", "lora_B")],
        )
        for key, value in lora.items()
        if key.endswith(".lora_A.weight")
    }
    shards = _shards(base)
    if not shards:
        raise StageError("the base model has no safetensors weights to merge into", where=str(base))
    merged, sizes = set(), {}
    with atomic_dir(target) as tmp:
        for shard in shards:
            tensors = {}
            with safe_open(str(shard), framework="pt") as f:
                for name in f.keys():
                    weight = f.get_tensor(name).float()
                    if name in updates:
                        down, up = updates[name]
                        weight += scale * (up.float() @ down.float())
                        merged.add(name)
                    tensors[name] = weight
            save_file(tensors, str(Path(tmp) / shard.name), metadata={"format": "pt"})
            sizes.update({name: tensor.numel() * 4 for name, tensor in tensors.items()})
            del tensors  # one shard in memory at a time
        missing = sorted(set(updates) - merged)
        if missing:
            raise StageError(
                f"the adapter adapts {len(missing)} weight(s) the base model does not have, e.g. {missing[0]}",
                where=str(adapter),
                fix="Export with the base model the run trained on (models.base in the project file).",
            )
        if (base / INDEX).is_file():
            weight_map = json.loads((base / INDEX).read_text(encoding="utf-8"))["weight_map"]
            index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": weight_map}
            (Path(tmp) / INDEX).write_text(json.dumps(index, indent=2), encoding="utf-8")
        model_config = json.loads((base / "config.json").read_text(encoding="utf-8"))
        model_config.pop("torch_dtype", None)
        model_config["dtype"] = "float32"  # saved as export saves a merge: exact
        (Path(tmp) / "config.json").write_text(json.dumps(model_config, indent=2), encoding="utf-8")
        if (base / "generation_config.json").is_file():
            shutil.copy2(base / "generation_config.json", Path(tmp) / "generation_config.json")
        if tokenizer_from is not None:
            from tunesmith.models.local import load_tokenizer

            load_tokenizer(str(tokenizer_from)).save_pretrained(tmp)
    return {"shards": len(shards), "merged_weights": len(merged), "scale": scale}
