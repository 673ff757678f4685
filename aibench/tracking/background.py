"""The run's side of MLflow tracking: a worker process (:mod:`aibench.tracking.worker`) started
when the run starts, so MLflow is imported and its store opened while samples execute.

The run's interpreter never imports MLflow. At the end it hands over params and metrics and waits
for the worker only for the final calls (milliseconds against a local store); a worker that is gone
or slow costs at most ``FINISH_TIMEOUT`` seconds, and the run then prints the upload command.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any, Mapping

# Seconds a finished run waits for MLflow. Longer logging goes on in the background after the run
# has ended (the worker then writes the MLflow run id, or the error and the upload command, into
# the run's metrics.json and aibench.log). AIBENCH_MLFLOW_WAIT=<seconds> changes it (tests wait).
FINISH_WAIT = 1.0


def finish_wait() -> float:
    try:
        return float(os.environ.get("AIBENCH_MLFLOW_WAIT", FINISH_WAIT))
    except ValueError:
        return FINISH_WAIT


_worker: "_Worker | None" = None
_keys = itertools.count(1)


class _Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aibench.tracking.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C goes to the run, which then tells the worker
        )
        self.replies: dict[str, "queue.Queue[dict[str, Any]]"] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read, name="aibench-mlflow-reader", daemon=True).start()

    def _queue(self, key: str) -> "queue.Queue[dict[str, Any]]":
        with self.lock:
            return self.replies.setdefault(key, queue.Queue())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            self._queue(str(msg.get("key", ""))).put(msg)
        with self.lock:  # the worker is gone: every waiter learns it
            queues = list(self.replies.values())
            self.replies = {}
        for q in queues:
            q.put({"error": "the MLflow worker process exited"})
        self.dead = True

    dead = False

    def send(self, msg: Mapping[str, Any]) -> bool:
        if self.dead or self.proc.poll() is not None:
            return False
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(msg, default=str) + "\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def wait_reply(self, key: str, timeout: float) -> dict[str, Any]:
        q = self._queue(key)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"pending": True}
            try:
                msg = q.get(timeout=left)
            except queue.Empty:
                continue
            if msg.get("op") == "start":  # a failed start; the finish reply repeats it
                continue
            return msg

    def close(self) -> None:
        """End of stdin: the worker finishes what it was sent, then exits on its own (it may
        outlive this process by the time its last MLflow calls take)."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass


def _shared_worker() -> _Worker:
    global _worker
    if _worker is None or _worker.dead or _worker.proc.poll() is not None:
        _worker = _Worker()
        atexit.register(_worker.close)
    return _worker


def prestart(argv: list[str]) -> None:
    """Start the worker at process start, before the config is composed, unless the command line
    turns tracking off: MLflow then loads while Hydra composes and the components load."""
    off = {"tracking.enabled=false", "tracking.enabled=False", "tracking.enabled=0", "tracking.enabled=no"}
    from aibench.config import runs_a_job

    if off.isdisjoint(argv) and runs_a_job(argv):
        try:
            _shared_worker()
        except OSError:  # pragma: no cover - the run starts it again, or says why it could not
            pass


class BackgroundRun:
    """One MLflow run logged by the worker: created at :meth:`start` (with the run's real start
    time), filled and ended by :meth:`finish`."""

    def __init__(self, uri: str, experiment: str, artifact_root: str | None) -> None:
        self.uri, self.experiment, self.artifact_root = uri, experiment, artifact_root
        self.key = str(next(_keys))
        self.worker = _shared_worker()
        self.started = False

    def start(self, run_name: str | None, start_ms: int, tags: Mapping[str, str]) -> None:
        self.started = self.worker.send(
            {
                "op": "start",
                "key": self.key,
                "uri": self.uri,
                "experiment": self.experiment,
                "artifact_root": self.artifact_root,
                "run_name": run_name,
                "start_ms": start_ms,
                "tags": dict(tags),
            }
        )

    def finish(
        self,
        *,
        params: Mapping[str, Any],
        report: Mapping[str, Any] | None,
        run_dir: str,
        end_ms: int,
        status: str = "FINISHED",
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """``{"run_id": ...}``, ``{"error": ...}``, or ``{"pending": True}`` if the worker is still
        at it after ``timeout`` seconds (default :func:`finish_wait`): it then finishes alone."""
        if not self.started:
            return {"error": "the MLflow worker process could not be started"}
        msg = {
            "op": "finish",
            "key": self.key,
            "uri": self.uri,
            "params": dict(params),
            "report": report,
            "run_dir": run_dir,
            "end_ms": end_ms,
            "status": status,
        }
        if not self.worker.send(msg):
            return {"error": "the MLflow worker process exited"}
        return self.worker.wait_reply(self.key, finish_wait() if timeout is None else timeout)
