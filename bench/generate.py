"""Benchmark: batched generation (tunesmith's LocalGenerator) against one-at-a-time `model.generate`.

Same 64 prompts (the example project's tickets), same bundled model, greedy decoding, in one process.
Prints one JSON object: output tokens per second for both, the speedup, and whether every greedy output
is identical.

    python bench/generate.py [--prompts 64] [--max-new-tokens 96]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def prompts(n: int) -> list[list[dict[str, str]]]:
    rows = [
        json.loads(line) for line in (REPO / "examples/northwind-support/data/golden.jsonl").read_text().splitlines()
    ]
    system = "You are Northwind Outfitters' customer support assistant."
    return [[{"role": "system", "content": system}, {"role": "user", "content": r["ticket"]}] for r in rows[:n]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch

    from tunesmith.models.generation import GenerationParams
    from tunesmith.models.local import LocalGenerator
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    chats = prompts(args.prompts)
    generator = LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL, batch_size=args.batch_size), REPO)
    params = GenerationParams(max_new_tokens=args.max_new_tokens)

    started = time.perf_counter()
    batched = generator.generate(chats, params)
    batched_s = time.perf_counter() - started
    batched_tokens = sum(g.completion_tokens for g in batched)

    # the obvious alternative: one prompt at a time through model.generate, no padding at all
    model, tok = generator.model, generator.tokenizer
    eos = generator.stop_token_ids()
    single_texts, single_tokens = [], 0
    started = time.perf_counter()
    for chat in chats:
        ids = tok(generator.render(chat), return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **ids,
                max_new_tokens=args.max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tok.pad_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        cut = next((i for i, t in enumerate(new) if t in eos), len(new))
        single_tokens += cut + (1 if cut < len(new) else 0)
        single_texts.append(tok.decode(new[:cut], skip_special_tokens=True).strip())
    single_s = time.perf_counter() - started

    identical = [b.text == s for b, s in zip(batched, single_texts, strict=True)]
    result = {
        "prompts": len(chats),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "batched_tokens_per_s": round(batched_tokens / batched_s, 1),
        "one_by_one_tokens_per_s": round(single_tokens / single_s, 1),
        "batched_s": round(batched_s, 1),
        "one_by_one_s": round(single_s, 1),
        "speedup": round((batched_tokens / batched_s) / (single_tokens / single_s), 2),
        "identical_greedy": all(identical),
        "identical_count": sum(identical),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
