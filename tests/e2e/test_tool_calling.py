"""Tool calling end to end on the order-tools example, with a tiny model of the bundled model's family and the
example's tools template (the mechanics; no tiny model knows anything):

- the CLI builds the data (tools kept), trains, and evaluates tool use per system;
- a tiny model taught one calling conversation is served, and the openai client gets the call back as
  `tool_calls` (and streamed), a malformed or undeclared call as text with a warning, never a 500.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import REPO, run_cli
from tests.server import Server

pytestmark = pytest.mark.e2e

EXAMPLE = REPO / "examples" / "order-tools"
TEMPLATE = (EXAMPLE / "chat_template.jinja").read_text()
CONVERSATIONS = [json.loads(line) for line in (EXAMPLE / "data" / "conversations.jsonl").read_text().splitlines()]
STATUS = next(
    c
    for c in CONVERSATIONS
    if any(m.get("tool_calls") for m in c["messages"]) and "status" in json.dumps(c["messages"][2])
)


def _project(folder: Path, model: str) -> Path:
    shutil.copytree(EXAMPLE, folder)
    cfg = yaml.safe_load((folder / "tunesmith.yaml").read_text())
    cfg["models"]["base"]["id"] = model
    cfg["tracking"] = {"enabled": False}
    (folder / "tunesmith.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


def test_the_example_runs_end_to_end_and_evaluates_tool_use(tmp_path: Path, tiny_model: Path) -> None:
    project = _project(tmp_path / "order-tools", str(tiny_model))
    done = run_cli(
        "run",
        "--project",
        str(project),
        "--set",
        "train.max_steps=2",
        "--set",
        "train.stop_check=0",
        "--set",
        "eval.limit=4",
        "--json",
    )
    summary = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}
    assert done.returncode in (0, 1) and summary, done.stderr[-3000:]
    assert (done.returncode == 0) == summary["gate_passed"]  # exit 1 only for a failed gate
    assert "baseline: skipped" in done.stderr  # no golden outputs: nothing to measure prompts on
    pipeline = Path(summary["run_dir"])
    train_rows = [json.loads(line) for line in (pipeline / "data" / "train.jsonl").read_text().splitlines()]
    assert train_rows and all(r["tools"][0]["function"]["name"] == "get_order_status" for r in train_rows)
    evaluated = json.loads((pipeline / "eval" / "summary.json").read_text())
    for system in ("base", "finetuned"):
        assert {"tool_name", "tool_args_valid", "tool_args_match"} <= set(evaluated["systems"][system])
    rows = [json.loads(line) for line in (pipeline / "eval" / "outputs.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all("tool_calls" in r and r["scores"]["tool_name"] in (0.0, 1.0) for r in rows)
    gate = json.loads((pipeline / "gate" / "gate.json").read_text())
    assert [c["name"] for c in gate["checks"]] == ["calls the right function"]


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Path]:
    """The tiny model, trained until it answers the status request with its call (then the same model
    would answer like this for any served request with that prompt)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunesmith.data.template import tokenize_chat

    folder = tmp_path_factory.mktemp("taught") / "model"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    call_turn = STATUS["messages"][:3]
    tokenized = tokenize_chat(tokenizer, call_turn, STATUS["tools"])
    ids, labels = torch.tensor([tokenized.input_ids]), torch.tensor([tokenized.labels])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(400):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if loss.item() < 0.002:
            break
    assert loss.item() < 0.01, loss.item()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    yield folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, taught: Path) -> Iterator[Server]:
    project = tmp_path_factory.mktemp("served") / "p"
    project.mkdir()
    cfg = {
        "name": "tools-served",
        "system_prompt": STATUS["messages"][0]["content"],
        "models": {"base": str(taught)},
        "knowledge": {"paths": []},
        "tracking": {"enabled": False},
    }
    (project / "tunesmith.yaml").write_text(yaml.safe_dump(cfg))
    running = Server(project)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "base",
        "messages": STATUS["messages"][:2],
        "tools": STATUS["tools"],
        "max_tokens": 60,
        **extra,
    }


def test_served_calls_come_back_as_tool_calls_streamed_or_not(server: Server) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key="none")
    model = client.models.list().data[0].id
    expected = STATUS["messages"][2]["tool_calls"][0]["function"]
    reply = client.chat.completions.create(**_request(model=model))
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls", choice.message.content
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == expected["name"]
    assert json.loads(call.function.arguments) == json.loads(expected["arguments"])

    stream = client.chat.completions.create(**_request(model=model), stream=True)
    deltas, finish, content = [], None, ""
    for chunk in stream:
        for c in chunk.choices:
            deltas += c.delta.tool_calls or []
            content += c.delta.content or ""
            finish = c.finish_reason or finish
    assert finish == "tool_calls" and content == "" and len(deltas) == 1
    assert deltas[0].function.name == expected["name"] and deltas[0].index == 0
    assert json.loads(deltas[0].function.arguments) == json.loads(expected["arguments"])

    # a named tool_choice starts the call with that function: the arguments are the model's
    named = client.chat.completions.create(
        **_request(model=model, tool_choice={"type": "function", "function": {"name": "get_order_status"}})
    )
    assert named.choices[0].message.tool_calls[0].function.name == "get_order_status"


def test_undeclared_or_unusable_calls_are_text_or_a_clear_400(server: Server) -> None:
    url = f"{server.url}/v1/chat/completions"
    model = httpx.get(f"{server.url}/v1/models").json()["data"][0]["id"]
    # a call cut off by max_tokens does not parse: the text comes back, with a warning, not a 500
    cut = httpx.post(url, json=_request(model=model, max_tokens=6), timeout=120).json()
    choice = cut["choices"][0]
    assert "tool_calls" not in choice["message"] and choice["message"]["content"].startswith("<tool_call>")
    assert choice["finish_reason"] == "length" and "the model's tool call" in cut["tunesmith"]["warnings"][0]
    # tool_choice none: no tools shown, no call parsed
    none = httpx.post(url, json=_request(model=model, tool_choice="none"), timeout=120).json()
    assert none["choices"][0]["finish_reason"] != "tool_calls"
    bad = [
        (_request(model=model, tool_choice={"type": "function", "function": {"name": "nope"}}), "does not declare"),
        (_request(model=model, tools=[{"type": "function", "function": {"name": "x y"}}]), "name"),
        (
            _request(model=model, tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]),
            "JSON Schema",
        ),
        (
            {**_request(model=model), "messages": [*STATUS["messages"][:2], {"role": "tool", "content": "{}"}]},
            "tool_call_id",
        ),
        (_request(model=model, tools=STATUS["tools"] * 65), "128"),
    ]
    for body, words in bad:
        answer = httpx.post(url, json=body, timeout=60)
        assert answer.status_code == 400 and words in answer.text, answer.text
