"""Log a run to MLflow: one run per aibench run, its params and metrics in one batched call, the
per-problem results as one table artifact, the run files as artifacts.

Default store: a local SQLite database under ``paths.output_root`` (no server needed); view it with
``mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db``. ``tracking.uri`` points anywhere else.

Nothing here runs on the critical path of a run: :mod:`aibench.tracking.background` drives these
functions from a worker process started at run start, and ``python -m aibench.tracking.upload``
calls them on a finished run dir (a run whose server was down).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shlex
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from aibench.errors import AibenchError

# the run files logged as artifacts (generations_<task>.json repeats generations.jsonl: not logged)
ARTIFACTS = (
    "generations.jsonl",
    "results.jsonl",
    "metrics.json",
    "evaluation_results.json",
    "run_manifest.json",
    "config.yaml",
)
PER_PROBLEM_TABLE = "per_problem.csv"
PER_TASK_TABLE = "per_task"  # .csv and .json: pass@k, problems, samples and statuses of each task
SAMPLES_TABLE = "samples.json"  # mlflow.log_table: one row per sample, shown in the MLflow UI
COMPLETION_CHARS = 4000  # a completion longer than this is cut in the samples table (the file has it whole)
SAMPLE_ROWS = 10000  # at most this many rows in the samples table: failed samples first (results.jsonl has all)
PREFLIGHT_TIMEOUT = 2.0  # seconds: how long a run waits to learn that its tracking server is down

# MLflow's HTTP defaults retry 7 times with exponential backoff (~4 minutes against a dead
# server); a run's logging gives up after a few seconds and offers the upload command instead.
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # an integer: MLflow rejects "0.5" and every call then fails
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def default_uri(output_root: str | Path) -> str:
    return f"sqlite:///{Path(output_root).resolve() / 'mlflow.db'}"


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def preflight(uri: str, timeout: float = PREFLIGHT_TIMEOUT) -> str | None:
    """None if ``uri`` can be logged to as far as a quick look tells, else the reason in a few words.
    Local stores (sqlite, file paths) need no check; an http(s) server must answer within ``timeout``."""
    if not is_remote(uri):
        return None
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:  # a gateway without its server, or a server failing
            return f"HTTP {exc.code} from {uri}"
        return None  # something answers (an older server without /health): let MLflow talk to it
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return f"no answer within {timeout:g} s"
        if isinstance(reason, socket.gaierror):
            return "unknown host"
        return str(reason)
    except (TimeoutError, socket.timeout):
        return f"no answer within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return str(exc).splitlines()[0] or type(exc).__name__


def upload_command(run_dir: str | Path, uri: str | None = None) -> str:
    """The command that logs a finished run dir to MLflow later."""
    cmd = ["python", "-m", "aibench.tracking.upload", display_path(run_dir)]
    if uri:
        cmd += ["--uri", uri]
    return " ".join(shlex.quote(c) for c in cmd)


def display_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter commands)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def metric_name(name: str) -> str:
    """MLflow metric keys allow [A-Za-z0-9_-./ ]: ``pass@1`` becomes ``pass_at_1``."""
    return name.replace("@", "_at_")


def flatten_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """Run-level numbers only: pass@k per task (and overall with one task), status counts,
    security counts, sample counts and the run time. Per-problem values go to one table."""
    out: dict[str, float] = {}
    tasks = report.get("tasks", {})
    for task, res in tasks.items():
        for k, v in res.get("pass@k", {}).items():
            out[f"{task}/{metric_name(k)}"] = float(v)
            if len(tasks) == 1:
                out[metric_name(k)] = float(v)
    if len(tasks) > 1:
        out.update({metric_name(k): v for k, v in overall_pass_at_k(tasks).items()})
    for status, count in report.get("status_counts", {}).items():
        out[f"status/{status}"] = float(count)
    for key, value in report.get("security", {}).items():
        if isinstance(value, (int, float)):
            out[f"security/{key}"] = float(value)
    for key, value in report.get("samples", {}).items():
        if isinstance(value, (int, float)):
            out[f"samples/{key}"] = float(value)
    if isinstance(report.get("elapsed_s"), (int, float)):
        out["elapsed_s"] = float(report["elapsed_s"])
    for key, value in report.get("extra_metrics", {}).items():  # names made by the harness (harness=lm_eval)
        out[key] = float(value)
    check = report.get("cross_check")
    if isinstance(check, Mapping):  # harness.cross_check: both engines' pass@k side by side
        for task, res in check.get("tasks", {}).items():
            for engine in check.get("engines", ()):
                for k, v in res.get(engine, {}).items():
                    out[f"cross_check/{task}/{engine}/{metric_name(k)}"] = float(v)
        out["cross_check/agree"] = 1.0 if check.get("agree") else 0.0
    return out


def overall_pass_at_k(tasks: Mapping[str, Any]) -> dict[str, float]:
    """pass@k over every problem of every task (the mean of the per-problem values), for each k
    that all tasks report; pass@k of one task is the same mean over its own problems."""
    common: set[str] | None = None
    values: dict[str, list[float]] = {}
    for res in tasks.values():
        ks = set(res.get("pass@k", {}))
        common = ks if common is None else common & ks
        for problem in (res.get("per_problem") or {}).values():
            for k in ks:
                if isinstance(problem.get(k), (int, float)):
                    values.setdefault(k, []).append(float(problem[k]))
    return {k: sum(values[k]) / len(values[k]) for k in sorted(common or ()) if values.get(k)}


def per_task_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per task: problems, samples, pass@k and status counts (the per-task table)."""
    rows = []
    for task, res in report.get("tasks", {}).items():
        row: dict[str, Any] = {"task": task, "n_problems": res.get("n_problems"), "n_samples": res.get("n_samples")}
        row.update({k: v for k, v in res.get("pass@k", {}).items()})
        row.update({f"status/{k}": v for k, v in sorted((res.get("status_counts") or {}).items())})
        rows.append(row)
    return rows


