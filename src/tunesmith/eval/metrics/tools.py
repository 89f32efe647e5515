"""Tool use: did the model call the function the reference called, with valid and matching arguments?

Each applies to test conversations that declare tools; on the others it is
not applicable (nan). The reference is the assistant turn the conversation
holds at the evaluated point (eval/run.py): a call, or a reply without one.
A model that calls when the reference answers in words (or the other way
round) scores 0 on the name; argument metrics apply only where both called.
"""

from __future__ import annotations

import math
from typing import Any

from tunesmith.eval.metrics.base import MetricContext


def _pairs(outputs: list[str], ctx: MetricContext) -> list[tuple[list[dict[str, Any]] | None, Any]]:
    """Per example: (reference calls, or None where the example declares no tools; the generation)."""
    refs = ctx.extra.get("tool_reference") or [None for _ in outputs]
    generations = ctx.generations or [None for _ in outputs]
    return list(zip(refs, generations, strict=True))


def _first_call(generation: Any) -> dict[str, Any] | None:
    calls = getattr(generation, "tool_calls", None) or []
    return calls[0]["function"] if calls else None


class ToolName:
    """1 when the first call names the reference's function (or neither calls), else 0."""

    name = "tool_name"
    description = "the model calls the function the reference calls (or answers without one when it does)"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        out = []
        for ref, generation in _pairs(outputs, ctx):
            if ref is None:
                out.append(math.nan)
                continue
            called = _first_call(generation)
            wanted = ref[0]["function"]["name"] if ref else None
            out.append(float((called["name"] if called else None) == wanted))
        return out


class ToolArgsValid:
    """1 when the first call's arguments are a JSON object valid for the called function's schema."""

    name = "tool_args_valid"
    description = "the call's arguments are a JSON object that validates against the function's parameters"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        from jsonschema import Draft202012Validator

        from tunesmith.data.tools import parse_arguments

        schemas = ctx.extra.get("tool_schemas") or [None for _ in outputs]
        out = []
        for (ref, generation), schema in zip(_pairs(outputs, ctx), schemas, strict=True):
            called = _first_call(generation)
            if ref is None or not ref or called is None:
                out.append(math.nan)
                continue
            arguments = parse_arguments(called.get("arguments"))
            parameters = (schema or {}).get(called["name"])
            valid = arguments is not None and (
                parameters is None or not any(Draft202012Validator(parameters).iter_errors(arguments))
            )
            out.append(float(valid))
        return out


class ToolArgsMatch:
    """1 when the first call has the reference's function and exactly its arguments (as JSON values)."""

    name = "tool_args_match"
    description = "the call has the reference's function and arguments"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        from tunesmith.data.tools import parse_arguments

        out = []
        for ref, generation in _pairs(outputs, ctx):
            called = _first_call(generation)
            if ref is None or not ref or called is None:
                out.append(math.nan)
                continue
            wanted = ref[0]["function"]
            same = called["name"] == wanted["name"] and parse_arguments(called.get("arguments")) == parse_arguments(
                wanted.get("arguments")
            )
            out.append(float(same))
        return out
