"""The bundled example project, and the smaller settings of `tunesmith demo --quick`."""

from __future__ import annotations

import shutil
from pathlib import Path

from tunesmith.core.errors import ConfigError

EXAMPLE = "northwind-support"

# `--quick` keeps every stage real on the real model, with less of each: the
# end-to-end test runs it in CI on 2 CPU cores.
QUICK_OVERRIDES = [
    "baseline.limit=4",
    "baseline.max_new_tokens=128",
    # one pass over the training split (task examples and replay) in 56 small steps, at twice the auto
    # learning rate: the 13 declined requests are 7% of it, and declining must be learned in that one pass
    # (40 steps at 1e-3 declined 1 of the gate's 6 out-of-scope requests, 56 at 1e-3 two, 56 at 2e-3 four;
    # the full demo's two passes at 1e-3 decline four)
    "train.max_steps=56",
    "train.learning_rate=0.002",
    # citations are learned over the full demo's two passes; in one pass the cited targets cost declining
    # (with them the quick model declined 3 of 6, exactly the gate's 50%; without, 4 of 6)
    "data.citations=false",
    "train.batch_size=4",
    "eval.limit=6",
    "eval.bootstrap=500",
]


def example_source(name: str = EXAMPLE) -> Path:
    """The example project: shipped in the wheel, or examples/ of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_examples" / name, here.parents[1] / "examples" / name):
        if (candidate / "tunesmith.yaml").is_file():
            return candidate
    raise ConfigError(
        f"the example project '{name}' is not installed", fix="Reinstall tunesmith, or run from a source checkout."
    )


def prepare_demo(target: Path, name: str = EXAMPLE) -> Path:
    """Copy the example into ``target`` (runs and indexes already there are kept, so reruns are cheap)."""
    source = example_source(name)
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        destination = target / item.name
        if item.is_dir():
            shutil.copytree(item, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(item, destination)
    return target
