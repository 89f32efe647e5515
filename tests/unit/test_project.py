"""The project file: strict keys, errors with file, line and a suggestion."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.project import load_project
from tunesmith.starter import write_starter

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "northwind-support"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "tunesmith.yaml").write_text(text)
    return tmp_path


def test_example_project_loads() -> None:
    project = load_project(EXAMPLE)
    assert project.config.name == "northwind-support"
    assert project.config.data.golden.input_field == "ticket"
    assert [t.name for t in project.config.baseline.templates][:2] == ["style-guide", "style-guide+few-shot"]


def test_starter_project_is_valid(tmp_path: Path) -> None:
    write_starter(tmp_path, "acme")
    project = load_project(tmp_path)
    assert project.config.name == "acme"
    assert (tmp_path / "kb" / "README.md").exists()


def test_unknown_key_names_path_line_and_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "name: x\ntrain:\n  recipe: sft-lora\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    text = info.value.render()
    assert "train.learning_rat" in text
    assert "tunesmith.yaml:4" in text
    assert "Did you mean 'learning_rate'" in text


def test_unknown_top_level_section(tmp_path: Path) -> None:
    write(tmp_path, "name: x\ntrian:\n  epochs: 2\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert "'trian'" in info.value.render() and "Did you mean 'train'" in info.value.render()
    assert ":2" in info.value.render()


def test_invalid_value_names_line(tmp_path: Path) -> None:
    write(tmp_path, "name: x\ndata:\n  split:\n    test: 2\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert "data.split.test" in info.value.render() and "tunesmith.yaml:4" in info.value.render()


def test_malformed_yaml_has_line(tmp_path: Path) -> None:
    write(tmp_path, "name: x\ntrain:\n  epochs: [1, 2\n  lr: 3\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert "malformed YAML" in info.value.render()
    assert "tunesmith.yaml:" in info.value.render()


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "name: x\nname: y\n")
    with pytest.raises(ConfigError, match="appears twice"):
        load_project(tmp_path)


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert "tunesmith init" in info.value.render()


def test_overrides_apply_and_validate(tmp_path: Path) -> None:
    write(tmp_path, "name: x\n")
    project = load_project(tmp_path, ["train.epochs=2", "eval.limit=5"])
    assert project.config.train.epochs == 2 and project.config.eval.limit == 5
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path, ["train.epoch=2"])
    assert "--set train.epoch=2" in info.value.render()


def test_endpoint_cannot_be_base(tmp_path: Path) -> None:
    write(tmp_path, "name: x\nmodels:\n  base: {endpoint: 'http://localhost:1/v1', model: m}\n")
    with pytest.raises(ConfigError, match="must be local"):
        load_project(tmp_path)


def test_model_refs_parse(tmp_path: Path) -> None:
    write(tmp_path, "name: x\nmodels:\n  candidates:\n    - org/model\n    - {endpoint: 'http://h/v1', model: m}\n")
    project = load_project(tmp_path)
    kinds = [c.kind for c in project.config.models.candidates]
    assert kinds == ["hub", "endpoint"]
