"""Write examples/order-tools/data/conversations.jsonl: support conversations calling a fictional order API.

Two functions, `get_order_status(order_id)` and `cancel_order(order_id, reason)`, in OpenAI's fine-tuning
format (tools, assistant tool_calls, tool results, the final reply in the house voice). Some requests need no
call (a policy question, a request without an order number, which is answered by asking for it). Deterministic:
run it again and the file is the same.

    python tools/build_order_tools_example.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "examples" / "order-tools" / "data" / "conversations.jsonl"
SYSTEM = "You are Northwind Outfitters' order assistant. Use the order tools to look orders up and cancel them."
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up an order: its status, carrier and expected delivery date.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "pattern": "^NW[0-9]{6}$"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel_order",
            "description": "Cancel an order that has not shipped yet.",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string", "pattern": "^NW[0-9]{6}$"},
                    "reason": {
                        "type": "string",
                        "enum": ["changed_mind", "ordered_by_mistake", "found_better_price", "too_slow"],
                    },
                },
                "required": ["order_id", "reason"],
                "additionalProperties": False,
            },
        },
    },
]
NAMES = ["Alex", "Sam", "Priya", "Jonas", "Maria", "Kenji", "Lena", "Omar", "Zoe", "Tariq", "Ines", "Noah"]
ITEMS = ["hiking boots", "rain jacket", "tent", "sleeping bag", "trekking poles", "daypack", "fleece", "headlamp"]
STATUS_ASKS = [
    "Hi, where is my order {order}? I ordered {item} last week.",
    "Can you check on order {order}? The {item} hasn't arrived yet.",
    "Hello! Any news on {order}? Waiting for my {item}.",
    "What's the status of my order {order} please?",
]
CANCEL_ASKS = {
    "changed_mind": "Please cancel order {order}, I changed my mind about the {item}.",
    "ordered_by_mistake": "I ordered the {item} by mistake, order {order}. Can you cancel it?",
    "found_better_price": "Cancel {order} please, I found the {item} cheaper elsewhere.",
    "too_slow": "Order {order} is taking too long. Please cancel it.",
}
SIGN = "\n\nHappy trails,\nThe Northwind Support Team"


def call(n: int, name: str, **arguments: str) -> dict:
    return {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def status(rng: random.Random, n: int) -> dict:
    who, item = rng.choice(NAMES), rng.choice(ITEMS)
    order = f"NW{rng.randrange(10**6):06d}"
    shipped = rng.random() < 0.6
    result = (
        {"status": "shipped", "carrier": "UPS", "eta": f"2026-12-{rng.randrange(3, 20):02d}"}
        if shipped
        else {"status": "processing", "carrier": None, "eta": f"2026-12-{rng.randrange(8, 24):02d}"}
    )
    reply = (
        f"Hi {who},\n\nGood news: order {order} has shipped with {result['carrier']} and should reach you by "
        f"{result['eta']}."
        if shipped
        else f"Hi {who},\n\nOrder {order} is still being prepared in our warehouse; we expect it to arrive by "
        f"{result['eta']}."
    )
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": rng.choice(STATUS_ASKS).format(order=order, item=item)},
            {"role": "assistant", "content": None, "tool_calls": [call(n, "get_order_status", order_id=order)]},
            {"role": "tool", "tool_call_id": f"call_{n}", "content": json.dumps(result)},
            {"role": "assistant", "content": reply + SIGN},
        ],
        "tools": TOOLS,
    }


def cancel(rng: random.Random, n: int) -> dict:
    who, item = rng.choice(NAMES), rng.choice(ITEMS)
    order = f"NW{rng.randrange(10**6):06d}"
    reason = rng.choice(sorted(CANCEL_ASKS))
    done = rng.random() < 0.7
    result = {"cancelled": True, "refund": "full"} if done else {"cancelled": False, "why": "already shipped"}
    reply = (
        f"Hi {who},\n\nDone: order {order} is cancelled and the full amount goes back to your original payment "
        "method within 5 to 7 business days."
        if done
        else f"Hi {who},\n\nOrder {order} has already shipped, so it can't be cancelled any more. Once it arrives "
        "you can return it within 60 days for a full refund."
    )
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": CANCEL_ASKS[reason].format(order=order, item=item)},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call(n, "cancel_order", order_id=order, reason=reason)],
            },
            {"role": "tool", "tool_call_id": f"call_{n}", "content": json.dumps(result)},
            {"role": "assistant", "content": reply + SIGN},
        ],
        "tools": TOOLS,
    }


def no_call(rng: random.Random, n: int) -> dict:
    who, item = rng.choice(NAMES), rng.choice(ITEMS)
    if n % 2:
        ask = f"Hi, I want to check on my {item} order but I lost the number. Can you help?"
        reply = f"Hi {who},\n\nOf course! Please send me the order number (it starts with NW) and I'll look it up."
    else:
        ask = f"How long do I have to return a {item}?"
        reply = f"Hi {who},\n\nUnused items can come back within 60 days of delivery for a full refund."
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{ask}\n\n{who}"},
            {"role": "assistant", "content": reply + SIGN},
        ],
        "tools": TOOLS,
    }


def main() -> None:
    rng = random.Random(7)
    kinds = [status] * 20 + [cancel] * 20 + [no_call] * 8
    rows = [kind(rng, n) for n, kind in enumerate(kinds)]
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} conversations -> {OUT}")


if __name__ == "__main__":
    main()
