"""Core sharing between tunesmith processes: leases, shares, stale leases, a user's fixed count."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tunesmith.core import cpu


@pytest.fixture()
def leases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TUNESMITH_CPU_DIR", str(tmp_path))
    monkeypatch.delenv("TUNESMITH_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "cores", lambda: 4)
    return tmp_path


def test_two_computing_processes_get_half_the_cores_each(leases: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "from tunesmith.core import cpu; import time\nwith cpu.computing(): time.sleep(60)"],
    )
    before = torch.get_num_threads()
    try:
        deadline = time.monotonic() + 30
        while not any(leases.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        with cpu.computing():
            assert cpu.computing_processes() == 2
            assert torch.get_num_threads() == 2  # 4 cores, 2 processes
        holder.kill()
        holder.wait()
        # the other process died holding its lease: the lease is removed, the cores are all ours again
        with cpu.computing():
            assert cpu.computing_processes() == 1
            assert torch.get_num_threads() == 4
        assert not any(leases.iterdir())
    finally:
        holder.kill()
        torch.set_num_threads(before)


def test_a_count_the_user_fixed_is_kept(leases: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNESMITH_THREADS", "3")
    (leases / "1-0").touch()  # pid 1 is alive: another computing process
    before = torch.get_num_threads()
    try:
        with cpu.computing():
            assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
