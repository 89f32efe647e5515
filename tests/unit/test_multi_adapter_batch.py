"""The server's scheduler with several fine-tunes of one base: rows of different adapters (and of the base
model) share each forward pass, and every answer is the one its model gives alone (bundled model, LoRA
adapters with random weights, saved and loaded as registered ones are)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.models.generation import GenerationParams
from tunesmith.models.local import LocalGenerator
from tunesmith.models.resolve import DEFAULT_MODEL
from tunesmith.models.spec import LocalModelRef
from tunesmith.serve.adapters import AdapterCache
from tunesmith.serve.scheduler import Scheduler

CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Say hello to a customer named Ava who asked about a late package."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a color of the rainbow."}],
]
PARAMS = GenerationParams(max_new_tokens=12)


def _save_adapter(folder: Path, seed: int, *, dora: bool = False) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model

    from tunesmith.models.local import load_causal_lm

    model, _, _ = load_causal_lm(LocalModelRef(id=DEFAULT_MODEL), Path("."))
    torch.manual_seed(seed)
    config = LoraConfig(
        r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False, use_dora=dora
    )
    peft = get_peft_model(model, config)
    with torch.no_grad():  # large enough to change greedy answers, small enough to keep them words
        for name, parameter in peft.named_parameters():
            if "lora_B" in name:
                parameter.mul_(0.3)
    peft.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "ft-a": _save_adapter(root / "a", 1),
        "ft-b": _save_adapter(root / "b", 2),
        "ft-dora": _save_adapter(root / "d", 3, dora=True),
    }


@pytest.fixture(scope="module")
def generator(adapters: dict[str, Path]) -> LocalGenerator:
    generator = LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL), Path("."))
    for name, path in adapters.items():
        generator.add_adapter(name, path)
    return generator


@pytest.fixture(scope="module")
def alone(generator: LocalGenerator) -> dict[str | None, list[str]]:
    """Each model's answers on its own (offline decoding, one adapter per run)."""
    return {
        adapter: [g.text for g in generator.generate(CHATS, PARAMS, adapter=adapter)]
        for adapter in (None, "ft-a", "ft-b", "ft-dora")
    }


def _ids(generator: LocalGenerator, chat: list[dict[str, str]]) -> list[int]:
    return list(generator.tokenizer(generator.render(chat), add_special_tokens=False)["input_ids"])


def _ask(scheduler: Scheduler, generator: LocalGenerator, adapters, who: list[str | None]) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Every chat asked of every model in ``who`` at once; answers per model."""
    tickets = {
        adapter: [
            scheduler.submit(_ids(generator, chat), PARAMS, adapter, adapters[adapter] if adapter else None)
            for chat in CHATS
        ]
        for adapter in who
    }
    return [[t.future.result(300).text for t in tickets[adapter]] for adapter in who]


def test_the_adapters_change_the_answers(alone: dict[str | None, list[str]]) -> None:
    # otherwise the tests below could not tell one model's rows from another's
    assert len({tuple(answers) for answers in alone.values()}) == 4


@pytest.mark.parametrize("mix", [True, False], ids=["mixed", "turns"])
def test_rows_of_several_adapters_and_the_base_answer_as_each_model_alone(
    generator: LocalGenerator, adapters: dict[str, Path], alone: dict[str | None, list[str]], mix: bool
) -> None:
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30), mix_adapters=mix)
    try:
        who: list[str | None] = [None, "ft-a", "ft-b", "ft-dora"]
        answers = _ask(scheduler, generator, adapters, who)
        assert answers == [alone[adapter] for adapter in who]
        stats = scheduler.stats()
        if mix:
            # the base model's rows and both LoRA adapters' in one forward pass; DoRA (which PEFT cannot mix)
            # in a batch of its own
            assert stats["mixed_steps"] >= PARAMS.max_new_tokens - 1
        else:
            assert stats["mixed_steps"] == 0
        # the plain adapters' and the base model's passes through the stacked matrices (DoRA's through PEFT: a
        # stacked DoRA row would lose its magnitudes and answer unlike DoRA alone)
        assert stats["stacked_steps"] >= PARAMS.max_new_tokens - 1
    finally:
        scheduler.shutdown()


def test_the_base_model_routed_by_the_server_leaves_offline_generation_right(
    generator: LocalGenerator, adapters: dict[str, Path], alone: dict[str | None, list[str]]
) -> None:
    # a server step of the base model alone leaves the adapter layers off (switching costs more than the
    # step); offline generation and adapter loading afterwards must switch them back on
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30))
    try:
        assert _ask(scheduler, generator, adapters, [None]) == [alone[None]]
        assert [g.text for g in generator.generate(CHATS, PARAMS, adapter="ft-a")] == alone["ft-a"]
        assert _ask(scheduler, generator, adapters, [None]) == [alone[None]]
        assert _ask(scheduler, generator, adapters, ["ft-b"]) == [alone["ft-b"]]
    finally:
        scheduler.shutdown()
