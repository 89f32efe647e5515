"""The shard-by-shard LoRA merge (train/merge.py) gives the weights PEFT's merge_and_unload gives, for a plain
family, one with attention biases and one with fused projections, rsLoRA's scale and a sharded base; what it does
not cover exactly is left to PEFT, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.families import FAMILIES, lora_adapter
from tunesmith.core.errors import StageError
from tunesmith.train.merge import merge_shards, streamable


@pytest.mark.parametrize("name", ["llama3", "qwen2.5", "phi4"])
def test_the_merge_by_shards_gives_peft_merged_weights(name: str, family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import transformers

    family = next(f for f in FAMILIES if f.name == name)
    base = family_dir(family)
    adapter, expected = lora_adapter(base, tmp_path / "adapter", use_rslora=name == "qwen2.5")
    assert streamable(adapter) is None
    report = merge_shards(base, adapter, tmp_path / "merged", tokenizer_from=base)
    assert report["merged_weights"] == (4 if name == "phi4" else 7) * 2  # linears per layer x 2 layers
    merged = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype=torch.float32)
    got = merged.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.allclose(got[key], value, atol=1e-6), key
    assert json.loads((tmp_path / "merged" / "config.json").read_text())["dtype"] == "float32"
    assert (tmp_path / "merged" / "tokenizer.json").is_file()


def test_a_sharded_base_is_merged_shard_by_shard(family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import transformers

    base = tmp_path / "sharded"
    model = transformers.AutoModelForCausalLM.from_pretrained(str(family_dir(FAMILIES[0])), dtype=torch.float32)
    model.save_pretrained(str(base), max_shard_size="2MB")  # the embeddings alone are larger: several shards
    assert (base / "model.safetensors.index.json").is_file()
    adapter, expected = lora_adapter(base, tmp_path / "adapter")
    report = merge_shards(base, adapter, tmp_path / "merged")
    assert report["shards"] > 1 and report["files"] == 1  # a small model's fp32 merge fits one file
    for limit in (2**16, 2**20):  # files of its own size, not the base's shards': memory holds one file
        merged = tmp_path / f"merged-{limit}"
        report = merge_shards(base, adapter, merged, max_file_bytes=limit)
        index = json.loads((merged / "model.safetensors.index.json").read_text())
        assert set(index["weight_map"]) == set(
            json.loads((base / "model.safetensors.index.json").read_text())["weight_map"]
        )
        files = sorted(merged.glob("*.safetensors"))
        assert len(files) == report["files"] >= 2
        assert sorted(set(index["weight_map"].values())) == [f.name for f in files]
        assert not list(merged.glob(".part-*"))
        # within the limit (and its header), or one tensor larger than the limit alone (the embeddings)
        assert all(f.stat().st_size <= limit + 2**14 or len(_names(f)) == 1 for f in files)
        got = transformers.AutoModelForCausalLM.from_pretrained(str(merged), dtype=torch.float32)
        for key, value in expected.items():
            assert torch.allclose(got.state_dict()[key], value, atol=1e-6), key


def _names(file: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        return list(f.keys())


def test_what_it_does_not_cover_is_left_to_peft_or_refused(family_dir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = family_dir(FAMILIES[0])
    dora, _ = lora_adapter(base, tmp_path / "dora", use_dora=True)
    assert streamable(dora) == "DoRA"
    # an adapter of another model: a weight the base does not have, and nothing written
    adapter, _ = lora_adapter(base, tmp_path / "adapter")
    other = family_dir(next(f for f in FAMILIES if f.name == "phi4"))
    with pytest.raises(StageError, match="does not have") as caught:
        merge_shards(other, adapter, tmp_path / "merged")
    assert "models.base" in (caught.value.fix or "") and not (tmp_path / "merged").exists()
