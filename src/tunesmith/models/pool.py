"""Load each model once per process, however many stages ask for it."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.models.endpoint import EndpointGenerator
from tunesmith.models.loader import load_generator
from tunesmith.models.local import LocalGenerator
from tunesmith.models.spec import EndpointModelRef, LocalModelRef


class ModelPool:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._loaded: dict[str, LocalGenerator | EndpointGenerator] = {}

    @staticmethod
    def key(ref: LocalModelRef | EndpointModelRef) -> str:
        fields = ref.model_dump(
            exclude={
                "name",
                "batch_size",
                "max_batch_tokens",
                "cost_per_hour",
                "cost_per_1k_input",
                "cost_per_1k_output",
                "max_concurrency",
            }
        )
        return json.dumps(fields, sort_keys=True)

    def get(self, ref: LocalModelRef | EndpointModelRef) -> LocalGenerator | EndpointGenerator:
        key = self.key(ref)
        if key not in self._loaded:
            self._loaded[key] = load_generator(ref, self.base_dir)
        return self._loaded[key]

    def local(self, ref: LocalModelRef) -> LocalGenerator:
        generator = self.get(ref)
        assert isinstance(generator, LocalGenerator)
        return generator