def write_per_task_table(report: Mapping[str, Any], directory: Path) -> list[Path]:
    """``per_task.csv`` and ``per_task.json`` in ``directory``; none for a report without tasks."""
    return write_rows(per_task_rows(report), directory, PER_TASK_TABLE)


def write_rows(rows: list[dict[str, Any]], directory: Path, stem: str) -> list[Path]:
    """``<stem>.csv`` (columns in first-seen order) and ``<stem>.json`` in ``directory``; none for no rows."""
    import json

    if not rows:
        return []
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    csv_path, json_path = directory / f"{stem}.csv", directory / f"{stem}.json"
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return [csv_path, json_path]


def sample_table(run_dir: Path) -> dict[str, list[Any]]:
    """Columns for ``mlflow.log_table``: one row per sample of ``results.jsonl`` (task, sample, status,
    passed, the first failing assert or the error, the completion as generated); at most
    ``SAMPLE_ROWS`` rows, failed samples first."""
    from aibench.outputs import GENERATIONS, RESULTS, read_jsonl

    completions = {
        (g.get("task"), g.get("task_id"), g.get("sample_index")): g.get("completion") or g.get("program") or ""
        for g in read_jsonl(run_dir / GENERATIONS)
    }
    columns: dict[str, list[Any]] = {
        k: [] for k in ("task", "task_id", "sample", "status", "passed", "failing_assert", "error", "completion")
    }
    records = list(read_jsonl(run_dir / RESULTS))
    if len(records) > SAMPLE_ROWS:  # a large run: every failure that fits, then passes, in file order
        keep = sorted(range(len(records)), key=lambda i: bool(records[i].get("passed")))[:SAMPLE_ROWS]
        records = [records[i] for i in sorted(keep)]
    for r in records:
        key = (r.get("task"), r.get("task_id"), r.get("sample_index"))
        where = (r.get("detail") or {}).get("failed_assert") or {}
        completion = completions.get(key, "")
        if len(completion) > COMPLETION_CHARS:
            completion = completion[:COMPLETION_CHARS] + f"... [{len(completion) - COMPLETION_CHARS} more chars]"
        columns["task"].append(r.get("task"))
        columns["task_id"].append(r.get("task_id"))
        columns["sample"].append(r.get("sample_index"))
        columns["status"].append(r.get("status"))
        columns["passed"].append(bool(r.get("passed")))
        columns["failing_assert"].append(f"line {where.get('line')}: {where.get('text', '')}" if where else "")
        columns["error"].append((r.get("error") or "")[:500])
        columns["completion"].append(completion)
    return columns


