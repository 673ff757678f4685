"""MLflow for one run, as the executor hands it over: the params (flattened here), a background
worker started with the run, and at the end the report, or one line with the upload command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aibench.console import say
from aibench.outputs import METRICS, RunDir
from aibench.types import RunReport


def flat_params(model: Any, harness: Any, sandbox: Any, run: Any, cfg_hash: str) -> dict[str, str]:
    """MLflow params: scalars as they are, lists/dicts as JSON; ``model`` is the backend/model name."""
    params: dict[str, Any] = {
        **harness.params(),
        "sandbox": sandbox.name,
        "n_samples": run.n_samples,
        "limit": run.limit,
        "run_seed": run.seed,
        "workers": run.workers,
        "config_hash": cfg_hash,
    }
    params.update({k: v for k, v in model.params().items() if k != "model"})
    params["model"] = model.name
    return {
        k: v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, default=str)
        for k, v in params.items()
    }


def default_run_name(params: dict[str, Any]) -> str:
    """e.g. ``ollama/llama3 humaneval n=10 T=0.2`` (``limit=5`` for a partial run): readable in
    the MLflow UI's run list."""
    name = f"{params['model']} {params.get('task', params.get('harness', ''))} n={params['n_samples']}"
    if params.get("limit") is not None:
        name += f" limit={params['limit']}"
    if params.get("temperature") is not None:
        name += f" T={params['temperature']}"
    return name


class Tracking:
    """MLflow for one run: preflight at run start, a background worker logging while samples
    execute, and at the end one line if logging failed, with the upload command."""

    def __init__(self, cfg: Any, started: float):
        from aibench.tracking.mlflow_logger import default_uri, preflight

        self.enabled = bool(cfg.tracking.enabled)
        self.started = started
        self.bg = None
        self.error: str | None = None
        if not self.enabled:
            return
        root = Path(cfg.paths.output_root)
        self.uri = cfg.tracking.uri or default_uri(root)
        self.experiment = cfg.tracking.experiment
        self.artifact_root = str((root / "mlartifacts").resolve())
        self.error = preflight(self.uri)
        if self.error:
            say(
                f"MLflow at {self.uri} is unreachable ({self.error}): the run goes on, results stay in the run dir "
                "(the command to log it later follows at the end)",
                warning=True,
            )
            return
        from aibench.tracking.background import BackgroundRun

        self.bg = BackgroundRun(self.uri, self.experiment, self.artifact_root)

    def settings(self, run_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """What the upload command needs later (kept in run_manifest.json)."""
        self.run_name, self.params = run_name, params
        return {
            "uri": self.uri,
            "experiment": self.experiment,
            "run_name": run_name,
            "artifact_root": self.artifact_root,
            "params": params,
        }

    def start(self, run_dir: Path) -> None:
        if self.bg is not None:
            self.bg.start(self.run_name, int(self.started * 1000), {"aibench.run_dir": str(run_dir.resolve())})

    def finish(self, report: RunReport | None, out: RunDir, status: str = "FINISHED") -> None:
        """Hand the end of the run to the worker; the report's ``mlflow`` entry says how it went.

        The run waits for MLflow only briefly: longer logging finishes in the background and the
        worker records the outcome in metrics.json and aibench.log."""
        if not self.enabled:
            return
        from aibench.tracking.mlflow_logger import is_remote, upload_command

        if report is not None:
            report.mlflow = {"uri": self.uri, "status": "logging"}
            out.write_json(METRICS, report.to_dict())
        reply: dict[str, Any] = {"error": self.error}
        if self.bg is not None:
            reply = self.bg.finish(
                params=getattr(self, "params", {}),
                report=None if report is None else report.to_dict(),
                run_dir=str(out.path.resolve()),
                end_ms=int(time.time() * 1000),
                status=status,
                timeout=None if status == "FINISHED" else 2.0,
            )
        if report is None:
            return
        if "run_id" in reply:
            report.mlflow = {"uri": self.uri, "run_id": reply["run_id"]}
            return
        if reply.get("pending"):
            report.mlflow = {"uri": self.uri, "status": "logging in the background"}
            return
        self.error = reply.get("error") or "unknown error"
        command = upload_command(out.path, self.uri if is_remote(self.uri) else None)
        say(f"not logged to MLflow at {self.uri} ({self.error}); when it is reachable: {command}", warning=True)
        report.mlflow = {"uri": self.uri, "error": self.error, "upload": command}
        out.write_json(METRICS, report.to_dict())
