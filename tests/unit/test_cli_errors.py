"""Bad input: one clear line (what, where, how to fix), exit code 2, no traceback unless --debug."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def assert_clean_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def test_missing_project_file(tmp_path: Path) -> None:
    assert_clean_error(run_cli("data", "build", "--project", str(tmp_path)), "project file not found", "tunesmith init")


def test_malformed_yaml(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: x\ntrain: [oops\n")
    assert_clean_error(run_cli("train", "-p", str(tmp_path)), "malformed YAML", "tunesmith.yaml:")


def test_unknown_key(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: x\neval:\n  primery: rouge_l\n")
    assert_clean_error(
        run_cli("eval", "-p", str(tmp_path)), "unknown key 'eval.primery'", "tunesmith.yaml:3", "Did you mean 'primary'"
    )


def test_empty_dataset(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: x\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "golden.jsonl").write_text("")
    assert_clean_error(run_cli("data", "build", "-p", str(tmp_path)), "no usable golden outputs", "golden.jsonl")


def test_unreachable_endpoint(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text(
        "name: x\nmodels:\n  candidates:\n    - {endpoint: 'http://127.0.0.1:9/v1', model: big, timeout_s: 2}\n"
        "baseline:\n  templates: [{name: plain}]\n"
        "data:\n  golden: {path: g.jsonl}\n  split: {val: 0.5, test: 0.1}\n"
    )
    rows = [{"id": str(i), "input": f"question {i}", "output": f"answer {i}"} for i in range(20)]
    (tmp_path / "g.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert_clean_error(run_cli("baseline", "-p", str(tmp_path)), "cannot reach endpoint http://127.0.0.1:9/v1")


def test_missing_model_folder(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: x\nmodels:\n  base: ./no-such-model\ndata:\n  points: 0\n")
    (tmp_path / "data").mkdir()
    rows = [{"id": str(i), "input": f"question {i}", "output": f"answer {i}"} for i in range(20)]
    (tmp_path / "data" / "golden.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert_clean_error(run_cli("data", "build", "-p", str(tmp_path)), "no-such-model")


def test_missing_knowledge_folder(tmp_path: Path) -> None:
    (tmp_path / "tunesmith.yaml").write_text("name: x\nknowledge:\n  paths: [docs]\n")
    (tmp_path / "data").mkdir()
    rows = [{"id": str(i), "input": f"question {i}", "output": f"answer {i}"} for i in range(20)]
    (tmp_path / "data" / "golden.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert_clean_error(run_cli("data", "build", "-p", str(tmp_path)), "knowledge-base path not found", "docs")


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run_cli("data", "build", "--project", str(tmp_path), "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_unknown_option_is_a_usage_error_not_an_internal_one(tmp_path: Path) -> None:
    # typer ships its own copy of click: its usage errors must still read as usage errors
    result = run_cli("train", "--no-such-option", "-p", str(tmp_path))
    assert result.returncode == 2 and "No such option: --no-such-option" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_unknown_gguf_type(tmp_path: Path) -> None:
    # was written as f32 without a word: any value but "f16" meant f32
    (tmp_path / "tunesmith.yaml").write_text("name: x\n")
    assert_clean_error(
        run_cli("export", "--gguf", "--gguf-dtype", "q4", "-p", str(tmp_path)),
        "unknown GGUF tensor type 'q4'",
        "--gguf-dtype",
        "f32, f16, bf16, q8_0",
        "llama-quantize",
    )
