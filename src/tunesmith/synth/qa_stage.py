"""`tunesmith synth qa` as a stage: its own run folder, resumable through the run's journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunesmith.core.jsonl import write_jsonl
from tunesmith.core.rundir import RunDir
from tunesmith.knowledge.config import KnowledgeConfig
from tunesmith.models.journal import Journal
from tunesmith.models.spec import LocalModelRef
from tunesmith.synth.config import QAConfig
from tunesmith.synth.qa import run_qa


def run(
    cfg: QAConfig,
    *,
    knowledge: KnowledgeConfig,
    system_prompt: str | None,
    base_model: LocalModelRef,
    existing_inputs: list[str],
    project_dir: Path,
    run_dir: RunDir,
) -> dict[str, Any]:
    """Synthesize into ``run_dir``: qa.jsonl (chat), preference.jsonl, rejects.jsonl; journal.jsonl to resume.

    ``existing_inputs`` are the inputs the data already has (the golden outputs'): questions that
    duplicate one are dropped.
    """
    result = run_qa(
        cfg,
        knowledge=knowledge,
        system_prompt=system_prompt,
        base_model=base_model,
        project_dir=project_dir,
        journal=Journal(run_dir.path("journal.jsonl")),
        existing_inputs=existing_inputs,
    )
    write_jsonl(run_dir.path("qa.jsonl"), result.examples)
    write_jsonl(run_dir.path("preference.jsonl"), result.pairs)
    write_jsonl(run_dir.path("rejects.jsonl"), result.rejects)
    run_dir.record_inputs(knowledge=knowledge.name, teacher=(cfg.teacher or base_model).display_name)
    return result.stats
