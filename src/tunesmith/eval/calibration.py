"""`tunesmith judge check`: does the LLM judge agree with the people who labelled outputs?

The judge grades every labelled output and compares every labelled pair, with
the same prompts and settings an evaluation uses; agreement is measured with
the statistic each kind of label calls for (Cohen's kappa for pass/fail,
Spearman's rho and Kendall's tau-b for 1-5 scores, accuracy for preferences),
each with a bootstrap interval over the labelled items. The check is recorded
in a run folder with a fingerprint of the judge (model, rubric, prompts, pass
score); gates and tuning objectives that use the judge look for a check with
the current fingerprint and refuse to run without a passing one, so changing
the judge model or rubric asks for a new check.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.core.errors import ConfigError
from tunesmith.core.rundir import RunDir
from tunesmith.core.stats import Interval, bootstrap_statistic
from tunesmith.eval.config import EvalConfig
from tunesmith.eval.labels import Label, LabelStore
from tunesmith.models.generation import Generator

STAGE = "judge-check"


def judge_metrics(cfg: EvalConfig) -> frozenset[str]:
    """Metrics whose values come from the judge: a gate check or tuning objective on one relies on it.
    Groundedness is the judge's only when one is configured (else it is measured with embeddings)."""
    return frozenset({"judge_score", "groundedness"} if cfg.judge is not None else {"judge_score"})


def label_store(project_dir: Path, cfg: EvalConfig) -> LabelStore:
    path = (project_dir / cfg.labels).resolve()
    if not path.is_relative_to(project_dir.resolve()):
        raise ConfigError(
            f"the labels file {cfg.labels} is outside the project", where="eval.labels", fix="Use a path inside it."
        )
    return LabelStore(path)


