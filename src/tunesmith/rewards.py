"""GRPO's reward functions, built from what the project already declares.

They live above the stages (beside the pipeline) because they join two of them: training calls them and
they are the evaluation's metrics. The pipeline builds them and hands them to the GRPO recipe, which knows
only callables and weights.

Each reward is one of the evaluation's own metrics (so training optimizes what
the evaluation measures, with the same code): the style rules, the format
regex or JSON schema, embedding similarity or ROUGE-L to the golden output,
groundedness in the knowledge-base points the prompt showed, the judge's
grade (only once the judge has passed its check against human labels); plus
refusal (declining exactly the prompts the golden outputs decline) and user
functions from the ``tunesmith.rewards`` entry-point group. Every function
takes TRL's batch (prompts, completions, and the dataset's columns) and returns
one reward in 0..1 per completion, or None where it does not apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from tunesmith.core.errors import ConfigError
from tunesmith.data.refusals import declines
from tunesmith.train.config import RewardSpec

GROUP = "tunesmith.rewards"
# reward kind -> the evaluation metric it is
METRIC_OF = {
    "style": "style",
    "format": "format_regex",
    "json_schema": "json_valid",
    "similarity": "embedding_similarity",
    "rouge": "rouge_l",
    "grounded": "groundedness",
    "judge": "judge_score",
}

RewardFn = Callable[..., list[float | None]]


def completion_texts(completions: list[Any]) -> list[str]:
    """TRL hands conversational completions as message lists, plain ones as strings."""
    out = []
    for completion in completions:
        if isinstance(completion, list):
            out.append("".join(str(m.get("content") or "") for m in completion if m.get("role") == "assistant"))
        else:
            out.append(str(completion))
    return out


def _named(fn: RewardFn, name: str) -> RewardFn:
    fn.__name__ = name  # TRL logs each reward as rewards/<__name__>/mean
    return fn


def _none_for_nan(values: list[float]) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]


def build_rewards(specs: list[RewardSpec], project: Any) -> tuple[list[RewardFn], list[float]]:
    """(functions, weights) for TRL's GRPOTrainer from the project's reward declarations."""
    names = [spec.name or spec.kind for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"two rewards are both named {repeated[0]!r}",
            where="train.grpo.rewards",
            fix="Give each reward of the same kind its own `name`.",
        )
    functions = [_build(spec, name, project) for spec, name in zip(specs, names, strict=True)]
    return functions, [spec.weight for spec in specs]


def _build(spec: RewardSpec, name: str, project: Any) -> RewardFn:
    cfg = project.config
    if spec.kind == "refusal":
        return _named(_refusal(cfg.gates.refusal.markers if cfg.gates.refusal else None), name)
    if spec.kind == "python":
        return _named(_python(spec, project.dir), name)
    metric = METRIC_OF[spec.kind]
    _check_declared(spec, cfg)
    judge = None
    if spec.kind == "judge" or (spec.kind == "grounded" and cfg.eval.judge is not None):
        from tunesmith.eval.calibration import require_trusted_judge
        from tunesmith.models.pool import ModelPool

        require_trusted_judge(project.dir, cfg.eval, f"the GRPO reward {name}")
        judge = ModelPool(project.dir).get(cfg.eval.judge)
    return _named(_metric_reward(metric, cfg, judge), name)


def _check_declared(spec: RewardSpec, cfg: Any) -> None:
    """A reward built on rules the project has not written would reward nothing: say so before training."""
    missing = {
        "style": not any(cfg.eval.style.model_dump(exclude_none=True, exclude_defaults=True).values()),
        "format": cfg.eval.format.regex is None,
        "json_schema": cfg.eval.format.json_schema is None,
        "judge": cfg.eval.judge is None,
    }.get(spec.kind, False)
    if missing:
        where = {"style": "eval.style", "format": "eval.format.regex", "json_schema": "eval.format.json_schema"}
        raise ConfigError(
            f"the {spec.kind} reward needs {where.get(spec.kind, 'eval.judge')}, which the project does not set",
            where="train.grpo.rewards",
            fix=f"Declare {where.get(spec.kind, 'eval.judge')}, or drop the {spec.kind} reward.",
        )


def _metric_reward(metric: str, cfg: Any, judge: Any) -> RewardFn:
    from tunesmith.eval.metrics.base import MetricContext
    from tunesmith.eval.scoring import score_outputs

    def reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        texts = completion_texts(completions)
        points = columns.get("points") or [[] for _ in texts]
        ctx = MetricContext(
            inputs=list(columns.get("input") or ["" for _ in texts]),
            contexts=[list(p) for p in points],
            style=cfg.eval.style,
            format=cfg.eval.format,
            embedder=cfg.knowledge.embedder_spec,
            judge=judge,
            rubric=cfg.eval.rubric,
            groundedness_threshold=cfg.eval.groundedness_threshold,
        )
        references = list(columns.get("reference") or ["" for _ in texts])
        return _none_for_nan(score_outputs([metric], texts, references, ctx)[metric])

    return reward


def _refusal(markers: list[str] | None) -> RewardFn:
    """1 when the completion declines exactly when the golden output did, else 0."""

    def reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        texts = completion_texts(completions)
        should = columns.get("declines") or [False for _ in texts]
        found = [declines(t, markers) if markers else declines(t) for t in texts]
        return [float(bool(f) == bool(s)) for f, s in zip(found, should, strict=True)]

    return reward


def _python(spec: RewardSpec, project_dir: Path) -> RewardFn:
    """A user function: an entry point of the `tunesmith.rewards` group, or `file.py:function` in the project.
    It is called as ``fn(prompts=[str], completions=[str], references=[str])`` and returns floats (or None)."""
    target = spec.function or ""
    fn: Any = None
    if ":" in target and target.split(":", 1)[0].endswith(".py"):
        fn = _from_file(project_dir, *target.split(":", 1))
    else:
        found = [ep for ep in entry_points(group=GROUP) if ep.name == target]
        if found:
            fn = found[0].load()
    if not callable(fn):
        available = sorted(ep.name for ep in entry_points(group=GROUP))
        raise ConfigError(
            f"no reward function {target!r}",
            where="train.grpo.rewards",
            fix="Name an entry point of the `tunesmith.rewards` group"
            + (f" ({', '.join(available)})" if available else "")
            + " or `file.py:function` inside the project.",
        )

    def reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float | None]:
        texts = completion_texts(completions)
        users = list(columns.get("input") or ["" for _ in texts])
        values = fn(prompts=users, completions=texts, references=list(columns.get("reference") or []))
        if len(values) != len(texts):
            raise ConfigError(
                f"the reward function {target} returned {len(values)} values for {len(texts)} completions",
                where="train.grpo.rewards",
                fix="Return one float (or None) per completion.",
            )
        return _none_for_nan([float(v) if v is not None else math.nan for v in values])

    return reward


def _from_file(project_dir: Path, file: str, name: str) -> Any:
    import importlib.util

    path = (project_dir / file).resolve()
    if not path.is_relative_to(project_dir.resolve()) or not path.is_file():
        raise ConfigError(
            f"the reward file {file} is not a file inside the project",
            where="train.grpo.rewards",
            fix="Put the file in the project folder and name it relative to it.",
        )
    spec = importlib.util.spec_from_file_location(f"tunesmith_reward_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name, None)
