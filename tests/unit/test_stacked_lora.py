"""Stacked LoRA matrices (`models/stacked_lora.py`): rows of several adapters and of the base model in one
pass compute what PEFT's own mixed batch computes, base rows exactly the base model's, and the adapters PEFT
handles its own way are left to it (tiny random model, random adapters of different shapes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunesmith.models.stacked_lora import AdapterStacks

ROWS = [None, "ft1", "ft2", "ft1", None, "ft2"]
# float rounding: products of another shape may add in another order (logits here are of order 1; a row
# through the wrong adapter is off by more than 1e-3)
CLOSE = {"atol": 1e-4, "rtol": 1e-4}


@pytest.fixture()
def model(tiny_model: Path) -> Any:
    import peft
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    torch.manual_seed(0)
    # different ranks, scalings and layers: "ft1" on attention only, "ft2" on every linear layer, with rsLoRA and a
    # rank of its own on one kind of layer, so layers hold different sets of adapters stacked
    a = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    b = peft.LoraConfig(
        r=8,
        lora_alpha=32,
        target_modules="all-linear",
        use_rslora=True,
        rank_pattern={"down_proj": 2},
        init_lora_weights=False,
    )
    adapted = peft.get_peft_model(base, a, adapter_name="ft1")
    adapted.add_adapter("ft2", b)
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    adapted.eval()
    return adapted


def _ids() -> Any:
    import torch

    torch.manual_seed(1)
    return torch.randint(0, 49000, (len(ROWS), 7))


def _peft_mixed(model: Any, ids: Any) -> Any:
    import torch

    names = [r if r is not None else "__base__" for r in ROWS]
    with torch.inference_mode():
        return model(input_ids=ids, adapter_names=names).logits


def test_rows_of_two_adapters_and_the_base_compute_what_peft_computes(model: Any) -> None:
    import torch

    ids = _ids()
    expected = _peft_mixed(model, ids)
    stacks = AdapterStacks(model)
    assert stacks.supports({"ft1", "ft2"})
    with torch.inference_mode(), stacks.rows(ROWS):
        got = model(input_ids=ids).logits
    assert torch.allclose(got, expected, **CLOSE), float((got - expected).abs().max())
    # base rows are the base model's, bit for bit (an adapter adds exact zeros there)
    with torch.inference_mode(), model.disable_adapter():
        base = model(input_ids=ids).logits
    for row, adapter in enumerate(ROWS):
        if adapter is None:
            assert torch.equal(got[row], base[row])
        else:  # and the adapters do change their rows, so the comparison above can tell rows apart
            assert (got[row] - base[row]).abs().max() > 1e-3
    # the layers are PEFT's own again after the block, computing the active adapter for every row
    with torch.inference_mode():
        model.set_adapter("ft2")
        assert torch.allclose(model(input_ids=ids).logits[2], expected[2], **CLOSE)


def test_one_adapter_or_none_through_the_stacks_whatever_the_layers_state(model: Any) -> None:
    import torch

    ids = _ids()
    stacks = AdapterStacks(model)
    with torch.inference_mode():
        model.set_adapter("ft1")
        alone = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        # PEFT's layers left off (as the server's routing leaves them): the stacks still compute the adapter
        model.base_model.disable_adapter_layers()
        with stacks.rows(["ft1"] * len(ROWS)):
            tuned = model(input_ids=ids).logits
        model.base_model.enable_adapter_layers()
        with stacks.rows([None] * len(ROWS)):
            plain = model(input_ids=ids).logits
    assert torch.allclose(tuned, alone, **CLOSE)
    assert torch.equal(plain, base)


def test_a_stack_follows_the_adapters_after_a_reset(model: Any) -> None:
    import torch

    ids = _ids()
    stacks = AdapterStacks(model)
    with torch.inference_mode(), stacks.rows(ROWS):
        before = model(input_ids=ids).logits
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B.ft2" in name:
                parameter.mul_(2)
    stacks.reset()
    with torch.inference_mode(), stacks.rows(ROWS):
        after = model(input_ids=ids).logits
    expected = _peft_mixed(model, ids)
    assert torch.allclose(after, expected, **CLOSE), float((after - expected).abs().max())
    assert (after[2] - before[2]).abs().max() > 1e-3 and torch.equal(after[1], before[1])


def test_adapters_peft_handles_its_own_way_are_left_to_it(model: Any) -> None:
    import peft

    model.add_adapter("ftd", peft.LoraConfig(r=4, target_modules=["q_proj"], use_dora=True))
    stacks = AdapterStacks(model)
    assert stacks.supports({"ft1", "ft2"}) and not stacks.supports({"ft1", "ftd"}) and not stacks.supports({"missing"})
    model.set_adapter("ft1")
    model.merge_adapter()
    assert not stacks.supports({"ft2"})  # merged weights would count the adapter twice
    model.unmerge_adapter()
    assert stacks.supports({"ft2"})
    model.train()
    assert not stacks.supports({"ft2"})
    model.eval()


def test_the_layers_are_restored_when_the_pass_fails(model: Any) -> None:
    import torch

    classes = {name: type(m) for name, m in model.named_modules()}
    stacks = AdapterStacks(model)
    with pytest.raises(RuntimeError), torch.inference_mode(), stacks.rows(ROWS):
        model(input_ids=torch.zeros((2, 3), dtype=torch.long))  # 2 rows where the stacks expect 6
    assert {name: type(m) for name, m in model.named_modules()} == classes
