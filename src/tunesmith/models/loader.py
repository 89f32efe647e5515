"""One entry point from a model reference to a generator."""

from __future__ import annotations

from pathlib import Path

from tunesmith.models.endpoint import EndpointGenerator
from tunesmith.models.local import LocalGenerator
from tunesmith.models.spec import EndpointModelRef, LocalModelRef


def load_generator(ref: LocalModelRef | EndpointModelRef, base_dir: Path) -> LocalGenerator | EndpointGenerator:
    if isinstance(ref, EndpointModelRef):
        generator = EndpointGenerator(ref)
        generator.check()
        return generator
    return LocalGenerator.load(ref, base_dir)
