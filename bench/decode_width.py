"""Benchmark: how wide the offline decoding batch runs, on the three workloads the demo decodes most.

The same bundled model, greedy, in one process, each workload decoded the earlier way and the current way:

- earlier: 64 rows at most (the earlier `models.*.batch_size` default; the training run's replay answers
  took 16, `LocalGenerator`'s own default then), and a row that ends gathers every remaining row of the
  KV cache into a new buffer (`batch_select_indices`);
- current: `LocalModelRef`'s defaults (256 rows at most, as many as `max_batch_tokens` allows: rows times
  the longest prompt plus `max_new_tokens`), and an ending row's place filled by the last row
  (`kvcache.keep_rows`), so one row is copied, not the cache.

Workloads: the retention probe (`eval/probe.py`: 362 labelled questions stopped once settled, 112 open
prompts, up to 48 tokens each, as the evaluation asks the base model), the evaluation's answers
(`--eval-prompts` golden tickets under the example's style guide, up to 200 tokens) and the training
run's replay answers (the first 68 general prompts, up to 160 tokens).

Prints one JSON object: seconds and output tokens/s of each way per workload, the speedup, whether every
answer is identical, the most rows a step ran and the largest KV cache a batch held (MB, measured from the
cache's buffers).

    python bench/decode_width.py [--eval-prompts 128] [--skip replay]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from generate import chats as template_chats

REPO = Path(__file__).resolve().parents[1]


def workloads(eval_prompts: int) -> dict[str, tuple[list, dict, int]]:
    """name -> (chats, generate() keyword arguments, earlier rows)."""
    from tunesmith.data.general import agreement_prompts, replay_prompts
    from tunesmith.eval import probe
    from tunesmith.models.generation import GenerationParams

    items = probe.load_probe()
    open_prompts = [p["prompt"] for p in agreement_prompts()]
    labelled = [[{"role": "user", "content": i["question"]}] for i in items]
    unlabelled = [[{"role": "user", "content": t}] for t in open_prompts]
    until = [lambda text, a=i["answers"]: probe.settled(text, a) for i in items]
    replay = [[{"role": "user", "content": p["prompt"]}] for p in replay_prompts(None)[:68]]
    return {
        "probe_labelled": (labelled, {"params": probe.PARAMS, "until": until}, 64),
        "probe_open": (unlabelled, {"params": probe.PARAMS}, 64),
        "eval": (template_chats(eval_prompts, "style-guide"), {"params": GenerationParams(max_new_tokens=200)}, 64),
        "replay": (replay, {"params": GenerationParams(max_new_tokens=160)}, 16),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval-prompts", type=int, default=128)
    parser.add_argument("--skip", nargs="*", default=[], help="workloads left out")
    args = parser.parse_args()

    import torch

    from tunesmith.models import kvcache
    from tunesmith.models.batch import RunningBatch
    from tunesmith.models.local import LocalGenerator
    from tunesmith.models.resolve import DEFAULT_MODEL
    from tunesmith.models.spec import LocalModelRef

    ref = LocalModelRef(id=DEFAULT_MODEL)
    generator = LocalGenerator.load(ref, REPO)
    keep_rows = kvcache.keep_rows

    def gathered(cache, rows):  # the earlier edit: every kept row gathered into a new buffer
        cache.batch_select_indices(torch.tensor(rows))
        return list(rows)

    seen = {"rows": 0, "bytes": 0}
    step_inputs = RunningBatch.step_inputs

    def watched(self):
        seen["rows"] = max(seen["rows"], self.rows)
        held = sum(t.untyped_storage().nbytes() for layer in self.cache.layers for t in (layer.keys, layer.values))
        seen["bytes"] = max(seen["bytes"], held)
        return step_inputs(self)

    RunningBatch.step_inputs = watched
    result: dict = {
        "model": DEFAULT_MODEL,
        "threads": torch.get_num_threads(),
        "max_batch_tokens": ref.max_batch_tokens,
    }
    for name, (chats, kwargs, earlier_rows) in workloads(args.eval_prompts).items():
        if name in args.skip:
            continue
        runs = {}
        for way in ("earlier", "current"):
            generator.batch_size = earlier_rows if way == "earlier" else ref.batch_size
            generator.max_batch_tokens = 10**9 if way == "earlier" else ref.max_batch_tokens
            kvcache.keep_rows = gathered if way == "earlier" else keep_rows
            seen.update(rows=0, bytes=0)
            started = time.perf_counter()
            out = generator.generate(chats, **kwargs)
            seconds = time.perf_counter() - started
            tokens = sum(g.completion_tokens for g in out)
            runs[way] = {"texts": [g.text for g in out], "seconds": seconds, "tokens": tokens} | dict(seen)
        earlier, current = runs["earlier"], runs["current"]
        same = sum(a == b for a, b in zip(earlier["texts"], current["texts"], strict=True))
        result[name] = {
            "prompts": len(chats),
            "earlier_rows": earlier["rows"],
            "current_rows": current["rows"],
            "earlier_s": round(earlier["seconds"], 1),
            "current_s": round(current["seconds"], 1),
            "earlier_tokens_per_s": round(earlier["tokens"] / earlier["seconds"], 1),
            "current_tokens_per_s": round(current["tokens"] / current["seconds"], 1),
            "speedup": round(earlier["seconds"] / current["seconds"], 2),
            "earlier_kv_mb": round(earlier["bytes"] / 2**20),
            "current_kv_mb": round(current["bytes"] / 2**20),
            "identical": f"{same}/{len(chats)}",
        }
        print(json.dumps({name: result[name]}), flush=True)
    kvcache.keep_rows = keep_rows
    RunningBatch.step_inputs = step_inputs
    parts = [v for v in result.values() if isinstance(v, dict)]
    result["total_earlier_s"] = round(sum(p["earlier_s"] for p in parts), 1)
    result["total_current_s"] = round(sum(p["current_s"] for p in parts), 1)
    result["total_speedup"] = round(result["total_earlier_s"] / result["total_current_s"], 2)
    result["identical_greedy"] = all(p["identical"].split("/")[0] == p["identical"].split("/")[1] for p in parts)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
