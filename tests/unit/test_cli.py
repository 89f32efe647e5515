from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tunesmith import __version__
from tunesmith.project import load_project


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_init_writes_a_valid_project_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "acme"
    result = run_cli("init", str(target), "--name", "acme-support")
    assert result.returncode == 0, result.stderr
    project = load_project(target)
    assert project.config.name == "acme-support"
    text = (target / "tunesmith.yaml").read_text()
    assert text.count("#") > 10  # commented
    again = run_cli("init", str(target))
    assert again.returncode == 2 and "--force" in again.stderr


def test_validate_json_report(tmp_path: Path) -> None:
    import json

    path = tmp_path / "data.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    result = run_cli("data", "validate", str(path), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["by_code"]["no_assistant_message"] == 1 and report["problems"][0]["line"] == 1
