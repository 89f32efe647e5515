"""Benchmark: the server answering several fine-tunes of one base at once, in one batch or taking turns.

The server's scheduler (`serve/scheduler.py`) decodes requests for the base model and for any number of LoRA
adapters on it. Two ways, the same bundled model, greedy, in one process:

- turns (`mix_adapters=False`, the earlier way): a running batch per adapter, each stepped in turn, so every
  decoding step reads every base weight once per adapter in use;
- mixed (the default): one batch, the base weights once for every row and each adapter's low-rank matrices
  on its own rows, stacked (`models/stacked_lora.py`);
- mixed_peft: the same batch through PEFT's ``adapter_names`` (the earlier way, `TUNESMITH_STACKED_LORA=0`).

Two workloads:

- side by side: the workbench's chat compares the base model and a fine-tune on the same message; each pair
  is sent at once and waited for, one pair after another (the seconds per pair are what a user waits);
- crowd: ``--crowd`` golden tickets each asked of the base model and of two fine-tunes, all at once
  (the server's default `max_batch` of 16 rows in all).

The adapters are LoRA adapters of the project's default shape (rank 16, alpha 32, every linear layer)
with random weights of a fine-tune's size, saved and loaded as the server loads a registered one: the
speed of a step does not depend on what the weights learned.

Prints one JSON object: seconds and completion tokens/s of each way per workload, the speedups (``speedup``:
turns against mixed; ``stacked_speedup``: PEFT's mixed batch against the stacked one), whether every answer
is identical all three ways, and how many steps ran mixed and through the stacks.

    python bench/multi_adapter.py [--pairs 6] [--crowd 16] [--max-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from generate import chats as template_chats

REPO = Path(__file__).resolve().parents[1]


def make_adapters(folder: Path, names: list[str]) -> dict[str, Path]:
    """Random LoRA adapters of the default shape, saved as a training run saves them."""
    import torch
    from peft import LoraConfig, get_peft_model

    from tunesmith.models.local import load_causal_lm
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    paths = {}
    for seed, name in enumerate(names):
        model, _, _ = load_causal_lm(LocalModelRef(id=DEFAULT_MODEL), REPO)
        torch.manual_seed(seed)
        config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
        peft = get_peft_model(model, config)
        with torch.no_grad():  # a fine-tune's update is small against the base weights
            for key, parameter in peft.named_parameters():
                if "lora_B" in key:
                    parameter.mul_(0.05)
        paths[name] = folder / name
        peft.save_pretrained(paths[name])
    return paths


def run(generator, paths, requests, *, mix: bool, together: bool):  # type: ignore[no-untyped-def]
    """Answers of ``requests`` ([(adapter or None, prompt ids)], in groups sent at once) and the seconds
    they took; ``together``: every group at once, else one group after another."""
    from tunesmith.models.generation import GenerationParams
    from tunesmith.serve.adapters import AdapterCache
    from tunesmith.serve.scheduler import Scheduler

    params = GenerationParams(max_new_tokens=ARGS.max_tokens)
    scheduler = Scheduler(AdapterCache(generator, budget_bytes=2**30), prompt_cache=None, mix_adapters=mix)
    try:
        # load both adapters first, so neither way pays a load inside the timing
        for name, path in paths.items():
            scheduler.submit(requests[0][0][1], GenerationParams(max_new_tokens=1), name, path).future.result(300)
        started = time.perf_counter()
        answers, waits = [], []
        groups = [[r for group in requests for r in group]] if together else requests
        for group in groups:
            sent = time.perf_counter()
            tickets = [
                scheduler.submit(ids, params, adapter, paths.get(adapter) if adapter else None)
                for adapter, ids in group
            ]
            answers += [t.future.result(1800) for t in tickets]
            waits.append(time.perf_counter() - sent)
        seconds = time.perf_counter() - started
        return answers, seconds, waits, scheduler.stats()
    finally:
        scheduler.shutdown()


def compare(generator, paths, requests, *, together: bool) -> dict:  # type: ignore[no-untyped-def]
    from tunesmith.models import stacked_lora

    out = {}
    texts = {}
    for way, mix, stacked in (("turns", False, True), ("mixed_peft", True, False), ("mixed", True, True)):
        stacked_lora.ENABLED = stacked
        try:
            answers, seconds, waits, stats = run(generator, paths, requests, mix=mix, together=together)
        finally:
            stacked_lora.ENABLED = True
        tokens = sum(a.completion_tokens for a in answers)
        texts[way] = [a.text for a in answers]
        out[way] = {
            "seconds": round(seconds, 2),
            "completion_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1),
            "mixed_steps": stats["mixed_steps"],
            "stacked_steps": stats["stacked_steps"],
            "peak_rows": stats["peak_rows"],
        }
        if not together:
            out[way]["seconds_per_pair"] = round(sum(waits) / len(waits), 2)
    out["speedup"] = round(out["turns"]["seconds"] / out["mixed"]["seconds"], 2)
    out["stacked_speedup"] = round(out["mixed_peft"]["seconds"] / out["mixed"]["seconds"], 2)
    out["identical"] = texts["turns"] == texts["mixed"] == texts["mixed_peft"]
    out["answers"] = len(texts["mixed"])
    return out


def main() -> None:
    from tunesmith.models.local import LocalGenerator
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    generator = LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL), REPO)
    tokenizer = generator.tokenizer

    def ids(chat):  # type: ignore[no-untyped-def]
        return list(tokenizer(generator.render(chat), add_special_tokens=False)["input_ids"])

    tickets = template_chats(max(ARGS.pairs, ARGS.crowd), "style-guide")
    with tempfile.TemporaryDirectory() as folder:
        paths = make_adapters(Path(folder), ["ft-a", "ft-b"])
        side = [[(None, ids(chat)), ("ft-a", ids(chat))] for chat in tickets[: ARGS.pairs]]
        crowd = [[(adapter, ids(chat)) for chat in tickets[: ARGS.crowd] for adapter in (None, "ft-a", "ft-b")]]
        result = {
            "max_tokens": ARGS.max_tokens,
            "side_by_side": compare(generator, paths, side, together=False),
            "crowd": compare(generator, paths, crowd, together=True),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--crowd", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=96)
    ARGS = parser.parse_args()
    main()
