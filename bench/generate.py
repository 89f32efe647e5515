"""Benchmark: tunesmith's local generation against today's batched path and one-at-a-time `model.generate`.

The workload is a stage's: the example project's baseline template "style-guide+few-shot" (the style
guide as system prompt, two past tickets with their replies, then the ticket), on the bundled model,
greedy, up to 200 new tokens, as `tunesmith baseline` sends it. Four paths in one process:

- continuous (the default): one running batch that waiting prompts join as answers end, prompt
  prefixes the group shares prefilled once and held once for every row (`models/cascade.py`), a KV
  cache that grows in place, decoding steps' linears computed weight first (`models/skinny_linear.py`);
- plain linear: the same without the weight-first linears (`skinny_linear_speedup` is their share);
- copied prefix: the same with the shared prefix copied into every row's cache (`cascade_speedup`);
- batched: the earlier path (`decoding: batched`): batches of `batch_size` decoded until their longest
  answer ends, transformers' own cache, `nn.Linear`'s own product;
- one by one: `model.generate` per prompt (a subset: it is slow), no padding at all;
- one row: tunesmith's decoding of the same subset one prompt at a time (what a server does for one
  chat), with a single row's linears computed as two rows weight first (`one_row_speedup` against the
  matrix-vector product `nn.Linear` and the BLAS take for one row).

Prints one JSON object: output tokens/s of each, `speedup_vs_batched`, `speedup_vs_one_by_one`,
`skinny_linear_speedup`, `cascade_speedup`, `identical_greedy` (every answer of every path the same text), and `compute_fraction` (FLOPs per
generated token, 2 x parameters, against the measured fp32 matmul peak; `..._with_prompts` also counts
every prompt token as if it were run in full).

    python bench/generate.py [--prompts 64] [--max-new-tokens 200] [--batch-size 64] [--one-by-one 8]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from flops import matmul_peak_gflops

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def chats(n: int, template: str) -> list[list[dict[str, str]]]:
    import yaml

    from tunesmith.data.instruction import render_template

    rows = [json.loads(line) for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()]
    project = yaml.safe_load((EXAMPLE / "tunesmith.yaml").read_text())
    chosen = next(t for t in project["baseline"]["templates"] if t["name"] == template)
    shots = [(r["ticket"], r["reply"]) for r in rows[: chosen.get("shots", 0)]]
    asked = rows[len(shots) : len(shots) + n]
    return [
        render_template(system=chosen["system"], user="{input}", input_text=r["ticket"], shots=shots) for r in asked
    ]


def one_by_one(generator, chats_, max_new_tokens: int) -> tuple[list[str], int, float]:
    import torch

    model, tok = generator.model, generator.tokenizer
    eos = generator.stop_token_ids()
    texts, tokens = [], 0
    started = time.perf_counter()
    for chat in chats_:
        ids = tok(generator.render(chat), return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **ids,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tok.pad_token_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        new = out[0, ids["input_ids"].shape[1] :].tolist()
        cut = next((i for i, t in enumerate(new) if t in eos), len(new))
        tokens += cut + (1 if cut < len(new) else 0)
        texts.append(tok.decode(new[:cut], skip_special_tokens=True).strip())
    return texts, tokens, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--one-by-one", type=int, default=8, help="prompts run one at a time (a subset)")
    parser.add_argument("--template", default="style-guide+few-shot")
    args = parser.parse_args()

    import torch

    from tunesmith.models.generation import GenerationParams
    from tunesmith.models.local import LocalGenerator
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    asked = chats(args.prompts, args.template)
    generator = LocalGenerator.load(LocalModelRef(id=DEFAULT_MODEL, batch_size=args.batch_size), REPO)
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    prompt_tokens = [generator.count_tokens(generator.render(c)) for c in asked]

    from tunesmith.models import cascade, skinny_linear

    runs = {}
    # "plain-linear": continuous decoding with nn.Linear's own product on every row count; "copied-prefix":
    # continuous decoding with the shared prefix copied into every row; "batched" is the earlier path as it
    # was, so it has nn.Linear's product and copies too
    for mode in ("batched", "continuous", "plain-linear", "copied-prefix"):
        generator.decoding = "batched" if mode == "batched" else "continuous"
        skinny_linear.ENABLED = mode in ("continuous", "copied-prefix")
        cascade.ENABLED = mode != "copied-prefix"
        started = time.perf_counter()
        out = generator.generate(asked, params)
        seconds = time.perf_counter() - started
        tokens = sum(g.completion_tokens for g in out)
        runs[mode] = {"texts": [g.text for g in out], "tokens": tokens, "seconds": seconds}
    skinny_linear.ENABLED = cascade.ENABLED = True
    single_texts, single_tokens, single_s = one_by_one(generator, asked[: args.one_by_one], args.max_new_tokens)
    one_row = {}
    for smallest in (2, 1):  # 2: one row takes nn.Linear's product (the earlier rule); 1: computed as two rows
        skinny_linear.MIN_ROWS = smallest
        started = time.perf_counter()
        out = [generator.generate([chat], params)[0] for chat in asked[: args.one_by_one]]
        one_row[smallest] = {
            "texts": [g.text for g in out],
            "tokens": sum(g.completion_tokens for g in out),
            "seconds": time.perf_counter() - started,
        }

    def rate(run: dict) -> float:
        return run["tokens"] / run["seconds"]

    continuous, batched, plain, copied = (runs[m] for m in ("continuous", "batched", "plain-linear", "copied-prefix"))
    single_rate = single_tokens / single_s
    same = [a == b for a, b in zip(continuous["texts"], batched["texts"], strict=True)]
    same_single = [a == b for a, b in zip(continuous["texts"], single_texts, strict=False)]
    same_plain = [a == b for a, b in zip(continuous["texts"], plain["texts"], strict=True)]
    same_copied = [a == b for a, b in zip(continuous["texts"], copied["texts"], strict=True)]
    same_one_row = [a == b for a, b in zip(one_row[1]["texts"], one_row[2]["texts"], strict=True)]
    same_one_row += [a == b for a, b in zip(continuous["texts"], one_row[1]["texts"], strict=False)]
    peak = matmul_peak_gflops()
    n_params = sum(p.numel() for p in generator.model.parameters())
    flops_per_token = 2 * n_params
    prompt_share = sum(prompt_tokens) / continuous["tokens"]
    result = {
        "workload": f"baseline template {args.template!r}, {len(asked)} prompts, greedy, max {args.max_new_tokens}",
        "prompt_tokens_mean": round(sum(prompt_tokens) / len(prompt_tokens), 1),
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "continuous_tokens_per_s": round(rate(continuous), 1),
        "batched_tokens_per_s": round(rate(batched), 1),
        "plain_linear_tokens_per_s": round(rate(plain), 1),
        "copied_prefix_tokens_per_s": round(rate(copied), 1),
        "one_by_one_tokens_per_s": round(single_rate, 1),
        "one_row_tokens_per_s": round(rate(one_row[1]), 1),
        "one_row_matrix_vector_tokens_per_s": round(rate(one_row[2]), 1),
        "one_row_speedup": round(rate(one_row[1]) / rate(one_row[2]), 2),
        "continuous_s": round(continuous["seconds"], 1),
        "batched_s": round(batched["seconds"], 1),
        "one_by_one_s": round(single_s, 1),
        "one_by_one_prompts": len(single_texts),
        "output_tokens": continuous["tokens"],
        "speedup_vs_batched": round(rate(continuous) / rate(batched), 2),
        "speedup_vs_one_by_one": round(rate(continuous) / single_rate, 2),
        "skinny_linear_speedup": round(rate(continuous) / rate(plain), 2),
        "cascade_speedup": round(rate(continuous) / rate(copied), 2),
        "identical_greedy": all(same)
        and all(same_single)
        and all(same_plain)
        and all(same_copied)
        and all(same_one_row),
        "identical_vs_batched": f"{sum(same)}/{len(same)}",
        "identical_vs_one_by_one": f"{sum(same_single)}/{len(same_single)}",
        "identical_vs_plain_linear": f"{sum(same_plain)}/{len(same_plain)}",
        "identical_vs_copied_prefix": f"{sum(same_copied)}/{len(same_copied)}",
        "identical_one_row": f"{sum(same_one_row)}/{len(same_one_row)}",
        "matmul_peak_gflops": round(peak, 1),
        "compute_fraction": round(rate(continuous) * flops_per_token / (peak * 1e9), 3),
        "compute_fraction_with_prompts": round(
            rate(continuous) * (1 + prompt_share) * flops_per_token / (peak * 1e9), 3
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
