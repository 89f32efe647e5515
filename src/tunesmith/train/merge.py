"""Merging a LoRA adapter into its base checkpoint one tensor at a time.

PEFT's `merge_and_unload` needs the base model loaded whole (and `export` loads it in fp32 so the merged update
is exact): 32 GB for an 8B model, 280 GB for a 70B one, before anything is written. A LoRA update is
`W + scale * B @ A` per adapted weight, so the merge can read the base's safetensors tensor by tensor, add the
update to the weights it adapts and write files of its own size (at most `MAX_FILE_BYTES`, 1 GiB) as they fill:
memory holds one such file, whatever the model's size or its shards'. The result is the tensors
`merge_and_unload` gives on an fp32 base (tested), saved in fp32 as `export` saves them.

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
MAX_FILE_BYTES = 2**30
"""Largest merged file (fp32): what an export holds in memory besides one tensor, whatever the base's shards."""


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


def merge_shards(
    base: Path,
    adapter: Path,
    target: Path,
    *,
    tokenizer_from: Path | None = None,
    max_file_bytes: int | None = None,
) -> dict[str, Any]:
    """Write ``base`` with ``adapter`` merged into ``target`` (config, generation config, fp32 safetensors files
    of at most ``max_file_bytes`` each (default `MAX_FILE_BYTES`), or one tensor where a tensor is larger, with
    their index, and the tokenizer of ``tokenizer_from``), whole or not at all. Raises when an adapted weight is
    not in the base.

    The base is read one tensor at a time and the output written in files of its own size, not the base's: a
    bf16 shard of 5 GB is 10 GB in fp32, and saving it whole took twice that again."""
    from safetensors import safe_open
    from safetensors.torch import load_file

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
    merged: set[str] = set()
    with atomic_dir(target) as tmp:
        out = _Files(Path(tmp), max_file_bytes or MAX_FILE_BYTES)
        for shard in shards:
            with safe_open(str(shard), framework="pt") as f:
                for name in f.keys():
                    weight = f.get_tensor(name).float()
                    if name in updates:
                        down, up = updates[name]
                        # not in place: an fp32 checkpoint's tensor is its mmapped file, and writing to it copied each
                        # page into memory held until the whole shard was closed (the bundled model: 438 MB)
                        weight = weight + scale * (up.float() @ down.float())
                        merged.add(name)
                    out.add(name, weight)
        missing = sorted(set(updates) - merged)
        if missing:
            raise StageError(
                f"the adapter adapts {len(missing)} weight(s) the base model does not have, e.g. {missing[0]}",
                where=str(adapter),
                fix="Export with the base model the run trained on (models.base in the project file).",
            )
        files = out.close()
        model_config = json.loads((base / "config.json").read_text(encoding="utf-8"))
        model_config.pop("torch_dtype", None)
        model_config["dtype"] = "float32"  # saved as export saves a merge: exact
        (Path(tmp) / "config.json").write_text(json.dumps(model_config, indent=2), encoding="utf-8")
        if (base / "generation_config.json").is_file():
            shutil.copy2(base / "generation_config.json", Path(tmp) / "generation_config.json")
        if tokenizer_from is not None:
            from tunesmith.models.local import load_tokenizer

            load_tokenizer(str(tokenizer_from)).save_pretrained(tmp)
    return {"shards": len(shards), "files": files, "merged_weights": len(merged), "scale": scale}


class _Files:
    """Tensors written into safetensors files of at most ``limit`` bytes each, named and indexed as
    transformers names a sharded checkpoint (one file: `model.safetensors`, no index)."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder, self.limit = folder, limit
        self.pending: dict[str, Any] = {}
        self.pending_bytes = 0
        self.written: list[tuple[Path, list[str]]] = []
        self.total = 0

    def add(self, name: str, tensor: Any) -> None:
        size = tensor.numel() * tensor.element_size()
        if self.pending and self.pending_bytes + size > self.limit:
            self._flush()
        self.pending[name] = tensor
        self.pending_bytes += size
        self.total += size

    def _flush(self) -> None:
        from safetensors.torch import save_file

        path = self.folder / f".part-{len(self.written):05d}.safetensors"
        save_file(self.pending, str(path), metadata={"format": "pt"})
        self.written.append((path, list(self.pending)))
        self.pending, self.pending_bytes = {}, 0  # one file's tensors in memory at a time

    def close(self) -> int:
        if self.pending:
            self._flush()
        count = len(self.written)
        if count == 1:
            self.written[0][0].rename(self.folder / "model.safetensors")
            return 1
        weight_map = {}
        for i, (path, names) in enumerate(self.written, start=1):
            final = f"model-{i:05d}-of-{count:05d}.safetensors"
            path.rename(self.folder / final)
            weight_map.update(dict.fromkeys(names, final))
        index = {"metadata": {"total_size": self.total}, "weight_map": weight_map}
        (self.folder / INDEX).write_text(json.dumps(index, indent=2), encoding="utf-8")
        return count
