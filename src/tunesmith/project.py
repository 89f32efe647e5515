"""The project file, `tunesmith.yaml`: one file declares the whole workflow.

Each section is the owning stage's own config class; this module only
composes them and loads the file with errors that point at the line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator

from tunesmith.core.errors import ConfigError
from tunesmith.core.schema import StrictModel
from tunesmith.core.validation import validate_located
from tunesmith.core.yamlfile import LocatedYaml, load_yaml
from tunesmith.eval.config import EvalConfig
from tunesmith.gate.config import GatesConfig
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.models.resolve import DEFAULT_MODEL
from tunesmith.models.spec import LocalModelRef, ModelRef
from tunesmith.prompts.config import BaselineConfig
from tunesmith.registry.config import TrackingConfig
from tunesmith.serve.config import ServeConfig
from tunesmith.synth.config import DataBuildConfig
from tunesmith.train.config import TrainConfig
from tunesmith.tune.config import TuneConfig

PROJECT_FILE = "tunesmith.yaml"


class ModelsConfig(StrictModel):
    """The model to fine-tune and the candidates the baseline compares."""

    base: ModelRef = Field(default_factory=lambda: LocalModelRef(id=DEFAULT_MODEL))
    """The model that is fine-tuned (must run locally)."""
    candidates: list[ModelRef] = Field(default_factory=list)
    """More models to prompt in the baseline (local or endpoints); the base model is always included."""

    @field_validator("base")
    @classmethod
    def _local_base(cls, value: Any) -> Any:
        if not isinstance(value, LocalModelRef):
            raise ValueError("the base model must be local (an endpoint cannot be fine-tuned here)")
        return value


class Project(StrictModel):
    """Everything tunesmith needs to run the workflow for one use case."""

    name: str
    """Project name (used in model ids and reports)."""
    use_case: str = ""
    """What the model is for, in one or two sentences (goes into model cards and reports)."""
    system_prompt: str = ""
    """System prompt of the fine-tuned model (keep it short: the voice is learned, not prompted)."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    """Base model and baseline candidates."""
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    """The knowledge base used to build data and to ground answers."""
    data: DataBuildConfig = Field(default_factory=DataBuildConfig)
    """Golden outputs and how demonstration pairs are built from them."""
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    """Prompt experiments that set the baseline."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Fine-tuning recipe."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation grid and metrics."""
    tune: TuneConfig = Field(default_factory=TuneConfig)
    """Hyperparameter search (`tunesmith tune`)."""
    gates: GatesConfig = Field(default_factory=GatesConfig)
    """Release gates checked by `tunesmith gate`."""
    serve: ServeConfig = Field(default_factory=ServeConfig)
    """Server settings."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """MLflow experiment tracking and model registry."""

    @property
    def base_model(self) -> LocalModelRef:
        assert isinstance(self.models.base, LocalModelRef)
        return self.models.base


@dataclass
class LoadedProject:
    config: Project
    dir: Path
    file: Path
    doc: LocatedYaml

    def where(self, *key_path: str | int) -> str:
        return self.doc.where(tuple(key_path))

    def with_config(self, **sections: Any) -> LoadedProject:
        """The same project with whole sections replaced by typed, already validated ones (a tuning trial's
        TrainConfig, say): settings travel as typed objects, never re-parsed from strings."""
        return replace(self, config=self.config.model_copy(update=sections))


def apply_overrides(doc: LocatedYaml, overrides: list[str]) -> None:
    """`--set train.epochs=2` style overrides, values parsed as YAML scalars."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                f"override '{item}' is not KEY=VALUE", where="--set", fix="Write e.g. --set train.epochs=2"
            )
        key, raw = item.split("=", 1)
        parts: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target: Any = doc.data
        for part in parts[:-1]:
            if isinstance(target, dict):
                target = target.setdefault(part, {})
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                target = target[part]
            else:
                raise ConfigError(f"override '{key}' does not name a setting", where="--set")
        if isinstance(target, list) and isinstance(parts[-1], int) and parts[-1] < len(target):
            target[parts[-1]] = value
        elif isinstance(target, dict):
            target[parts[-1]] = value
        else:
            raise ConfigError(f"override '{key}' does not name a setting", where="--set")
        doc.lines.pop(tuple(parts), None)
        doc.origins[tuple(parts)] = f"--set {item}"


def load_project(project_dir: Path, overrides: list[str] | None = None) -> LoadedProject:
    """Read and validate `tunesmith.yaml` in ``project_dir``; errors name the file, line and key."""
    project_dir = project_dir.resolve()
    if project_dir.is_file():
        file, project_dir = project_dir, project_dir.parent
    else:
        file = project_dir / PROJECT_FILE
    if not project_dir.exists():
        raise ConfigError(
            "project folder not found", where=str(project_dir), fix="Pass an existing folder with --project."
        )
    doc = load_yaml(file)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            "the project file must be a mapping of sections (name:, models:, data:, ...)",
            where=str(file),
            fix="Run `tunesmith init` to see the expected layout.",
        )
    apply_overrides(doc, overrides or [])
    config = validate_located(Project, doc)
    return LoadedProject(config=config, dir=project_dir, file=file, doc=doc)
