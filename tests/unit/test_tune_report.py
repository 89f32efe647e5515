"""The study report aims at the gate: the best trial is the best feasible one, and every infeasible trial says
which gate check it failed on validation (trials built in an in-memory Optuna study)."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

from tunesmith.tune.config import TuneConfig
from tunesmith.tune.report import report, report_html
from tunesmith.tune.study import constraints_func, hold_to, open_study


def _verdict(name: str, slack: float, reason: str) -> dict[str, object]:
    return {"name": name, "rule": name, "value": slack, "slack": slack, "passed": slack >= 0, "reason": reason}


def _trial(
    values: list[float], replay: float, verdicts: list[dict[str, object]], retention: float
) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        values=values,
        params={"replay": replay},
        distributions={"replay": optuna.distributions.FloatDistribution(0.0, 1.0)},
        user_attrs={
            "scores": [values[0]] * 4,
            "constraints": verdicts,
            "retention": retention,
            "train_run": f"r{replay}",
        },
    )


def test_the_best_feasible_trial_wins_and_infeasible_ones_say_why() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    forgot = [_verdict("retention", -0.05, "probe accuracy base 0.500, trial 0.350 (-0.150) on 40 items")]
    kept = [_verdict("retention", 0.08, "probe accuracy base 0.500, trial 0.480 (-0.020) on 40 items")]
    study.add_trial(_trial([0.45], 0.0, forgot, -0.15))  # the highest score, but it forgot general skills
    study.add_trial(_trial([0.41], 0.5, kept, -0.02))
    study.add_trial(_trial([0.38], 1.0, kept, 0.01))
    assert constraints_func(study.trials[0]) == [0.05] and constraints_func(study.trials[1]) == [-0.08]
    summary = report(study, objectives=["rouge_l"], directions=["maximize"], storage="memory")
    assert summary["best"]["number"] == 1 and summary["constrained"]
    assert summary["infeasible"] == [{"number": 0, "failed": [f"retention: {forgot[0]['reason']}"]}]
    page = report_html(summary)
    assert "Best feasible: trial 1" in page and "no: retention: probe accuracy" in page
    # the trade-off of the searched setting against the objective and retention, drawn
    assert 'aria-label="rouge_l against replay"' in page and 'aria-label="retention against replay"' in page


def test_no_feasible_trial_is_said_plainly() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial([0.3], 0.0, [_verdict("refusal", -0.5, "declined 0% of 6 out-of-scope requests")], 0.0))
    summary = report(study, objectives=["rouge_l"], directions=["maximize"], storage="memory")
    assert "best" not in summary and summary["no_feasible"].startswith("no finished trial met every gate check")


def test_several_objectives_make_a_pareto_front() -> None:
    study = optuna.create_study(directions=["maximize", "maximize"])
    ok = [_verdict("refusal", 0.2, "declined 4/6")]
    study.add_trial(_trial([0.45, -0.10], 0.0, ok, -0.10))
    study.add_trial(_trial([0.40, 0.02], 0.5, ok, 0.02))
    study.add_trial(_trial([0.35, -0.05], 1.0, ok, -0.05))  # worse on both than the second: off the front
    summary = report(study, objectives=["rouge_l", "retention"], directions=["maximize", "maximize"], storage="m")
    assert sorted(p["number"] for p in summary["pareto"]) == [0, 1]
    assert summary["objectives"] == {"rouge_l": "maximize", "retention": "maximize"}


def test_a_held_trial_gives_the_sampler_its_gate_slack_without_deprecated_arguments(tmp_path: Path) -> None:
    """The sampler learns from each check's slack (feasible when every constraint is <= 0), read where the
    installed Optuna reads it, and opening the study warns about nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study = open_study(TuneConfig(), tmp_path, "project")
    checks = [_verdict("refusal", 0.25, "declined 9/12"), _verdict("retention", -0.04, "dropped 0.14")]
    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-5, 1e-3, log=True)
    hold_to(trial, checks)
    study.tell(trial, 0.3)
    [done] = study.trials
    assert done.user_attrs["constraints"] == checks
    if hasattr(optuna.trial.Trial, "set_constraint"):  # Optuna >= 5
        assert list(done.constraints.values()) == [-0.25, 0.04]
        assert list(done.constraints) == ["00 refusal", "01 retention"]
    else:
        assert constraints_func(done) == [-0.25, 0.04]
