"""Helpers shared by test modules anywhere under tests/ (tests/ is on pytest's pythonpath):
``requires`` marks for tests needing an optional extra, ``check_run`` for subprocesses,
``aibench_cli`` for an end-to-end ``python -m aibench`` run in a scratch dir, HumanEval problems and
requests from the task itself. The fake model servers are ``aibench.models.fakes``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aibench.harnesses.bigcode.humaneval import HumanEval
from aibench.types import GenerationRequest, Problem

# Tests that need an optional extra (torch/transformers, a Docker daemon, the real bigcode_eval
# package, ...) are marked ``extra``. The README's plain `pytest` skips them with a reason naming
# the install step (shown by -ra). `.ci/run` installs the extras and then runs
# `AIBENCH_REQUIRE_EXTRAS=1 pytest -m extra`, where a missing extra is a failure, never a skip.
REQUIRE_EXTRAS = os.environ.get("AIBENCH_REQUIRE_EXTRAS") == "1"


def requires(extra: str, available: bool, how: str):
    """Marks for a test (or a module's ``pytestmark``) that needs ``extra``.

    ``available``: whether it is usable here; ``how``: the one-line install step for the reason.
    """
    marks = [pytest.mark.extra]
    if not available:
        reason = f"needs the {extra} extra: {how}"
        if REQUIRE_EXTRAS:  # CI installed the extras: missing means broken set-up, not a skip
            marks += [pytest.mark.aibench_missing_extra(reason), pytest.mark.usefixtures("_fail_missing_extra")]
        else:
            marks.append(pytest.mark.skip(reason=reason))
    return marks


def with_marks(marks):
    def apply(fn):
        for mark in reversed(marks):
            fn = mark(fn)
        return fn

    return apply


def check_run(cmd, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run(cmd)`` that must succeed; a failure shows the command's own output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([str(c) for c in cmd], **kw)
    assert proc.returncode == 0, (
        f"command failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
        f"--- stdout ---\n{(proc.stdout or '')[-4000:]}\n--- stderr ---\n{(proc.stderr or '')[-4000:]}"
    )
    return proc


REPO = Path(__file__).resolve().parent.parent


def aibench_cli(tmp: Path, *args: str, run: str = "run", env=None, timeout=600, wait: bool = True):
    """``python -m aibench ARGS`` from ``tmp`` with the run dir ``tmp/run`` and the cache in
    ``tmp/cache``, tracking and the progress bar off, $OLLAMA_HOST ignored. Returns the
    CompletedProcess, or the Popen with ``wait=False``."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = str(REPO) + os.pathsep + full.get("PYTHONPATH", "")
    full.pop("OLLAMA_HOST", None)
    cmd = [
        sys.executable,
        "-m",
        "aibench",
        *args,
        "tracking.enabled=false",
        "run.progress=false",
        f"hydra.run.dir={tmp / run}",
        f"paths.cache_dir={tmp / 'cache'}",
    ]
    if not wait:
        return subprocess.Popen(cmd, cwd=tmp, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=tmp, env=full, capture_output=True, text=True, timeout=timeout)


def default_sigint() -> None:
    """``preexec_fn`` for a child a test sends SIGINT (Ctrl-C): a shell without job control starts
    background jobs (``.ci/run &``) with SIGINT ignored, every child inherits that, and Python then
    installs no KeyboardInterrupt handler - the child would finish its run instead of stopping."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def humaneval_problems(limit: int | None = None) -> list[Problem]:
    """HumanEval's problems as ``harness.tasks=[humaneval]`` builds them (BigCode's stripped prompt)."""
    return HumanEval().problems(limit)


def make_requests(problems: list[Problem], n: int = 1, start: int = 0) -> list[GenerationRequest]:
    """Samples ``start..n-1`` of every problem, problem-major (the order a harness asks in)."""
    return [GenerationRequest(p, i) for p in problems for i in range(start, n)]