def per_problem_table(report: Mapping[str, Any]) -> str:
    """CSV: task, problem, n, c and pass@k of each problem (one row per problem)."""
    rows = []
    ks: list[str] = []
    for task, res in report.get("tasks", {}).items():
        for pid, values in res.get("per_problem", {}).items():
            for k in values:
                if k.startswith("pass@") and k not in ks:
                    ks.append(k)
            rows.append((task, pid, values))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["task", "task_id", "n", "c", *ks])
    for task, pid, values in rows:
        writer.writerow([task, pid, values.get("n"), values.get("c"), *(values.get(k, "") for k in ks)])
    return buf.getvalue()


def quiet_mlflow() -> None:
    for key, value in HTTP_ENV.items():
        os.environ.setdefault(key, value)
    for noisy in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def client_for(uri: str):
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    quiet_mlflow()  # importing MLflow sets its loggers to INFO
    return MlflowClient(tracking_uri=uri)


def experiment_id(client: Any, uri: str, experiment: str, artifact_root: str | Path | None) -> str:
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    location = None
    if artifact_root and not is_remote(uri):
        Path(artifact_root).mkdir(parents=True, exist_ok=True)
        location = Path(artifact_root).resolve().as_uri()
    return client.create_experiment(experiment, artifact_location=location)


def create_run(client: Any, exp_id: str, run_name: str | None, start_ms: int, tags: Mapping[str, str]) -> str:
    run = client.create_run(exp_id, start_time=start_ms, run_name=run_name, tags=dict(tags))
    return run.info.run_id


def finish_run(
    client: Any,
    run_id: str,
    *,
    params: Mapping[str, Any],
    report: Mapping[str, Any] | None,
    run_dir: Path,
    end_ms: int,
    status: str = "FINISHED",
) -> None:
    """Params and metrics in one call, then the artifacts, then the run's end time and status."""
    import tempfile

    from mlflow.entities import Metric, Param

    metrics = flatten_metrics(report or {})
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, end_ms, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)[:6000]) for k, v in params.items()],
    )
    for name in (*ARTIFACTS, *(report or {}).get("artifacts", ())):  # plus the harness's own files
        path = run_dir / name
        if path.exists():
            client.log_artifact(run_id, str(path))
    if report and report.get("tasks"):
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / PER_PROBLEM_TABLE
            table.write_text(per_problem_table(report), encoding="utf-8")
            client.log_artifact(run_id, str(table))
            for path in write_per_task_table(report, Path(tmp)):
                client.log_artifact(run_id, str(path))
    samples = sample_table(run_dir)
    if samples["task"]:
        client.log_table(run_id, data=samples, artifact_file=SAMPLES_TABLE)
    client.set_terminated(run_id, status=status, end_time=end_ms)


def log_run(
    *,
    uri: str,
    experiment: str,
    run_name: str | None,
    params: Mapping[str, Any],
    report: Mapping[str, Any],
    run_dir: Path,
    artifact_root: Path | None,
    start_ms: int,
    end_ms: int,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Create and fill one MLflow run in the calling process (the upload command); returns its id.
    ``tags`` adds to the run dir's tag (a sweep job: its parent run, sweep id and overrides)."""
    try:
        client = client_for(uri)
        exp_id = experiment_id(client, uri, experiment, artifact_root)
        all_tags = {**(tags or {}), "aibench.run_dir": str(run_dir.resolve())}
        run_id = create_run(client, exp_id, run_name, start_ms, all_tags)
        finish_run(client, run_id, params=params, report=report, run_dir=run_dir, end_ms=end_ms)
    except Exception as exc:  # server down, bad URI, DB locked: the run's files stay on disk
        raise AibenchError(f"MLflow logging to {uri} failed: {short_error(exc)} (check --uri)") from None
    return run_id
