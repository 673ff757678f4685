"""Log a finished run to MLflow: flattened params, pass@k and status-count metrics, run files.

Default store: a local SQLite database under ``paths.output_root`` (no server needed); view it with
``mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db``. ``tracking.uri`` points anywhere else.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

from aibench.errors import AibenchError

ARTIFACTS = (
    "generations.jsonl", "results.jsonl", "metrics.json", "evaluation_results.json", "run_manifest.json", "config.yaml",
)


def default_uri(output_root: str | Path) -> str:
    return f"sqlite:///{Path(output_root).resolve() / 'mlflow.db'}"


def metric_name(name: str) -> str:
    """MLflow metric keys allow [A-Za-z0-9_-./ ]: ``pass@1`` becomes ``pass_at_1``."""
    return name.replace("@", "_at_")


def flatten_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    tasks = report.get("tasks", {})
    for task, res in tasks.items():
        for k, v in res.get("pass@k", {}).items():
            out[f"{task}/{metric_name(k)}"] = float(v)
            if len(tasks) == 1:
                out[metric_name(k)] = float(v)
    for status, count in report.get("status_counts", {}).items():
        out[f"status/{status}"] = float(count)
    for key, value in report.get("security", {}).items():
        if isinstance(value, (int, float)):
            out[f"security/{key}"] = float(value)
    return out


def log_run(
    *,
    uri: str,
    experiment: str,
    run_name: str | None,
    params: Mapping[str, Any],
    report: Mapping[str, Any],
    run_dir: Path,
    artifact_root: Path,
) -> str:
    """Create one MLflow run and return its id."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        client = MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            location = None
            if uri.startswith("sqlite:"):
                artifact_root.mkdir(parents=True, exist_ok=True)
                location = artifact_root.resolve().as_uri()
            exp_id = client.create_experiment(experiment, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        run = client.create_run(exp_id, run_name=run_name, tags={"aibench.run_dir": str(run_dir.resolve())})
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in flatten_metrics(report).items()],
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
        )
        for name in ARTIFACTS:
            path = run_dir / name
            if path.exists():
                client.log_artifact(run_id, str(path))
        for path in sorted(run_dir.glob("generations_*.json")):
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id)
    except Exception as exc:  # server down, bad URI, DB locked: the run's files are already on disk
        raise AibenchError(f"MLflow logging to {uri} failed: {str(exc).splitlines()[0]} (check tracking.uri, or tracking.enabled=false)") from None
    return run_id
