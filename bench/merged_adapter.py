"""Benchmark: decoding through a LoRA adapter merged into the weights for the run, against unmerged.

Offline generation with one adapter (the fine-tuned systems of `tunesmith eval`, the general-skills probe,
the gate) merges the adapter into a copy-protected base for the run (`LocalGenerator._decoding`). This
measures that against the unmerged adapter in one process: the bundled model with an all-linear LoRA of
rank 16 (random, so its delta is not zero; the speed does not depend on what the adapter learned), the
example's tickets with the project's short system prompt, greedy, batched as the stages do.

Prints one JSON object: output tokens/s merged and unmerged, `speedup`, how many greedy answers are the same
text (the merged matmul rounds differently, so an answer may part at a near tie), and whether the base
weights are bit-identical after the merged run.

    python bench/merged_adapter.py [--prompts 32] [--max-new-tokens 128] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import peft
    import torch

    from tunesmith.data.instruction import chat
    from tunesmith.models.generation import GenerationParams
    from tunesmith.models.local import LocalGenerator
    from tunesmith.models.spec import parse_model_ref

    rows = [json.loads(line) for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()]
    chats = [chat("You are Northwind Outfitters' customer support assistant.", r["ticket"], None) for r in rows]
    chats = chats[: args.prompts]
    loaded = LocalGenerator.load(parse_model_ref("bundled:smollm2-135m-instruct"), REPO)
    torch.manual_seed(0)
    config = peft.LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    model = peft.get_peft_model(loaded.model, config, adapter_name="tuned")
    for name, param in model.named_parameters():
        if "lora_" in name:  # small, so the adapted model still writes text and answers end
            param.data.mul_(0.05)
    model.eval()
    generator = LocalGenerator(model, loaded.tokenizer, name="bench", batch_size=args.prompts)
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}

    unmerged_copies = LocalGenerator._merge_copies

    def run(merged: bool) -> tuple[float, list[str]]:
        LocalGenerator._merge_copies = unmerged_copies if merged else (lambda self, adapter: None)  # type: ignore[method-assign]
        start = time.perf_counter()
        out = generator.generate(chats, params, adapter="tuned")
        elapsed = time.perf_counter() - start
        return sum(g.completion_tokens for g in out) / elapsed, [g.text for g in out]

    rates: dict[str, list[float]] = {"merged": [], "unmerged": []}
    texts: dict[str, list[str]] = {}
    for _ in range(args.repeats):  # alternated, so a slower moment of the machine hits both
        for arm in ("unmerged", "merged"):
            rate, texts[arm] = run(arm == "merged")
            rates[arm].append(rate)
    LocalGenerator._merge_copies = unmerged_copies  # type: ignore[method-assign]
    exact = all(torch.equal(before[n], p) for n, p in model.named_parameters() if "lora_" not in n)
    best = {arm: max(values) for arm, values in rates.items()}
    print(
        json.dumps(
            {
                "prompts": len(chats),
                "max_new_tokens": args.max_new_tokens,
                "tokens_per_s": {arm: round(v, 1) for arm, v in best.items()},
                "speedup": round(best["merged"] / best["unmerged"], 3),
                "same_answers": sum(a == b for a, b in zip(texts["merged"], texts["unmerged"], strict=True)),
                "base_weights_bit_identical": exact,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
