"""Benchmark: `tunesmith serve` under load, with hostile clients, for each batching scheduler in one run.

64 concurrent well-formed clients for `--duration` seconds (mixed prompt lengths, `max_tokens` 8 / 32 / 128,
half streaming), 4 hostile clients sending oversized requests the whole time (10,000 messages, a 2 MB body,
a prompt past the context, a 64 MB chunked upload; each once a second, `--hostile-interval`), and a canary sending a 2-token chat every second: the
short request a long one must not hold back. The server is started for real on the example project with the
bundled model, once per scheduler (`continuous`, the default, and `window`, the earlier batching), with the
same load; one JSON object compares them.

    python bench/load.py [--duration 120] [--clients 64] [--schedulers continuous,window] [--set KEY=VALUE]

Per scheduler: `requests`, `errors` (well-formed requests that failed: must be 0), `p50_ms`, `p95_ms`,
`p99_ms`, `canary_p95_ms`, `hostile` (requests and how many got a 4xx), `completion_tokens_per_s` and the
server's peak RSS (`VmHWM`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from served import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 1)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def hostile_requests() -> list[dict[str, Any]]:
    boundary = "loadboundary"

    async def chunks() -> Any:
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'.encode()
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.jsonl"\r\n\r\n'.encode()
        for _ in range(256):
            yield b"x" * (256 * 1024)

    return [
        {
            "url": "/v1/chat/completions",
            "json": {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "h"}] * 10000},
        },
        {
            "url": "/v1/chat/completions",
            "json": {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "a" * 2 * 2**20}]},
        },
        {
            "url": "/v1/chat/completions",
            "json": {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "word " * 40000}]},
        },
        {
            "url": "/v1/files",
            "content": chunks,
            "headers": {"content-type": f"multipart/form-data; boundary={boundary}"},
        },
    ]


async def run_load(
    url: str,
    model: str,
    prompts: list[str],
    duration: float,
    clients: int,
    hostile_clients: int = 4,
    grace: float = 60,
    hostile_interval: float = 1.0,
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    canary: list[float] = []
    errors: list[str] = []
    tokens = 0
    hostile = {"requests": 0, "4xx": 0, "other": 0}
    stop_at = time.monotonic() + duration
    rng = random.Random(0)
    long_context = " ".join(prompts)[:2400]  # ~600 tokens of real text

    async def well_formed(client: httpx.AsyncClient, seed: int) -> None:
        nonlocal tokens
        local = random.Random(seed)
        while time.monotonic() < stop_at:
            prompt = local.choice(prompts)
            size = local.random()
            if size > 0.8:
                prompt = f"{long_context}\n\nNow answer this ticket: {prompt}"
            elif size > 0.5:
                prompt = f"{local.choice(prompts)}\n{prompt}"
            body = {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": local.choice([8, 32, 128]),
                "stream": local.random() < 0.5,
            }
            started = time.perf_counter()
            try:
                if body["stream"]:
                    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                        if response.status_code != 200:
                            errors.append(f"{response.status_code}")
                            continue
                        async for line in response.aiter_lines():
                            if line.startswith("data: {") and '"usage"' in line:
                                tokens += json.loads(line[6:])["usage"]["completion_tokens"]
                else:
                    response = await client.post(f"{url}/v1/chat/completions", json=body)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                        continue
                    tokens += response.json()["usage"]["completion_tokens"]
                latencies.append((time.perf_counter() - started) * 1000)
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)

    async def attacker(client: httpx.AsyncClient, index: int) -> None:
        request = hostile_requests()[index % 4]
        while time.monotonic() < stop_at:
            kwargs = {k: v for k, v in request.items() if k != "url"}
            if callable(kwargs.get("content")):
                kwargs["content"] = kwargs["content"]()
            try:
                response = await client.post(f"{url}{request['url']}", **kwargs)
                hostile["requests"] += 1
                hostile["4xx" if 400 <= response.status_code < 500 else "other"] += 1
            except httpx.HTTPError:
                hostile["requests"] += 1
                hostile["other"] += 1
            await asyncio.sleep(hostile_interval)

    async def canary_client(client: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
            try:
                response = await client.post(f"{url}/v1/chat/completions", json=body)
                if response.status_code == 200:
                    canary.append((time.perf_counter() - started) * 1000)
                else:
                    errors.append(f"canary {response.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"canary {type(exc).__name__}")
            await asyncio.sleep(1.0)

    limits = httpx.Limits(max_connections=clients + 16, max_keepalive_connections=clients + 16)
    async with httpx.AsyncClient(timeout=httpx.Timeout(900), limits=limits) as client:
        started = time.monotonic()
        tasks = [
            *(asyncio.create_task(well_formed(client, rng.randrange(10**9))) for _ in range(clients)),
            *(asyncio.create_task(attacker(client, i)) for i in range(hostile_clients)),
            asyncio.create_task(canary_client(client)),
        ]
        # requests still unanswered `grace` seconds after the end are counted and abandoned (a client gives up)
        _, pending = await asyncio.wait(tasks, timeout=duration + grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        elapsed = time.monotonic() - started
    return {
        "requests": len(latencies),
        "unanswered_at_end": len(pending),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "p50_ms": percentile(latencies, 0.50),
        "p95_ms": percentile(latencies, 0.95),
        "p99_ms": percentile(latencies, 0.99),
        "canary_requests": len(canary),
        "canary_p50_ms": percentile(canary, 0.50),
        "canary_p95_ms": percentile(canary, 0.95),
        "hostile": hostile,
        "completion_tokens_per_s": round(tokens / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--schedulers", default="continuous,window")
    parser.add_argument(
        "--hostile", type=int, default=4, help="Hostile clients (each sends one kind of oversized request)."
    )
    parser.add_argument(
        "--hostile-interval", type=float, default=1.0, help="Seconds each hostile client waits between requests."
    )
    parser.add_argument(
        "--set", action="append", default=[], help="A server setting, e.g. serve.prompt_cache_mb=0 (repeatable)."
    )
    args = parser.parse_args()

    tickets = [json.loads(line)["ticket"] for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".tunesmith", "runs", "demo"))
        for scheduler in args.schedulers.split(","):
            server, url = start_server(project, [f"serve.scheduler={scheduler}", *args.set])
            try:
                import httpx

                model = httpx.get(f"{url}/v1/models").json()["data"][0]["id"]
                result = asyncio.run(
                    run_load(
                        url,
                        model,
                        tickets,
                        args.duration,
                        args.clients,
                        args.hostile,
                        hostile_interval=args.hostile_interval,
                    )
                )
                result["server_peak_rss_mb"] = peak_rss_mb(server.pid)
                try:  # window batching can leave no thread free to answer even this
                    result["server"] = httpx.get(f"{url}/health", timeout=30).json().get("scheduler")
                except httpx.HTTPError as exc:
                    result["server"] = f"no answer to /health: {type(exc).__name__}"
                results[scheduler] = result
                print(json.dumps({scheduler: result}), file=sys.stderr, flush=True)
            finally:
                stop_server(server)
    out: dict[str, Any] = {
        "machine": f"{os.cpu_count()} CPU cores",
        "duration_s": args.duration,
        "clients": args.clients,
        "hostile_clients": args.hostile,
        **results,
    }
    if "continuous" in results and "window" in results:
        a, b = results["continuous"], results["window"]

        def ratio(key: str) -> float | None:  # None where a side answered nothing (e.g. no canary at all)
            return round(b[key] / a[key], 2) if a.get(key) and b.get(key) else None

        out["canary_p95_speedup"] = ratio("canary_p95_ms")
        out["p95_speedup"] = ratio("p95_ms")
        out["requests_ratio"] = round(a["requests"] / max(b["requests"], 1), 2)
        out["throughput_ratio"] = round(a["completion_tokens_per_s"] / max(b["completion_tokens_per_s"], 1e-9), 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
