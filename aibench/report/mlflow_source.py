"""The report from an MLflow experiment instead of a sweep dir: each finished run that carries the
``metrics.json`` artifact (aibench logs it with every run) becomes a job dir again, from its
artifacts (``metrics.json``, ``results.jsonl``, ``run_manifest.json`` where logged) and its params
(``model.name``, ``model.temperature``, ... written as the job's overrides), so the report reads it
as it reads a sweep. ``parent``: only the child runs of one sweep's parent run."""

from __future__ import annotations

import json
from pathlib import Path

from aibench.errors import AibenchError

ARTIFACTS = ("metrics.json", "results.jsonl", "run_manifest.json")
SKIP_PARAMS = {"config_hash"}


def fetch_experiment(uri: str, experiment: str, dest: Path, parent: str | None = None) -> Path:
    """Write one job dir per finished aibench run of ``experiment`` under ``dest``; returns ``dest``."""
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        exp = client.get_experiment_by_name(experiment)
    except MlflowException as exc:
        raise AibenchError(f"cannot read MLflow at {uri}: {str(exc).splitlines()[0]}") from None
    if exp is None:
        raise AibenchError(f"no MLflow experiment {experiment!r} at {uri}: pass --experiment NAME (or --uri URI)")
    query = "attributes.status = 'FINISHED'"
    if parent:
        query += f" and tags.mlflow.parentRunId = '{parent}'"
    runs = client.search_runs([exp.experiment_id], filter_string=query, max_results=5000)
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    for run in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        run_id = run.info.run_id
        names = {a.path for a in client.list_artifacts(run_id)}
        if "metrics.json" not in names:  # a sweep's parent run, or not an aibench run
            continue
        job = dest / str(n)
        job.mkdir(parents=True, exist_ok=True)
        for name in ARTIFACTS:
            if name in names:
                download_artifacts(run_id=run_id, artifact_path=name, dst_path=str(job), tracking_uri=uri)
        overrides = [f"{k}={v}" for k, v in sorted(run.data.params.items()) if k not in SKIP_PARAMS]
        (job / ".hydra").mkdir(exist_ok=True)
        (job / ".hydra" / "overrides.yaml").write_text(
            "".join(f"- {json.dumps(o)}\n" for o in overrides), encoding="utf-8"
        )
        (job / "mlflow_run.json").write_text(json.dumps({"run_id": run_id, "run_name": run.info.run_name}))
        n += 1
    if n == 0:
        where = f" under parent run {parent}" if parent else ""
        raise AibenchError(f"MLflow experiment {experiment!r} at {uri} holds no finished aibench runs{where}")
    return dest
