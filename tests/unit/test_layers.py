"""The architecture's rules: imports only go downward, and the light commands never import torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint, str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken" in result.stdout


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


HEAVY = {"torch", "transformers", "peft", "trl", "sentence_transformers", "lancedb", "datasets"}


def test_help_imports_no_torch() -> None:
    modules = _modules_after(
        "import sys\nfrom tunesmith.cli.main import main\nsys.argv=['tunesmith','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert not (HEAVY & modules), HEAVY & modules


def test_data_validate_imports_no_torch(tmp_path: Path) -> None:
    data = tmp_path / "chat.jsonl"
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    data.write_text("\n".join(json.dumps({**line, "id": str(i)}) for i in range(12)) + "\n")
    modules = _modules_after(
        "import sys\nfrom tunesmith.cli.main import main\n"
        f"sys.argv=['tunesmith','data','validate',{str(data)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert not (HEAVY & modules), HEAVY & modules
