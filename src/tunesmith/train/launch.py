"""Distributed training: `tunesmith train --nproc N` runs N processes through torchrun (or `accelerate launch`
with an FSDP or DeepSpeed config); each runs the same recipe on its share of every batch.

The parent process prepares the run folder and writes `launch.json` (the resolved
training config, base model and data folder); each worker rebuilds its
arguments from that file alone, so what the workers train is exactly what the
run folder records. Only rank 0 writes metrics, checkpoint markers and the
final adapter. On CPU the process group uses gloo, on GPUs NCCL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tunesmith.core.atomic import atomic_write_json
from tunesmith.core.errors import StageError
from tunesmith.models.spec import LocalModelRef
from tunesmith.train.config import SFT_RECIPES, TrainConfig

CONFIGS = Path(__file__).parent / "accelerate"


def launch(
    nproc: int,
    *,
    run_dir: Path,
    train: TrainConfig,
    base: LocalModelRef,
    data_dir: Path,
    project_dir: Path,
    resume: bool,
    accelerate_config: str | None = None,
) -> dict[str, Any]:
    """Run the workers and wait; returns rank 0's result (written to `launch-result.json`)."""
    if train.recipe in SFT_RECIPES:
        # the replay examples are made once, here; every worker trains on the same ones (the run's replay.jsonl)
        from tunesmith.core.jsonl import read_jsonl
        from tunesmith.core.rundir import RunDir
        from tunesmith.train.replay import replay_examples

        records = read_jsonl(data_dir / "train.jsonl")
        replay_examples(RunDir(run_dir), train, base=base, project_dir=project_dir, train_records=records)
    atomic_write_json(
        run_dir / "launch.json",
        {
            "train": train.model_dump(mode="json"),
            "base": base.model_dump(mode="json"),
            "data_dir": str(data_dir),
            "project_dir": str(project_dir),
            "resume": resume,
        },
    )
    worker = ["-m", "tunesmith.train.launch", "--run-dir", str(run_dir)]
    if accelerate_config:
        named = CONFIGS / f"{accelerate_config}.yaml"
        config = named if named.exists() else Path(accelerate_config)
        if not config.exists():
            raise StageError(
                f"no accelerate config '{accelerate_config}'",
                fix=f"Use one of {', '.join(available_configs())} or a path to a config file.",
            )
        command = [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(config),
            "--num_processes",
            str(nproc),
            *worker,
        ]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *worker]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // nproc))),
    }
    result = subprocess.run(command, env=env)
    if result.returncode != 0:
        raise StageError(
            f"distributed training failed (exit code {result.returncode})",
            where=str(run_dir),
            fix="The workers' output above says why; rerun with --nproc 1 to debug.",
        )
    return json.loads((run_dir / "launch-result.json").read_text(encoding="utf-8"))


def _worker(run_dir: Path) -> None:
    from tunesmith.core.rundir import RunDir
    from tunesmith.train.run import run

    spec = json.loads((run_dir / "launch.json").read_text(encoding="utf-8"))
    result = run(
        TrainConfig.model_validate(spec["train"]),
        base=LocalModelRef.model_validate(spec["base"]),
        data_dir=Path(spec["data_dir"]),
        project_dir=Path(spec["project_dir"]),
        run_dir=RunDir(run_dir),
        resume=spec["resume"],
    )
    if int(os.environ.get("RANK", "0")) == 0:
        atomic_write_json(
            run_dir / "launch-result.json",
            {**result.summary(), "world_size": int(os.environ.get("WORLD_SIZE", "1"))},
        )


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIGS.glob("*.yaml"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="tunesmith distributed training worker")
    parser.add_argument("--run-dir", required=True)
    _worker(Path(parser.parse_args().run_dir))
