"""Sharing the CPU cores between tunesmith processes that compute at the same time.

torch gives every process one thread per core, and its OpenMP threads spin
while they wait for work. Two such processes on the same cores (the server
answering chat while its worker trains, a tuning study beside an evaluation)
take turns at every parallel region and each runs at a fraction of half its
speed: on 2 cores a training step beside one other 2-thread process ran at 44
tokens/s against 250 alone; with one thread each it ran at 143 (bench/cpu_share.py).
Making threads sleep instead of spin (`OMP_WAIT_POLICY=PASSIVE`) did as well
beside another process but cost a process alone up to half its decoding speed,
so it is not set.

So every process that computes holds a lease (a file named by its pid in a
per-user folder) for as long as it computes, and sets its torch thread count
to its share: the cores it may use divided by the processes holding leases.
Shares are looked at again at most once a second (`rebalance`, called from the
training and decoding loops), so a process that starts or stops computing
changes the others' threads within about a second. `TUNESMITH_THREADS` (or
`OMP_NUM_THREADS`) fixes the count instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tunesmith.core.rundir import pid_alive

RECHECK_S = 1.0
_counter = itertools.count()
_checked = 0.0


def lease_dir() -> Path:
    """Where leases live: one folder per user (override with TUNESMITH_CPU_DIR)."""
    base = os.environ.get("TUNESMITH_CPU_DIR")
    if base:
        return Path(base)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"tunesmith-cpu-{uid}"


def cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def fixed_threads() -> int | None:
    """A thread count the user set, which sharing leaves alone."""
    for name in ("TUNESMITH_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def computing_processes() -> int:
    """Processes holding a lease now (leases of processes that died are removed)."""
    folder = lease_dir()
    pids = set()
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            pid_text = entry.name.split("-", 1)[0]
            if not pid_text.isdigit():
                continue
            pid = int(pid_text)
            if pid_alive(pid):
                pids.add(pid)
            else:
                with contextlib.suppress(OSError):
                    entry.unlink()
    return max(1, len(pids))


def share() -> int:
    """This process's thread count: its cores divided by the computing processes, at least 1."""
    return fixed_threads() or max(1, cores() // computing_processes())


def rebalance(*, force: bool = False) -> None:
    """Set torch's thread count to this process's share (at most once a second unless forced)."""
    global _checked
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "set_num_threads"):
        return  # nothing computes without torch; importing it here would cost the CLI its start-up
    now = time.monotonic()
    if not force and now - _checked < RECHECK_S:
        return
    _checked = now
    threads = share()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def computing() -> Iterator[None]:
    """Hold a lease while the block computes, with this process's threads set to its share."""
    folder = lease_dir()
    path: Path | None = folder / f"{os.getpid()}-{next(_counter)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.touch()  # type: ignore[union-attr]
    except OSError:
        path = None  # no writable temp folder: compute with the threads we have
    rebalance(force=True)
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
        rebalance(force=True)
