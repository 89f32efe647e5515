"""Auto hyperparameters: how often a run evaluates (and saves) follows what evaluating costs."""

from __future__ import annotations

import pytest

from tunesmith.core.errors import ConfigError
from tunesmith.train import defaults
from tunesmith.train.config import TrainConfig


def _hp(n_eval: int, samples: int = 4, **settings: object) -> defaults.Hyperparameters:
    cfg = TrainConfig.model_validate(settings)
    return defaults.resolve(cfg, n_examples=224, n_params=135_000_000, n_eval=n_eval, eval_samples=samples)


def test_a_short_run_evaluates_twice_where_five_evaluations_would_cost_a_third_of_it() -> None:
    # the quick demo: 56 steps of 4, 26 validation examples, 4 sampled answers per evaluation
    hp = _hp(26, max_steps=56, batch_size=4)
    assert (hp.eval_steps, hp.save_steps) == (28, 28)
    assert "2 evaluations" in hp.reasons["save_steps"] and "tenth" in hp.reasons["save_steps"]


def test_a_long_run_keeps_five_evaluations() -> None:
    hp = _hp(26, max_steps=1000, batch_size=8)
    assert (hp.eval_steps, hp.save_steps) == (200, 200)
    assert hp.reasons["save_steps"] == "about 5 evaluations and checkpoints per run"


def test_between_the_two_the_count_is_what_a_tenth_of_the_training_affords() -> None:
    # each evaluation costs 26/3 + 2 x 4 = 16.7 examples' time; a tenth of 160 x 8 = 1280 affords 7 -> 5,
    # a tenth of 80 x 8 = 640 affords 3
    assert _hp(26, max_steps=160, batch_size=8).eval_steps == 32
    assert _hp(26, max_steps=80, batch_size=8).eval_steps == 27


def test_without_validation_or_with_an_explicit_interval_the_step_count_alone_decides() -> None:
    assert _hp(0, max_steps=56, batch_size=4).save_steps == 12
    explicit = _hp(26, max_steps=56, batch_size=4, eval_steps=7)
    assert explicit.eval_steps == 7 and explicit.save_steps % 7 == 0
    assert _hp(26, max_steps=56, batch_size=4, save_steps=14, keep="last").eval_steps == 14


def test_keeping_the_best_needs_a_save_at_every_evaluation() -> None:
    with pytest.raises(ConfigError, match="not a multiple of eval_steps"):
        _hp(26, max_steps=56, batch_size=4, save_steps=10, eval_steps=4)
