"""Helpers shared by the local sandbox tests (imported as a plain module: no package here)."""

from __future__ import annotations

import os

from aibench.sandboxes.isolation import descendants
from aibench.sandboxes.local import LocalSandbox
from aibench.types import Program

CHECK_INC = """

def check(candidate):
    assert candidate(1) == 2
    assert candidate(2) == 3
    assert candidate(-1) == 0

check(inc)"""
GOOD_INC = "def inc(x):\n    return x + 1\n"
BAD_INC = "def inc(x):\n    return x\n"


def prog(
    code: str,
    tests: str = CHECK_INC,
    timeout: float = 3.0,
    entry_point: str | None = "inc",
    test_cases: tuple[str, ...] = (),
) -> Program:
    return Program("python", code, tests, timeout, entry_point=entry_point, test_cases=test_cases)


def worker_pids(sb: LocalSandbox) -> set[int]:
    return {w.proc.pid for w in sb._workers if w.alive}


def assert_clean(sb: LocalSandbox | None = None) -> None:
    """No sample process is left: the only descendants of this test process are idle workers,
    and their private /tmp holds no sample directory (any LocalSandbox's workers count)."""
    workers = {p for p in descendants(os.getpid()) if "zygote import main" in _cmd(p)}
    extra = [p for p in descendants(os.getpid()) if p not in workers]
    assert extra == [], f"processes left behind: {[_cmd(p) for p in extra]}"
    for w in workers:  # a fork server's only children: its idle candidate fork server and judge (isolated)
        kids = descendants(w)
        assert len(kids) <= 2 and all(k in workers and descendants(k) == [] for k in kids), (
            f"worker {w} still has children: {[_cmd(k) for k in kids]}"
        )
        try:  # the worker's scratch dir (each sample mounts its own tmpfs there): empty between samples
            scratch = "/scratch" if os.path.isdir(f"/proc/{w}/root/scratch") else "/tmp"
            leftovers = os.listdir(f"/proc/{w}/root{scratch}")
        except OSError:
            continue
        assert leftovers == [], f"temp dirs left in worker {w}: {leftovers}"


def _cmd(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f"{pid}:" + f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return str(pid)
