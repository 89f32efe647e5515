"""Benchmark: `tunesmith serve` under 8 concurrent clients against the same requests one by one.

Prints one JSON object. The server is started for real (the example project, the
bundled base model, its default request batching); the requests are the
example's support tickets, greedy, `max_tokens` 64, sent with the official
`openai` client. The comparison is the same requests sent one at a time to the
same server, in the same run. It also reports how many answers are identical
between the two runs (batching must not change greedy outputs).

    python bench/serve.py [--requests 32] [--clients 8] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from served import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    import httpx
    import openai

    tickets = [json.loads(line)["ticket"] for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()]
    prompts = tickets[: args.requests]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".tunesmith", "runs", "demo"))
        server, url = start_server(project)
        try:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="bench", max_retries=0, timeout=600)

            def ask(prompt: str) -> tuple[float, str | None, int]:
                started = time.perf_counter()
                try:
                    out = client.chat.completions.create(
                        model="smollm2-135m-instruct",
                        messages=[{"role": "user", "content": prompt}],
                        max_tokens=args.max_tokens,
                        temperature=0,
                    )
                except openai.OpenAIError:
                    return time.perf_counter() - started, None, 0
                return time.perf_counter() - started, out.choices[0].message.content, out.usage.completion_tokens

            ask("warm up")
            t = time.perf_counter()
            sequential = [ask(p) for p in prompts]
            sequential_s = time.perf_counter() - t
            t = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                concurrent = list(pool.map(ask, prompts))
            concurrent_s = time.perf_counter() - t
            health = httpx.get(f"{url}/health").json()
        finally:
            stop_server(server)

    def summary(results: list[tuple[float, str | None, int]], seconds: float) -> dict[str, float]:
        latencies = [r[0] * 1000 for r in results]
        tokens = sum(r[2] for r in results)
        return {
            "seconds": round(seconds, 2),
            "requests_per_s": round(len(results) / seconds, 3),
            "completion_tokens_per_s": round(tokens / seconds, 1),
            "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "errors": sum(1 for r in results if r[1] is None),
        }

    seq, conc = summary(sequential, sequential_s), summary(concurrent, concurrent_s)
    same = sum(1 for a, b in zip(sequential, concurrent, strict=True) if a[1] is not None and a[1] == b[1])
    print(
        json.dumps(
            {
                "requests": len(prompts),
                "clients": args.clients,
                "max_tokens": args.max_tokens,
                "one_by_one": seq,
                "concurrent": conc,
                "speedup": round(conc["completion_tokens_per_s"] / seq["completion_tokens_per_s"], 2),
                "p95_ms": conc["p95_ms"],
                "errors": seq["errors"] + conc["errors"],
                "identical_outputs": f"{same}/{len(prompts)}",
                "server_batches": health.get("batches"),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
