"""`tunesmith synth qa` as a stage: its own run folder, resumable through the run's journal."""

from __future__ import annotations

from typing import Any

from tunesmith.core.atomic import write_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.data.golden import read_golden
from tunesmith.synth.config import QAConfig
from tunesmith.synth.journal import Journal
from tunesmith.synth.qa import run_qa


def run(cfg: QAConfig, *, project: Any, run_dir: RunDir) -> dict[str, Any]:
    """Synthesize into ``run_dir``: qa.jsonl (chat), preference.jsonl, rejects.jsonl; journal.jsonl to resume."""
    config = project.config
    existing: list[str] = []
    if config.data.golden is not None:
        rows, _ = read_golden(config.data.golden, project.dir)
        existing = [r.input for r in rows]
    result = run_qa(
        cfg,
        knowledge=config.knowledge,
        system_prompt=config.system_prompt or None,
        base_model=config.base_model,
        project_dir=project.dir,
        journal=Journal(run_dir.path("journal.jsonl")),
        existing_inputs=existing,
    )
    write_jsonl(run_dir.path("qa.jsonl"), result.examples)
    write_jsonl(run_dir.path("preference.jsonl"), result.pairs)
    write_jsonl(run_dir.path("rejects.jsonl"), result.rejects)
    run_dir.record_inputs(knowledge=config.knowledge.name, teacher=(cfg.teacher or config.base_model).display_name)
    return result.stats
