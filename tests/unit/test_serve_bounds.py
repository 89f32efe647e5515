"""The pieces of the server's bounds, without a server: confinement of remote settings, upload labels,
admission arithmetic, and streamed text equal to the final answer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.serve.admission import completion_budget
from tunesmith.serve.confine import check_remote_changes, check_run_id, inside
from tunesmith.serve.openai_schema import OpenAIError
from tunesmith.serve.streaming import TextDeltas
from tunesmith.serve.uploads import safe_filename
from tunesmith.train.config import TrainConfig


def test_inside_refuses_absolute_dotdot_and_symlinks_out(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    os.symlink("/etc", tmp_path / "out")
    os.symlink(tmp_path / "kb", tmp_path / "alias")
    assert inside(tmp_path, "kb") and inside(tmp_path, "kb/new.md") and inside(tmp_path, "alias")
    for bad in ("/etc", "../x", "kb/../../x", "out", "out/passwd", "C:\\\\x", "\\\\server\\share", "a\x00b", ""):
        assert not inside(tmp_path, bad), bad


def test_remote_changes_keep_paths_inside_and_endpoints_locked(tmp_path: Path) -> None:
    base = TrainConfig()
    check_remote_changes(base, base.updated(max_steps=5), tmp_path)  # an ordinary setting is fine
    with pytest.raises(ConfigError, match="outside the project"):
        check_remote_changes(base, TrainConfig.model_validate({"replay": {"prompts": "/etc/passwd"}}), tmp_path)
    from tunesmith.project import Project

    project = Project.model_validate({"name": "p"})
    moved = Project.model_validate({"name": "p", "knowledge": {"store": {"url": "postgresql://x/y"}}})
    with pytest.raises(ConfigError, match="cannot be changed from here"):
        check_remote_changes(project, moved, tmp_path)
    check_remote_changes(project, moved, tmp_path, settable=["knowledge.store"])  # the operator allowed it
    # what the project file already says is the operator's: an unchanged absolute path is not refused
    outside = Project.model_validate({"name": "p", "knowledge": {"paths": ["/srv/kb"]}})
    check_remote_changes(outside, outside.updated(system_prompt="Hi"), tmp_path)


def test_run_ids_are_not_paths() -> None:
    assert check_run_id("20261130-101010-data", "inputs.data")
    assert check_run_id("study.trial-3", "inputs.data")
    for bad in ("/etc", "../runs/x", "a/b", "..", "x\n", ""):
        with pytest.raises(ConfigError):
            check_run_id(bad, "inputs.data")


def test_upload_names_become_safe_labels() -> None:
    assert safe_filename("train.jsonl") == "train.jsonl"
    assert safe_filename("../../etc/passwd") == "_.._etc_passwd"
    assert safe_filename("a\x00b\u202e.jsonl") == "ab.jsonl"
    emoji = safe_filename("😀" * 200 + ".jsonl")
    assert emoji.endswith(".jsonl") and len(emoji.encode()) <= 120 and "\ufffd" not in emoji
    assert safe_filename("") == "upload.jsonl" and safe_filename("...") == "upload.jsonl"


def test_completion_budget_fits_the_context() -> None:
    assert completion_budget(100, None, 512, 8192) == 512
    assert completion_budget(8000, None, 512, 8192) == 192  # no max_tokens: what the context leaves
    assert completion_budget(100, 10**9, 512, 8192) == 512  # capped by the server
    with pytest.raises(OpenAIError) as raised:
        completion_budget(8000, 400, 512, 8192)
    assert "8400 tokens (8000 in the messages, 400 in the completion)" in raised.value.body["error"]["message"]
    with pytest.raises(OpenAIError):
        completion_budget(9000, None, 512, 8192)


def test_streamed_text_never_sends_a_stop_string_and_ends_as_the_answer(bundled_tokenizer) -> None:  # type: ignore[no-untyped-def]
    text = " Hello there, dear customer. END of message"
    ids = bundled_tokenizer(text, add_special_tokens=False)["input_ids"]
    deltas = TextDeltas(bundled_tokenizer, ("END",))
    sent = "".join(deltas.push(i) for i in ids)
    assert "E" not in sent.split("customer.")[-1]  # nothing of the stop string went out early
    final = "Hello there, dear customer."
    assert sent + deltas.finish(final) == final
    plain = TextDeltas(bundled_tokenizer, ())
    assert "".join(plain.push(i) for i in ids) + plain.finish(text.strip()) == text.strip()
