"""A hostile-input corpus against a real `tunesmith serve`: every case gets a 4xx in OpenAI's error shape (never a
500, never a traceback), and a two-token chat is answered right after each one.

The cases are what a security reviewer tries first: sizes past every bound (messages, bodies, stop strings,
`n`, seeds, embeddings inputs, hyperparameters), wrong types, NaN and infinities, invalid Unicode, deep
nesting, traversal in every id and name, truncated and oversized multipart bodies, paths and endpoints set
from the workbench, foreign origins and hosts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import BASE, canary
from tests.server import Server

CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"
FILES = "/v1/files"
JOBS = "/v1/fine_tuning/jobs"
UI = "/ui/api"
JSON_TYPE = {"content-type": "application/json"}
BOUNDARY = "tsboundary"
FILE_ID = "file-" + "0" * 24


def chat(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": BASE, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    body.update(changes)
    return body


def job(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": BASE, "training_file": "{file}"}
    body.update(changes)
    return body


def hp(**values: Any) -> dict[str, Any]:
    return job(method={"type": "supervised", "supervised": {"hyperparameters": values}})


def raw(text: str | bytes) -> dict[str, Any]:
    return {"content": text.encode() if isinstance(text, str) else text, "headers": JSON_TYPE}


def multipart(*parts: tuple[str, str | None, bytes], close: bool = True) -> dict[str, Any]:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    if close:
        body += f"--{BOUNDARY}--\r\n".encode()
    return {"content": body, "headers": {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}}


def streamed_upload(megabytes: int) -> dict[str, Any]:
    """A valid multipart upload sent chunked (no Content-Length), larger than the limit."""

    def chunks() -> Iterator[bytes]:
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nfine-tune\r\n'.encode()
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n\r\n'.encode()
        for _ in range(megabytes * 4):
            yield b"x" * (256 * 1024)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    return {"content": chunks(), "headers": {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}}


def ui_job(
    values: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None, kind: str = "kb"
) -> dict[str, Any]:
    return {"json": {"kind": kind, "values": values or {}, "inputs": inputs or {}}}


@dataclass
class Case:
    name: str
    method: str
    path: str
    request: dict[str, Any] = field(default_factory=dict)
    status: int = 400


LONG_PROMPT = "word " * 3000  # ~3,000 tokens: more than the tiny model's 2,048-token context, far under the body limit
CASES = [
    # -- chat ------------------------------------------------------------------------------------------
    Case("chat: 10,000 messages", "POST", CHAT, {"json": chat(messages=[{"role": "user", "content": "h"}] * 10000)}),
    Case(
        "chat: a 1 MB message", "POST", CHAT, {"json": chat(messages=[{"role": "user", "content": "a" * 2**20}])}, 413
    ),
    Case(
        "chat: prompt over the context",
        "POST",
        CHAT,
        {"json": chat(messages=[{"role": "user", "content": LONG_PROMPT}])},
    ),
    Case(
        "chat: prompt + max_tokens over the context",
        "POST",
        CHAT,
        {"json": chat(messages=[{"role": "user", "content": "word " * 1500}], max_tokens=1500)},
    ),
    Case("chat: 5 stop strings", "POST", CHAT, {"json": chat(stop=["a", "b", "c", "d", "e"])}),
    Case("chat: 1,000 stop strings", "POST", CHAT, {"json": chat(stop=[f"s{i}" for i in range(1000)])}),
    Case("chat: a 10,000-character stop string", "POST", CHAT, {"json": chat(stop="x" * 10000)}),
    Case("chat: seed 2**70", "POST", CHAT, {"json": chat(seed=2**70)}),
    Case("chat: seed -2**70", "POST", CHAT, {"json": chat(seed=-(2**70))}),
    Case("chat: n = 0", "POST", CHAT, {"json": chat(n=0)}),
    Case("chat: n = 1000", "POST", CHAT, {"json": chat(n=1000)}),
    Case(
        "chat: temperature NaN",
        "POST",
        CHAT,
        raw(json.dumps(chat()).replace('"max_tokens"', '"temperature": NaN, "max_tokens"')),
    ),
    Case(
        "chat: temperature Infinity",
        "POST",
        CHAT,
        raw(json.dumps(chat()).replace('"max_tokens"', '"temperature": Infinity, "max_tokens"')),
    ),
    Case("chat: temperature -1", "POST", CHAT, {"json": chat(temperature=-1)}),
    Case("chat: top_p 0", "POST", CHAT, {"json": chat(top_p=0)}),
    Case("chat: max_tokens 0", "POST", CHAT, {"json": chat(max_tokens=0)}),
    Case("chat: max_tokens 2**80", "POST", CHAT, {"json": chat(max_tokens=2**80)}),
    Case("chat: max_tokens a string", "POST", CHAT, {"json": chat(max_tokens="many")}),
    Case("chat: no messages", "POST", CHAT, {"json": chat(messages=[])}),
    Case("chat: messages a string", "POST", CHAT, {"json": chat(messages="hello")}),
    Case("chat: an unknown role", "POST", CHAT, {"json": chat(messages=[{"role": "root", "content": "hi"}])}),
    Case("chat: content a number", "POST", CHAT, {"json": chat(messages=[{"role": "user", "content": 5}])}),
    Case(
        "chat: 10,000 content parts",
        "POST",
        CHAT,
        {"json": chat(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}] * 10000}])},
    ),
    Case("chat: no model", "POST", CHAT, {"json": {"messages": [{"role": "user", "content": "hi"}]}}),
    Case("chat: an unknown model", "POST", CHAT, {"json": chat(model="gpt-9")}, 404),
    Case("chat: a 10,000-character model name", "POST", CHAT, {"json": chat(model="m" * 10000)}),
    Case("chat: a NUL in the model name", "POST", CHAT, {"json": chat(model=BASE + "\x00")}, 404),
    Case("chat: not JSON", "POST", CHAT, raw("{nope")),
    Case("chat: a JSON array", "POST", CHAT, raw("[1, 2, 3]")),
    Case("chat: JSON nested 100,000 deep", "POST", CHAT, raw("[" * 100000 + "]" * 100000)),
    Case(
        "chat: a message nested 40 deep",
        "POST",
        CHAT,
        {"json": chat(messages=[{"role": "user", "content": "hi", "x": json.loads("[" * 40 + "]" * 40)}])},
    ),
    Case("chat: an empty body", "POST", CHAT, raw("")),
    Case(
        "chat: invalid UTF-8",
        "POST",
        CHAT,
        raw(b'{"model": "tiny-smollm2", "messages": [{"role": "user", "content": "\xff\xfe"}]}'),
    ),
    Case("chat: an unpaired surrogate", "POST", CHAT, raw(json.dumps(chat()).replace('"Hi"', '"\\ud800"'))),
    Case("chat: traversal as a knowledge base", "POST", CHAT, {"json": chat(tunesmith={"kb": "../../etc"})}),
    Case("chat: an unknown extension field", "POST", CHAT, {"json": chat(tunesmith={"shell": "rm -rf /"})}),
    Case(
        "chat: streaming with 10,000 messages",
        "POST",
        CHAT,
        {"json": chat(stream=True, messages=[{"role": "user", "content": "hi"}] * 10000)},
    ),
    Case(
        "chat: streaming past the context",
        "POST",
        CHAT,
        {"json": chat(stream=True, messages=[{"role": "user", "content": LONG_PROMPT}])},
    ),
    Case("chat: streaming with 5 stop strings", "POST", CHAT, {"json": chat(stream=True, stop=list("abcde"))}),
    Case(
        "chat: a foreign Host (DNS rebinding)", "POST", CHAT, {"json": chat(), "headers": {"host": "attacker.example"}}
    ),
    Case("chat: a foreign Origin", "POST", CHAT, {"json": chat(), "headers": {"origin": "https://evil.example"}}, 403),
    Case("chat: Origin null (a sandboxed page)", "POST", CHAT, {"json": chat(), "headers": {"origin": "null"}}, 403),
    Case("chat: GET instead of POST", "GET", CHAT, {}, 405),
    # -- embeddings ------------------------------------------------------------------------------------
    Case("embeddings: 5,000 inputs", "POST", EMBED, {"json": {"model": "all-minilm-l6-v2", "input": ["a"] * 5000}}),
    Case("embeddings: token arrays", "POST", EMBED, {"json": {"model": "all-minilm-l6-v2", "input": [[1, 2, 3]]}}),
    Case("embeddings: an empty list", "POST", EMBED, {"json": {"model": "all-minilm-l6-v2", "input": []}}),
    Case("embeddings: input a number", "POST", EMBED, {"json": {"model": "all-minilm-l6-v2", "input": 5}}),
    Case("embeddings: an unknown model", "POST", EMBED, {"json": {"model": "text-embedding-9", "input": "hi"}}, 404),
    Case(
        "embeddings: dimensions 0",
        "POST",
        EMBED,
        {"json": {"model": "all-minilm-l6-v2", "input": "hi", "dimensions": 0}},
    ),
    Case(
        "embeddings: encoding hex",
        "POST",
        EMBED,
        {"json": {"model": "all-minilm-l6-v2", "input": "hi", "encoding_format": "hex"}},
    ),
    Case(
        "embeddings: a body over the limit",
        "POST",
        EMBED,
        {"json": {"model": "all-minilm-l6-v2", "input": "a" * 600_000}},
        413,
    ),
    Case("embeddings: an unpaired surrogate", "POST", EMBED, raw('{"model": "all-minilm-l6-v2", "input": "\\udc00"}')),
    # -- files -----------------------------------------------------------------------------------------
    Case(
        "files: declared 3 MB over a 1 MB limit",
        "POST",
        FILES,
        multipart(("purpose", None, b"fine-tune"), ("file", "a.jsonl", b"x" * 3 * 2**20)),
        413,
    ),
    Case("files: 64 MB chunked, no length", "POST", FILES, streamed_upload(64), 413),
    Case(
        "files: a truncated multipart body",
        "POST",
        FILES,
        multipart(("purpose", None, b"fine-tune"), ("file", "a.jsonl", b"{}"), close=False),
    ),
    Case("files: no file part", "POST", FILES, multipart(("purpose", None, b"fine-tune"))),
    Case(
        "files: an invalid purpose",
        "POST",
        FILES,
        multipart(("purpose", None, b"../../x"), ("file", "a.jsonl", b"{}\n")),
    ),
    Case("files: an empty file", "POST", FILES, multipart(("purpose", None, b"fine-tune"), ("file", "a.jsonl", b""))),
    Case(
        "files: two files",
        "POST",
        FILES,
        multipart(("purpose", None, b"fine-tune"), ("file", "a.jsonl", b"{}\n"), ("file", "b.jsonl", b"{}\n")),
    ),
    Case("files: not multipart", "POST", FILES, {"json": {"purpose": "fine-tune", "file": "x"}}),
    Case("files: traversal as a file id", "GET", FILES + "/..%2F..%2Fstate.db", {}, 404),
    Case("files: traversal to content", "GET", FILES + "/..%2Fstate.db/content", {}, 404),
    Case("files: an id with a trailing newline", "GET", FILES + f"/{FILE_ID}%0A", {}, 404),
    Case("files: delete an unknown file", "DELETE", FILES + f"/{FILE_ID}", {}, 404),
    # -- fine-tuning jobs ------------------------------------------------------------------------------
    Case("jobs: n_epochs 1e9", "POST", JOBS, {"json": hp(n_epochs=1_000_000_000)}),
    Case("jobs: batch_size 0", "POST", JOBS, {"json": hp(batch_size=0)}),
    Case("jobs: negative learning rate multiplier", "POST", JOBS, {"json": hp(learning_rate_multiplier=-1)}),
    Case(
        "jobs: learning rate multiplier NaN",
        "POST",
        JOBS,
        raw(json.dumps(hp(learning_rate_multiplier=1.0)).replace("1.0", "NaN")),
    ),
    Case("jobs: beta on supervised", "POST", JOBS, {"json": hp(beta=0.1)}),
    Case(
        "jobs: dpo beta 1000",
        "POST",
        JOBS,
        {"json": job(method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 1000}}})},
    ),
    Case("jobs: an unknown hyperparameter", "POST", JOBS, {"json": hp(warp_speed=9)}),
    Case("jobs: an unknown training file", "POST", JOBS, {"json": job(training_file=FILE_ID)}),
    Case("jobs: traversal as the training file", "POST", JOBS, {"json": job(training_file="../../state.db")}),
    Case("jobs: an unknown model", "POST", JOBS, {"json": job(model="gpt-9")}),
    Case("jobs: traversal in the suffix", "POST", JOBS, {"json": job(suffix="../../etc")}),
    Case(
        "jobs: replay prompts outside the project",
        "POST",
        JOBS,
        {"json": job(metadata={"tunesmith_set": "train.replay.prompts=/etc/passwd"})},
    ),
    Case(
        "jobs: replay prompts through a symlink",
        "POST",
        JOBS,
        {"json": job(metadata={"tunesmith_set": "train.replay.prompts=outside/passwd"})},
    ),
    Case(
        "jobs: max_steps 0 through metadata",
        "POST",
        JOBS,
        {"json": job(metadata={"tunesmith_set": "train.max_steps=0"})},
    ),
    Case("jobs: 17 metadata keys", "POST", JOBS, {"json": job(metadata={f"k{i}": "v" for i in range(17)})}),
    Case("jobs: seed 2**40", "POST", JOBS, {"json": job(seed=2**40)}),
    Case("jobs: traversal as a job id", "GET", JOBS + "/..%2F..%2Fstate.db", {}, 404),
    Case("jobs: cancel an unknown job", "POST", JOBS + "/ftjob-" + "0" * 24 + "/cancel", {}, 404),
    # -- the workbench ---------------------------------------------------------------------------------
    Case(
        "workbench: upload over the limit",
        "POST",
        UI + "/datasets/upload",
        multipart(("file", "a.jsonl", b"x" * 3 * 2**20)),
        413,
    ),
    Case("workbench: upload 64 MB chunked", "POST", UI + "/datasets/upload", streamed_upload(64), 413),
    Case("workbench: an empty upload", "POST", UI + "/datasets/upload", multipart(("file", "a.jsonl", b""))),
    Case("workbench: a knowledge path outside", "POST", UI + "/jobs", ui_job({"knowledge.paths": ["/etc"]})),
    Case("workbench: a knowledge path with ..", "POST", UI + "/jobs", ui_job({"knowledge.paths": ["../.."]})),
    Case(
        "workbench: a knowledge path through a symlink", "POST", UI + "/jobs", ui_job({"knowledge.paths": ["outside"]})
    ),
    Case(
        "workbench: golden outputs outside",
        "POST",
        UI + "/jobs",
        ui_job({"data.golden.path": "/etc/passwd"}, kind="data"),
    ),
    Case(
        "workbench: a data source outside",
        "POST",
        UI + "/jobs",
        ui_job({"data.sources": [{"path": "/etc/passwd"}]}, kind="data"),
    ),
    Case(
        "workbench: a vector store URL",
        "POST",
        UI + "/jobs",
        ui_job({"knowledge.store.url": "postgresql://attacker.example/x"}),
    ),
    Case("workbench: an input that is a path", "POST", UI + "/jobs", ui_job(inputs={"data": "/etc"}, kind="train")),
    Case("workbench: an input with ..", "POST", UI + "/jobs", ui_job(inputs={"data": "../../runs/x"}, kind="train")),
    Case("workbench: an unknown job kind", "POST", UI + "/jobs", ui_job(kind="shell")),
    Case("workbench: values not a mapping", "POST", UI + "/jobs", {"json": {"kind": "kb", "values": "x"}}),
    Case("workbench: a job body that is a list", "POST", UI + "/jobs", {"json": [1, 2]}),
    Case("workbench: max_steps 0", "POST", UI + "/jobs", ui_job({"train.max_steps": 0}, kind="train")),
    Case(
        "workbench: a job from a foreign Origin",
        "POST",
        UI + "/jobs",
        {**ui_job(), "headers": {"origin": "https://evil.example"}},
        403,
    ),
    Case(
        "workbench: promote from a foreign Origin",
        "POST",
        UI + "/releases/1/promote",
        {"json": {}, "headers": {"origin": "https://evil.example"}},
        403,
    ),
    Case("workbench: promote version 'abc'", "POST", UI + "/releases/abc/promote", {"json": {}}),
    Case("workbench: traversal as a dataset run", "GET", UI + "/datasets/..%2F..%2Fetc", {}, 404),
    Case("workbench: a search query of 10,000 characters", "GET", UI + "/knowledge/search?q=" + "a" * 10000),
    Case("workbench: a negative offset", "GET", UI + "/datasets/x/examples?offset=-1"),
    Case("workbench: a bad job id", "POST", UI + "/jobs/..%2F..%2Fx/cancel", {}, 404),
    Case("workbench: a lineage version with SQL", "GET", UI + "/releases/1;drop/lineage"),
]


@pytest.fixture(scope="module")
def file_id(reliability_server: Server) -> str:
    train = (reliability_server.project / "train.jsonl").read_bytes()
    response = httpx.post(
        f"{reliability_server.url}{FILES}", data={"purpose": "fine-tune"}, files={"file": ("train.jsonl", train)}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_request_gets_a_4xx_and_the_server_keeps_answering(
    case: Case, reliability_server: Server, file_id: str
) -> None:
    request = (
        json.loads(json.dumps(case.request).replace("{file}", file_id)) if "json" in case.request else case.request
    )
    response = httpx.request(case.method, reliability_server.url + case.path, timeout=60, **request)
    assert response.status_code == case.status, response.text[:500]
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
    assert "Traceback" not in response.text
    assert canary(reliability_server.url).status_code == 200


def _files(url: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{url}{FILES}").json()["data"])


def test_a_hostile_file_name_becomes_a_label_and_an_unreadable_upload_records_nothing(
    reliability_server: Server,
) -> None:
    url = reliability_server.url
    before = len(_files(url))
    rows = (reliability_server.project / "train.jsonl").read_bytes()
    # a raw NUL byte and 200 emoji in the name (the client library would escape them; a hostile one does not)
    name = b"a\x00b\xe2\x80\xae" + "😀".encode() * 200 + b".jsonl"
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + name
        + b'"\r\n\r\n'
        + rows
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = httpx.post(f"{url}{UI}/datasets/upload", content=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text[:500]
    files = _files(url)
    assert len(files) == before + 1
    label = files[0]["filename"]
    assert "\x00" not in label and "\u202e" not in label and label.endswith(".jsonl") and len(label.encode()) <= 120
    # a body cut off before its end: refused, nothing recorded
    truncated = multipart(("file", "more.jsonl", rows), close=False)
    refused = httpx.post(f"{url}{UI}/datasets/upload", timeout=60, **truncated)
    assert refused.status_code == 400 and "Traceback" not in refused.text, refused.text[:500]
    assert len(_files(url)) == before + 1
    # bytes that are not text at all: read, every row rejected with its reason (nothing dropped silently)
    garbage = httpx.post(
        f"{url}{UI}/datasets/upload", timeout=60, **multipart(("file", "tool.exe", b"MZ\x90\x00" * 100))
    )
    assert garbage.status_code == 200 and garbage.json()["status"] == "failed"
    assert "invalid UTF-8" in " ".join(garbage.json()["problems"])
    assert canary(url).status_code == 200