def fingerprint(cfg: EvalConfig) -> str:
    """What makes two judges the same judge: the model, the rubric, the prompts and the pass score."""
    from tunesmith.eval.judge import GRADE, PAIR

    if cfg.judge is None:
        return ""
    parts = [cfg.judge.model_dump_json(), cfg.rubric, GRADE, PAIR, repr(cfg.judge_check.pass_score)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


# -- agreement statistics ---------------------------------------------------------------------
def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Agreement of two raters on pass/fail beyond chance; nan when chance agreement is total (one class)."""
    a, b = a.astype(bool), b.astype(bool)
    observed = float(np.mean(a == b))
    pa, pb = float(np.mean(a)), float(np.mean(b))
    expected = pa * pb + (1 - pa) * (1 - pb)
    return math.nan if expected >= 1 else (observed - expected) / (1 - expected)


def _rank_statistic(kind: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def statistic(a: np.ndarray, b: np.ndarray) -> float:
        from scipy.stats import kendalltau, spearmanr

        if len(np.unique(a)) < 2 or len(np.unique(b)) < 2:
            return math.nan  # a constant rater has no ranking to agree with
        result = spearmanr(a, b) if kind == "spearman" else kendalltau(a, b)
        return float(result.statistic)

    return statistic


def _interval(
    statistic: Callable[[np.ndarray, np.ndarray], float], a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> Interval:
    return bootstrap_statistic(lambda idx: statistic(a[idx], b[idx]), len(a), resamples=resamples, seed=seed)


# -- the check ---------------------------------------------------------------------------------
def check_judge(cfg: EvalConfig, judge: Generator, labels: list[Label], *, seed: int = 0) -> dict[str, Any]:
    """Run the judge on every labelled item; agreement per statistic, and the disagreements worst first."""
    from tunesmith.eval.judge import judge_pairwise, judge_scores

    settings = cfg.judge_check
    grades = [label for label in labels if label.kind == "grade" and label.output is not None]
    pairs = [label for label in labels if label.kind == "pairwise" and label.outputs]
    graded = judge_scores(
        judge,
        [g.input for g in grades],
        [g.output or "" for g in grades],
        [g.reference for g in grades],
        cfg.rubric,
    )
    verdicts = judge_pairwise(
        judge,
        [p.input for p in pairs],
        [(p.outputs or ["", ""])[0] for p in pairs],
        [(p.outputs or ["", ""])[1] for p in pairs],
        cfg.rubric,
    )
    stats: dict[str, Any] = {}
    unanswered = sum(math.isnan(g) for g in graded)

    passfail = [
        (g.passed, j) for g, j in zip(grades, graded, strict=True) if g.passed is not None and not math.isnan(j)
    ]
    if passfail:
        human = np.asarray([h for h, _ in passfail], dtype=float)
        machine = np.asarray([j >= settings.pass_score for _, j in passfail], dtype=float)
        stats["kappa"] = _stat(
            _interval(cohen_kappa, human, machine, settings.resamples, seed), settings.min_kappa, settings
        )
        stats["kappa"]["raw_agreement"] = float(np.mean(human == machine))
    scored = [(g.score, j) for g, j in zip(grades, graded, strict=True) if g.score is not None and not math.isnan(j)]
    if scored:
        human = np.asarray([h for h, _ in scored], dtype=float)
        machine = np.asarray([j for _, j in scored], dtype=float)
        stats["spearman"] = _stat(
            _interval(_rank_statistic("spearman"), human, machine, settings.resamples, seed),
            settings.min_spearman,
            settings,
        )
        # Kendall's tau is reported beside rho (it handles the many ties of a 1-5 scale better) but not gated
        stats["kendall"] = _stat(
            _interval(_rank_statistic("kendall"), human, machine, settings.resamples, seed), None, settings
        )
    human_pairs = [_human_verdict(p) for p in pairs]
    if pairs:
        human = np.asarray(human_pairs, dtype=float)
        machine = np.asarray(verdicts, dtype=float)
        stats["pairwise_accuracy"] = _stat(
            _interval(lambda a, b: float(np.mean(a == b)), human, machine, settings.resamples, seed),
            settings.min_pairwise_accuracy,
            settings,
        )
    disagreements = _disagreements(grades, graded, pairs, human_pairs, verdicts, settings.pass_score)
    measured = [s for s in stats.values() if s["gated"]]
    trusted = bool(measured) and all(s["passed"] for s in measured)
    return {
        "fingerprint": fingerprint(cfg),
        "judge": cfg.judge.model_dump(mode="json") if cfg.judge is not None else None,
        "labels": {"grades": len(grades), "pairwise": len(pairs), "judge_unanswered": unanswered},
        "statistics": stats,
        "trusted": trusted,
        "reason": _reason(stats, trusted, settings.min_labels),
        "disagreements": disagreements,
    }


def _human_verdict(label: Label) -> float:
    """1 when the person preferred the left output, 0 the right, 0.5 a tie (the judge's scale)."""
    systems = label.systems or ["", ""]
    return 0.5 if label.preferred == "tie" else float(label.preferred == systems[0])


def _stat(interval: Interval, threshold: float | None, settings: Any) -> dict[str, Any]:
    out: dict[str, Any] = {**interval.to_dict(), "threshold": threshold}
    enough = interval.n >= settings.min_labels
    out["gated"] = threshold is not None and enough
    if threshold is None:
        out["passed"] = None
    elif not enough:
        out["passed"] = None
        out["why"] = f"{interval.n} labels < {settings.min_labels} (eval.judge_check.min_labels)"
    else:
        value = interval.low if settings.on == "interval" else interval.mean
        out["passed"] = bool(not math.isnan(value) and value >= threshold)
        if math.isnan(value):
            out["why"] = "undefined: the labels (or the judge) use one class only; label some of the other too"
        else:
            basis = "lower bound" if settings.on == "interval" else "value"
            out["why"] = f"{basis} {value:.3f} {'>=' if out['passed'] else '<'} {threshold:g}"
    return out


def _reason(stats: dict[str, Any], trusted: bool, min_labels: int) -> str:
    gated = {name: s for name, s in stats.items() if s["gated"]}
    if not gated:
        counts = ", ".join(f"{name} on {s['n']}" for name, s in stats.items() if s["threshold"] is not None)
        return f"too few labels: each statistic needs {min_labels}" + (f" ({counts})" if counts else " (none yet)")
    parts = [f"{name} {s['why']}" for name, s in gated.items()]
    return ("trusted: " if trusted else "not trusted: ") + "; ".join(parts)


def _disagreements(
    grades: list[Label],
    graded: list[float],
    pairs: list[Label],
    human_pairs: list[float],
    verdicts: list[float],
    pass_score: float,
) -> list[dict[str, Any]]:
    """Every item where the judge and the person differ, worst first (0..1: how far apart they are)."""
    out = []
    for label, judged in zip(grades, graded, strict=True):
        if math.isnan(judged):
            gap = 1.0  # the judge gave no grade at all
        elif label.score is not None:
            gap = abs((label.score - 1) / 4 - judged)
        else:
            gap = abs(float(bool(label.passed)) - judged)
        flipped = label.passed is not None and not math.isnan(judged) and (judged >= pass_score) != label.passed
        if flipped:
            gap = max(gap, 0.5)  # on opposite sides of the pass line: a disagreement that changes a verdict
        elif gap < 0.25:
            continue  # within about one step of the 1-5 scale
        out.append(
            {
                "label": label.id,
                "kind": "grade",
                "example": label.example,
                "system": label.system,
                "who": label.who,
                "human": {"passed": label.passed, "score": label.score},
                "judge": None if math.isnan(judged) else round(judged, 4),
                "gap": round(gap, 4),
                "input": label.input,
                "output": label.output,
            }
        )
    for label, human, judged in zip(pairs, human_pairs, verdicts, strict=True):
        if human == judged:
            continue
        systems = label.systems or ["", ""]
        out.append(
            {
                "label": label.id,
                "kind": "pairwise",
                "example": label.example,
                "systems": systems,
                "who": label.who,
                "human": label.preferred,
                "judge": systems[0] if judged == 1 else systems[1] if judged == 0 else "tie",
                "gap": abs(human - judged),
                "input": label.input,
            }
        )
    out.sort(key=lambda d: -d["gap"])
    return out


# -- recording and trusting a check -------------------------------------------------------------
def record(project_dir: Path, cfg: EvalConfig, result: dict[str, Any], labels_path: Path) -> RunDir:
    from tunesmith.core.hashing import sha256_file
    from tunesmith.core.jsonl import write_jsonl
    from tunesmith.registry.runs import runs_root

    run = RunDir.create(runs_root(project_dir), STAGE, cfg.judge_check.model_dump(mode="json"))
    write_jsonl(run.path("disagreements.jsonl"), result["disagreements"])
    run.write_json("check.json", {k: v for k, v in result.items() if k != "disagreements"})
    run.record_inputs(
        labels=str(labels_path), labels_sha256=sha256_file(labels_path) if labels_path.is_file() else None
    )
    run.finish(
        summary={
            "fingerprint": result["fingerprint"],
            "trusted": result["trusted"],
            "reason": result["reason"],
            "statistics": {k: {"mean": v["mean"], "n": v["n"]} for k, v in result["statistics"].items()},
            "disagreements": len(result["disagreements"]),
        }
    )
    return run


def latest_check(project_dir: Path, cfg: EvalConfig) -> dict[str, Any] | None:
    """The newest finished check of the judge as configured now (same fingerprint), or None."""
    from tunesmith.registry.runs import list_runs

    wanted = fingerprint(cfg)
    for run in reversed(list_runs(project_dir, STAGE)):
        if run.status != "succeeded" or not run.path("check.json").is_file():
            continue
        check = run.read_json("check.json")
        if check.get("fingerprint") == wanted:
            return {**check, "run": run.id}
    return None


def require_trusted_judge(project_dir: Path, cfg: EvalConfig, use: str) -> dict[str, Any]:
    """The passing check that lets ``use`` (a gate or objective) rely on the judge; else one clear error."""
    check = latest_check(project_dir, cfg)
    fix = (
        "Label evaluation outputs (`tunesmith label`, or the Review page of `tunesmith serve`), then run "
        "`tunesmith judge check`; or stop using the judge there."
    )
    if check is None:
        raise ConfigError(
            f"{use} uses the LLM judge, but this judge (model, rubric, prompts) has not been checked against "
            "human labels",
            where="eval.judge_check",
            fix=fix,
        )
    if not check["trusted"]:
        raise ConfigError(
            f"{use} uses the LLM judge, but its last check ({check['run']}) found it {check['reason']}",
            where="eval.judge_check",
            fix="Improve the judge (a stronger model, a clearer eval.rubric) and run `tunesmith judge check` "
            "again, or label more outputs.",
        )
    return check
