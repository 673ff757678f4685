"""``python -m aibench.tracking.worker``: the MLflow logger of a run, in its own process.

Started by :mod:`aibench.tracking.background` when a run starts, so importing MLflow and opening
its store (1-4 s) happens while samples execute, off the run's critical path and outside its
interpreter. One worker serves every run of a process (all jobs of a sweep).

Protocol: one JSON object per line. stdin:
  {"op": "start", "key", "uri", "experiment", "artifact_root", "run_name", "start_ms", "tags"}
  {"op": "finish", "key", "params", "report", "run_dir", "end_ms", "status"}
stdout, one line per finish (and for a failed start):
  {"key", "run_id"} or {"key", "error"}
End of stdin: a run started and not finished is marked KILLED, then the worker exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any


# Lowest CPU priority: importing MLflow and opening its store costs 2-3 s of CPU, which would
# otherwise be taken from the run's sandbox workers (they keep every core busy); at nice 19 it is
# done in the cores' idle moments, and at the run's end (when the run waits for the final calls,
# at most ``background.FINISH_WAIT``) nothing else runs.
NICE = 19


def main() -> None:
    try:
        os.nice(NICE)
    except OSError:  # pragma: no cover - not allowed here: normal priority
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle: it ends us via stdin
    warnings.simplefilter("ignore")
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # nothing MLflow prints may corrupt the protocol

    from aibench.tracking import mlflow_logger as ml

    ml.quiet_mlflow()
    # the slow imports, done before the first message arrives (the local store's too)
    import mlflow.entities  # noqa: F401
    import mlflow.tracking  # noqa: F401

    try:
        import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    except Exception:  # pragma: no cover - optional part of MLflow
        pass

    clients: dict[str, Any] = {}
    experiments: dict[tuple[str, str], str] = {}
    runs: dict[str, tuple[Any, str]] = {}  # key -> (client, run_id) of runs started, not finished
    failed: dict[str, str] = {}  # key -> why its start failed

    def reply(**msg: Any) -> None:
        try:
            out.write(json.dumps(msg) + "\n")
        except (BrokenPipeError, OSError, ValueError):
            pass  # the run has ended without waiting for us: metrics.json and aibench.log tell

    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = msg.get("key", "")
        try:
            if msg.get("op") == "start":
                uri = msg["uri"]
                client = clients.get(uri) or clients.setdefault(uri, ml.client_for(uri))
                exp_key = (uri, msg["experiment"])
                if exp_key not in experiments:
                    experiments[exp_key] = ml.experiment_id(client, uri, msg["experiment"], msg.get("artifact_root"))
                run_id = ml.create_run(client, experiments[exp_key], msg.get("run_name"), msg["start_ms"], msg["tags"])
                runs[key] = (client, run_id)
            elif msg.get("op") == "finish":
                run_dir = Path(msg["run_dir"])
                finished = msg.get("status", "FINISHED") == "FINISHED"
                if key in failed:
                    error = failed.pop(key)
                    if finished:
                        record(run_dir, msg, error=error)
                    reply(key=key, error=error)
                    continue
                client, run_id = runs.pop(key)
                if finished:  # the run id goes into metrics.json before it is logged as an artifact
                    record(run_dir, msg, run_id=run_id)
                try:
                    ml.finish_run(
                        client,
                        run_id,
                        params=msg.get("params") or {},
                        report=msg.get("report"),
                        run_dir=run_dir,
                        end_ms=msg["end_ms"],
                        status=msg.get("status", "FINISHED"),
                    )
                except Exception as exc:
                    error = ml.short_error(exc)
                    if finished:
                        record(run_dir, msg, error=error)
                    reply(key=key, error=error)
                    continue
                reply(key=key, run_id=run_id)
        except Exception as exc:
            error = ml.short_error(exc)
            if msg.get("op") == "start":
                failed[key] = error
                reply(key=key, error=error, op="start")
            else:
                reply(key=key, error=error)

    for client, run_id in runs.values():  # the run's process went away without finishing
        try:
            client.set_terminated(run_id, status="KILLED")
        except Exception:
            pass


def record(run_dir: Path, msg: dict[str, Any], *, run_id: str | None = None, error: str | None = None) -> None:
    """The outcome in the run's metrics.json (``mlflow``) and aibench.log: the run may have ended
    without waiting for us."""
    from aibench.tracking.mlflow_logger import is_remote, upload_command

    uri = msg["uri"]
    if run_id is not None:
        entry: dict[str, Any] = {"uri": uri, "run_id": run_id}
        line = f"MLflow: logged as run {run_id} ({uri})"
    else:
        command = upload_command(run_dir, uri if is_remote(uri) else None)
        entry = {"uri": uri, "error": error, "upload": command}
        line = f"MLflow: not logged to {uri} ({error}); when it is reachable: {command}"
    metrics = run_dir / "metrics.json"
    try:
        report = json.loads(metrics.read_text(encoding="utf-8"))
        report["mlflow"] = entry
        tmp = metrics.with_suffix(".json.mlflow-tmp")
        tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, metrics)
        with open(run_dir / "aibench.log", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
