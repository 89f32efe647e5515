"""Kernel choices per device, and padding-free batches that train exactly what padded batches train."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunesmith.core.errors import ConfigError
from tunesmith.train import kernels
from tunesmith.train.config import TrainConfig
from tunesmith.train.trainer import trained_loss_sum


def test_padding_free_batches_give_the_padded_loss(tiny_model: Path) -> None:
    import transformers
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    model = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
    model.set_attn_implementation("sdpa")
    torch.manual_seed(0)
    rows = []
    for length, prompt in ((37, 20), (12, 5), (60, 41), (25, 9)):
        ids = torch.randint(10, 4000, (length,)).tolist()
        rows.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    decoder, head = model.get_decoder(), model.get_output_embeddings()

    def loss(padding_free: bool) -> tuple[float, int]:
        batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=padding_free)(rows)
        assert ("attention_mask" in batch) != padding_free
        with torch.inference_mode():
            total, count = trained_loss_sum(decoder, head, batch)
        return float(total) / count, count

    padded, padded_count = loss(False)
    flat, flat_count = loss(True)
    assert flat_count == padded_count == sum(len(r["input_ids"]) - r["labels"].count(-100) for r in rows)
    assert flat == pytest.approx(padded, rel=1e-5)
    # without positions restarting at each example, the examples would attend to each other: a different loss
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(rows)
    batch["position_ids"] = torch.arange(batch["input_ids"].shape[1])[None, :]
    with torch.inference_mode():
        total, count = trained_loss_sum(decoder, head, batch)
    assert float(total) / count != pytest.approx(padded, rel=1e-5)


def test_cpu_plan_is_sdpa_padded_without_liger_or_checkpointing() -> None:
    plan = kernels.plan(TrainConfig(), device="cpu", half_precision=False)
    assert (plan.attention, plan.padding_free, plan.liger, plan.checkpointing) == ("sdpa", False, False, False)
    assert set(plan.reasons) == {"attention", "padding_free", "liger", "activation_checkpointing", "compile"}
    assert not plan.compile and "paid back after" in plan.reasons["compile"]
    asked = kernels.plan(TrainConfig(compile=True), device="cpu", half_precision=False)
    assert asked.compile and asked.reasons["compile"].startswith("set in the project")


def test_gpu_plan_follows_installed_kernels_and_the_memory_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "installed", lambda module: True)
    gib = 2**30
    fits = kernels.plan(
        TrainConfig(), device="cuda", half_precision=True, peak_bytes=lambda on: 30 * gib, device_bytes=80 * gib
    )
    assert (fits.attention, fits.padding_free, fits.liger, fits.checkpointing) == (
        "flash_attention_2",
        True,
        True,
        False,
    )
    assert "fits" in fits.reasons["activation_checkpointing"]
    tight = kernels.plan(
        TrainConfig(),
        device="cuda",
        half_precision=True,
        peak_bytes=lambda on: (40 if on else 90) * gib,
        device_bytes=80 * gib,
    )
    assert tight.checkpointing and "90.0 GiB without it" in tight.reasons["activation_checkpointing"]
    monkeypatch.setattr(kernels, "installed", lambda module: False)
    plain = kernels.plan(TrainConfig(), device="cuda", half_precision=True)
    assert (plain.attention, plain.padding_free, plain.liger) == ("sdpa", False, False)
    assert "pip install liger-kernel" in plain.reasons["liger"]
    with pytest.raises(ConfigError, match="flash-attn"):
        kernels.plan(TrainConfig(attention="flash_attention_2"), device="cuda", half_precision=True)
