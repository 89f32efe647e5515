"""A fine-tuning job's training settings, typed once from its OpenAI fields.

The API checks them when a job is created (a bad value is a 400 then, not a failed job later); the worker
hands the same settings to `tunesmith train --settings`, so nothing is re-parsed from `--set` strings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tunesmith.serve.openai_schema import OpenAIError

METHOD_RECIPES = {"supervised": "sft-lora", "dpo": "dpo"}
SETTINGS_KEY = "tunesmith_set"  # metadata extension: training settings OpenAI's API has no field for


def train_settings(
    method: dict[str, Any], seed: int, metadata: dict[str, str] | None, project_dir: Path | None = None
) -> dict[str, Any]:
    """The `train:` settings a job trains with, as typed values: the method's recipe and hyperparameters,
    the seed, and `train.*` settings from the metadata extension ("train.lora_r=32;train.max_steps=200").

    Raises ``OpenAIError`` (400) for a setting that is not a training setting or has a bad value, or (with
    ``project_dir``) one a remote caller may not set: a path out of the project, an endpoint.
    """
    from tunesmith.train.config import TrainConfig

    kind = method["type"]
    hp = method.get(kind, {}).get("hyperparameters", {}) or {}
    settings: dict[str, Any] = {"recipe": METHOD_RECIPES[kind], "seed": seed}
    for ours, theirs in (("epochs", "n_epochs"), ("batch_size", "batch_size")):
        if hp.get(theirs, "auto") != "auto":
            settings[ours] = hp[theirs]
    if hp.get("learning_rate_multiplier", "auto") != "auto":
        settings["learning_rate_multiplier"] = hp["learning_rate_multiplier"]
    if kind == "dpo" and hp.get("beta", "auto") != "auto":
        settings["beta"] = hp["beta"]
    param = f"metadata.{SETTINGS_KEY}"
    for item in [s.strip() for s in (metadata or {}).get(SETTINGS_KEY, "").split(";") if s.strip()]:
        key, sep, raw = item.partition("=")
        name = key.strip().removeprefix("train.")
        if not sep or not key.strip().startswith("train.") or "." in name:
            raise OpenAIError(
                400, f"'{item}' is not a training setting: write train.NAME=VALUE, separated by ';'.", param=param
            )
        try:
            settings[name] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            settings[name] = raw
    try:
        typed = TrainConfig.model_validate(settings)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        raise OpenAIError(400, f"train.{key}: {err['msg']}"[:500], param=param) from None
    if project_dir is not None:
        from tunesmith.core.errors import ConfigError
        from tunesmith.serve.confine import check_remote_changes

        try:
            check_remote_changes(TrainConfig(), typed, project_dir)
        except ConfigError as exc:
            raise OpenAIError(400, f"train.{exc.where}: {exc.what}. {exc.fix}", param=param) from None
    return settings
