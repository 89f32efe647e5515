"""`tunesmith label`, `tunesmith judge check` and a gate on the judge's metric, as a user runs them: real CLI
processes, a judge behind a real HTTP endpoint (scripted, so agreement is known), labels typed on stdin."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import run_cli
from tunesmith.core.rundir import RunDir
from tunesmith.eval.labels import review_items


class _Judge(BaseHTTPRequestHandler):
    """Grades by the company's sign-off: 'Happy trails' scores 9, anything else 2; pairwise likewise."""

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        if "Reply A:" in prompt:
            a = "Happy trails" in prompt.split("Reply A:\n")[1].split("\n\nReply B:")[0]
            b = "Happy trails" in prompt.split("Reply B:\n")[1].split("\n\nWhich")[0]
            text = "A" if a and not b else "B" if b and not a else "tie"
        else:
            text = "Score: 9" if "Happy trails" in prompt.split("Reply to grade:\n")[1] else "Score: 2"
        data = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def judge_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def _project(folder: Path, judge_url: str) -> tuple[Path, RunDir, list[dict[str, Any]]]:
    cfg = {
        "name": "labels",
        "system_prompt": "You are a support assistant.",
        "eval": {"judge": {"endpoint": judge_url, "model": "judge"}, "judge_check": {"min_labels": 4}},
        "gates": {
            "checks": [{"name": "judged voice", "metric": "judge_score", "system": "finetuned", "min": 0.5}],
            "pii": None,
            "toxicity": None,
            "retention": None,
        },
        "tracking": {"enabled": False},
    }
    (folder / "tunesmith.yaml").write_text(yaml.safe_dump(cfg))
    rows = []
    for i in range(4):
        for system, text in (("base", f"Answer {i}."), ("finetuned", f"Answer {i}. Happy trails!")):
            rows.append(
                {"id": f"ex{i}", "system": system, "input": f"Question {i}?", "reference": "Ref.", "output": text}
            )
    run = RunDir.create(folder / "runs", "eval")
    run.path("outputs.jsonl").write_text("".join(json.dumps({**r, "scores": {}}) + "\n" for r in rows))
    interval = {"mean": 0.9, "low": 0.8, "high": 1.0, "n": 4}
    run.write_json("scores.json", {"finetuned": {"judge_score": interval}, "base": {"judge_score": interval}})
    run.write_json("comparisons.json", [])
    run.write_json("summary.json", {"primary": "judge_score", "test_examples": 4, "systems": {}})
    run.finish()
    return folder, run, rows


def test_label_then_check_the_judge_then_gate_on_it(tmp_path: Path, judge_url: str) -> None:
    project, run, rows = _project(tmp_path, judge_url)
    # a gate on the judge's metric before anyone has checked the judge: refused, with the way out
    refused = run_cli("gate", run.id, "--project", str(project))
    assert refused.returncode == 2 and "has not been checked against human labels" in refused.stderr + refused.stdout
    assert "tunesmith judge check" in refused.stdout + refused.stderr

    # grade every output the way the judge would (sign-off passes), typed on stdin in the order shown
    order = review_items(rows, [], run=run.id, who="ana")
    answers = ["maybe"]  # not understood: asked again
    answers += ["p5" if "Happy trails" in item.shown[0]["output"] else "f1" for item in order]
    graded = run_cli("label", run.id, "--who", "ana", "--project", str(project), input_="\n".join(answers) + "\n")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "8 labels written" in graded.stderr and "not understood" in graded.stderr
    labels = [json.loads(line) for line in (project / "labels" / "labels.jsonl").read_text().splitlines()]
    assert len(labels) == 8 and {lab["who"] for lab in labels} == {"ana"} and {lab["run"] for lab in labels} == {run.id}
    report = run.path("report.html").read_text()
    assert "Human labels" in report and "1.000 [1.000, 1.000]" in report  # the fine-tune's human pass rate

    # pairwise, blind: one preference, then quit; the systems are revealed only after the choice
    pairs = review_items(rows, [], run=run.id, who="ana", pair=("base", "finetuned"))
    first = "1" if "Happy trails" in pairs[0].shown[0]["output"] else "2"
    compared = run_cli(
        "label",
        run.id,
        "--who",
        "ana",
        "--pairwise",
        "base,finetuned",
        "--project",
        str(project),
        input_=f"{first}\nq\n",
    )
    assert compared.returncode == 0 and "1 labels written" in compared.stderr
    assert compared.stderr.index("reply 1") < compared.stderr.index(" was finetuned")

    checked = run_cli("judge", "check", "--project", str(project), "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = json.loads(checked.stdout)
    assert result["trusted"] and result["statistics"]["kappa"]["mean"] == 1.0
    assert result["labels"] == {"grades": 8, "pairwise": 1, "judge_unanswered": 0}

    gated = run_cli("gate", run.id, "--project", str(project))
    assert gated.returncode == 0, gated.stdout + gated.stderr
    # a different rubric makes a different judge: the check no longer covers it
    other = run_cli("gate", run.id, "--project", str(project), "--set", "eval.rubric=Is it short?")
    assert other.returncode == 2 and "has not been checked" in other.stdout + other.stderr

    # bad input: one line with the fix, no traceback
    wrong = run_cli("label", run.id, "--pairwise", "base,nope", "--project", str(project), input_="")
    assert wrong.returncode == 2 and "Pick two of: base, finetuned" in wrong.stdout + wrong.stderr
    assert "Traceback" not in wrong.stderr
