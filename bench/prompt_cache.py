"""Benchmark: multi-turn chats against `tunesmith serve` with the prompt cache and without, in one run.

A chat client resends the whole conversation every turn. The server is started for real twice on the
example project (the bundled base model), once with `serve.prompt_cache_mb: 0` and once with the default;
each time the same `--conversations` run one after another, `--turns` each: the example's style guide as
system prompt, the example's support tickets as the user's turns, the model's own answers kept in the
history, greedy, `max_tokens` per answer, streamed with the official `openai` client. Time to first token
is measured at the client (the first chunk with text).

Prints one JSON object: per turn and overall the mean time to first token and to the whole answer with the
cache and without (`ttft_speedup`, `latency_speedup`), the share of prompt tokens the cache supplied
(`usage.prompt_tokens_details.cached_tokens`), and how many answers are identical (`identical_answers`;
reused keys and values equal a fresh prefill's up to float rounding).

    python bench/prompt_cache.py [--conversations 4] [--turns 5] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from served import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "northwind-support"


def converse(base_url: str, system: str, tickets: list[str], max_tokens: int) -> list[dict[str, float | str | int]]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=600)
    messages = [{"role": "system", "content": system}]
    turns = []
    for ticket in tickets:
        messages.append({"role": "user", "content": ticket})
        started = time.perf_counter()
        first = None
        text, usage = "", None
        for chunk in client.chat.completions.create(
            model="smollm2-135m-instruct", messages=messages, max_tokens=max_tokens, temperature=0, stream=True
        ):
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.choices and chunk.choices[0].delta.content:
                if first is None:
                    first = time.perf_counter() - started
                text += chunk.choices[0].delta.content
        total = time.perf_counter() - started
        details = getattr(usage, "prompt_tokens_details", None)
        turns.append(
            {
                "ttft_s": first if first is not None else total,
                "latency_s": total,
                "prompt_tokens": usage.prompt_tokens if usage else 0,
                "cached_tokens": (details.cached_tokens or 0) if details else 0,
                "text": text,
            }
        )
        messages.append({"role": "assistant", "content": text})
    return turns


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()

    config = yaml.safe_load((EXAMPLE / "tunesmith.yaml").read_text())
    system = config["baseline"]["templates"][0]["system"]
    tickets = [json.loads(line)["ticket"] for line in (EXAMPLE / "data/golden.jsonl").read_text().splitlines()]
    chats = [tickets[c * args.turns : (c + 1) * args.turns] for c in range(args.conversations)]

    runs: dict[str, list[list[dict]]] = {}
    for mode, megabytes in (("plain", 0), ("cached", 256)):
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "project"
            shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".tunesmith", "runs", "demo"))
            config_copy = yaml.safe_load((project / "tunesmith.yaml").read_text())
            config_copy.setdefault("serve", {})["prompt_cache_mb"] = megabytes
            (project / "tunesmith.yaml").write_text(yaml.safe_dump(config_copy, sort_keys=False))
            server, url = start_server(project)
            try:
                converse(f"{url}/v1", "warm up", ["Say hi."], 4)
                runs[mode] = [converse(f"{url}/v1", system, chat, args.max_tokens) for chat in chats]
            finally:
                stop_server(server)

    def mean(mode: str, key: str, turn: int | None = None) -> float:
        values = [t[key] for chat in runs[mode] for i, t in enumerate(chat) if turn is None or i == turn]
        return statistics.fmean(values)

    per_turn = [
        {
            "turn": i + 1,
            "prompt_tokens": round(mean("cached", "prompt_tokens", i)),
            "cached_tokens": round(mean("cached", "cached_tokens", i)),
            "ttft_s_plain": round(mean("plain", "ttft_s", i), 3),
            "ttft_s_cached": round(mean("cached", "ttft_s", i), 3),
        }
        for i in range(args.turns)
    ]
    pairs = [(a, b) for x, y in zip(runs["plain"], runs["cached"], strict=True) for a, b in zip(x, y, strict=True)]
    prompt_total = sum(t["prompt_tokens"] for chat in runs["cached"] for t in chat)
    cached_total = sum(t["cached_tokens"] for chat in runs["cached"] for t in chat)
    print(
        json.dumps(
            {
                "workload": f"{args.conversations} conversations x {args.turns} turns, style-guide system prompt, "
                f"greedy, max_tokens {args.max_tokens}, streamed, one client",
                "per_turn": per_turn,
                "ttft_s_plain": round(mean("plain", "ttft_s"), 3),
                "ttft_s_cached": round(mean("cached", "ttft_s"), 3),
                "ttft_speedup": round(mean("plain", "ttft_s") / mean("cached", "ttft_s"), 2),
                "latency_s_plain": round(mean("plain", "latency_s"), 3),
                "latency_s_cached": round(mean("cached", "latency_s"), 3),
                "latency_speedup": round(mean("plain", "latency_s") / mean("cached", "latency_s"), 2),
                "cached_token_share": round(cached_total / max(prompt_total, 1), 3),
                "plain_cached_tokens": sum(t["cached_tokens"] for chat in runs["plain"] for t in chat),
                "identical_answers": f"{sum(a['text'] == b['text'] for a, b in pairs)}/{len(pairs)}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
