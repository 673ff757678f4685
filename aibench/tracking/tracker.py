"""MLflow for one run, as the executor hands it over: the params (flattened here), a background
worker started with the run, and at the end the report, or one line with the upload command."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping

from aibench.console import say
from aibench.outputs import METRICS, RunDir
from aibench.types import RunReport


# keys every sampling backend reports; for a model that does not sample (reference, replay) the
# configured value is logged instead, so one sweep's runs line up in MLflow's compare view
SHARED_MODEL_PARAMS = ("temperature", "top_p", "top_k", "max_tokens")


def _scalar(v: Any) -> Any:
    return v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, default=str)


def flat_params(
    model: Any, harness: Any, sandbox: Any, run: Any, cfg_hash: str, cfg: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """MLflow params with stable dotted names, the same for every backend so that a sweep's runs
    line up in the compare view: ``model.name``, ``model.temperature``, ``model.top_p``, ...,
    ``harness.name``, ``harness.tasks``, ``sandbox.name``, ``run.n_samples``, ``run.limit``, ...
    Scalars as they are, lists/dicts as JSON. ``cfg``: the resolved config (configured values of
    keys a model does not report, ``sandbox.judge``, ``metrics.k``)."""
    cfg = cfg or {}
    params: dict[str, Any] = {"model.name": model.name}
    model_params = {k: v for k, v in model.params().items() if k != "model"}
    model_cfg = cfg.get("model") or {}
    for key in SHARED_MODEL_PARAMS:
        params[f"model.{key}"] = model_params.pop(key, model_cfg.get(key))
    params.update({f"model.{k}": v for k, v in model_params.items()})
    harness_params = dict(harness.params())
    params["harness.name"] = harness_params.pop("harness", getattr(harness, "name", None))
    if "task" in harness_params:
        params["harness.tasks"] = harness_params.pop("task")
    params.update({f"harness.{k}": v for k, v in harness_params.items()})
    params["sandbox.name"] = sandbox.name
    if (cfg.get("sandbox") or {}).get("judge") is not None:
        params["sandbox.judge"] = cfg["sandbox"]["judge"]
    params.update(
        {"run.n_samples": run.n_samples, "run.limit": run.limit, "run.seed": run.seed, "run.workers": run.workers}
    )
    if (cfg.get("metrics") or {}).get("k") is not None:
        params["metrics.k"] = cfg["metrics"]["k"]
    params["config_hash"] = cfg_hash
    return {k: _scalar(v) for k, v in params.items()}


def default_run_name(params: dict[str, Any]) -> str:
    """e.g. ``ollama/llama3 humaneval n=10 T=0.2`` (``limit=5`` for a partial run): readable in
    the MLflow UI's run list."""
    task = params.get("harness.tasks", params.get("harness.name", ""))
    name = f"{params['model.name']} {task} n={params['run.n_samples']}"
    if params.get("run.limit") is not None:
        name += f" limit={params['run.limit']}"
    if params.get("model.temperature") is not None:
        name += f" T={params['model.temperature']}"
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
        from aibench.tracking.sweep import job_tags

        self.run_name, self.params = run_name, params
        self.tags = job_tags(self.uri)  # a sweep's job: its parent run, the sweep id and its overrides
        settings = {
            "uri": self.uri,
            "experiment": self.experiment,
            "run_name": run_name,
            "artifact_root": self.artifact_root,
            "params": params,
        }
        if self.tags:
            settings["tags"] = self.tags
        return settings

    def start(self, run_dir: Path) -> None:
        if self.bg is not None:
            tags = {**getattr(self, "tags", {}), "aibench.run_dir": str(run_dir.resolve())}
            self.bg.start(self.run_name, int(self.started * 1000), tags)

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
                # a failed or interrupted run shows its error now: the worker still logs the MLflow
                # run's end (it outlives this process), and nothing here would use its reply
                timeout=None if status == "FINISHED" else 0.0,
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
