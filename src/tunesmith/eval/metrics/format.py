"""Format checks: the output matches a regular expression, or is JSON valid against a schema."""

from __future__ import annotations

import json
import re

from tunesmith.core.deps import require
from tunesmith.core.errors import ConfigError
from tunesmith.eval.metrics.base import MetricContext


def _extract_json(text: str) -> str:
    """The JSON payload, tolerating a ```json fence around it (models add one unasked)."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.DOTALL)
    return fenced.group(1) if fenced else text


class FormatRegex:
    """1 when the output matches eval.format.regex (search, multiline), else 0. Higher is better."""

    name = "format_regex"
    description = "output matches eval.format.regex"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        if not ctx.format.regex:
            raise ConfigError("the format_regex metric needs a pattern", where="eval.format.regex")
        pattern = re.compile(ctx.format.regex, flags=re.MULTILINE)
        return [float(pattern.search(o) is not None) for o in outputs]


class JsonSchemaValid:
    """1 when the output parses as JSON and validates against eval.format.json_schema, else 0. Higher is better."""

    name = "json_valid"
    description = "output is JSON valid against eval.format.json_schema"
    low, high, higher_is_better = 0.0, 1.0, True

    def score(self, outputs: list[str], references: list[str], ctx: MetricContext) -> list[float]:
        jsonschema = require("jsonschema", purpose="JSON schema checks")
        schema = ctx.format.json_schema
        validator = jsonschema.Draft202012Validator(schema) if schema else None
        scores = []
        for output in outputs:
            try:
                value = json.loads(_extract_json(output))
            except (json.JSONDecodeError, RecursionError):
                scores.append(0.0)
                continue
            scores.append(float(validator is None or validator.is_valid(value)))
        return scores
