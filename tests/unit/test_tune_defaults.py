"""The project's own configuration as trial 0 of a study, `auto` settings included."""

from __future__ import annotations

from tunesmith.train.config import TrainConfig
from tunesmith.tune.config import TuneConfig
from tunesmith.tune.study import default_params

SPACE = {"learning_rate": {"low": 2e-4, "high": 3e-3, "log": True}, "lora_r": {"choices": [8, 16, 32]}}


def test_concrete_settings_inside_the_space_are_trial_0() -> None:
    cfg = TuneConfig.model_validate({"search_space": SPACE})
    assert default_params(cfg, TrainConfig(learning_rate=0.001, lora_r=16)) == {"learning_rate": 0.001, "lora_r": 16}
    assert default_params(cfg, TrainConfig(learning_rate=0.01, lora_r=16)) is None  # outside the range
    assert default_params(cfg, TrainConfig(learning_rate=0.001, lora_r=64)) is None  # not a choice


def test_auto_settings_count_as_what_training_resolves_them_to() -> None:
    cfg = TuneConfig.model_validate({"search_space": SPACE})
    train = TrainConfig(learning_rate="auto", lora_r=16)
    assert default_params(cfg, train) is None
    assert default_params(cfg, train, {"learning_rate": 0.001}) == {"learning_rate": 0.001, "lora_r": 16}
