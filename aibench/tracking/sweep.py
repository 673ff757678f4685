"""Hydra multirun sweeps as one unit: a sweep id, one MLflow parent run, resume of a whole sweep.

The Hydra callback that drives this is :class:`aibench.sweep.callback.SweepCallback`
(``conf/config.yaml``); it only acts on a multirun (``python -m aibench -m ...``).

* ``on_multirun_start`` (the Hydra process, before any job): the sweep dir's ``sweep.json`` (sweep
  id, the sweep's overrides, the MLflow store and the parent run's id); the parent run itself,
  after the same reachability check a run makes (a dead server costs at most that check, the
  sweep goes on with its results on disk). With ``run.resume=true`` and no ``hydra.sweep.dir``
  it points the sweep at the latest unfinished sweep of the same overrides.
* every job (any launcher, any process) reads ``sweep.json`` from its sweep dir: its MLflow run is
  a child of the parent (``mlflow.parentRunId``) tagged with the sweep id and the job's overrides
  (:func:`job_tags`); on resume a finished cell is not redone (:func:`finished_cell`).
* ``on_multirun_end``: a summary table of the cells (``sweep_results.csv``/``.json``), the
  comparison report (``aibench.report.build_report``, where that package is installed), both
  logged to the parent run, which then ends.

``python -m aibench.tracking.upload <sweep dir>`` recreates the same structure later
(:func:`upload_sweep`), e.g. after the tracking server was down during the sweep.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping


log = logging.getLogger("aibench")

SWEEP_FILE = "sweep.json"
RESULTS_TABLE = "sweep_results"  # .csv and .json: one row per cell
REPORT_DIR = "report"
# overrides that do not change which cells a sweep has (resuming one is the same sweep)
NOT_IDENTITY = ("run.resume=", "run.progress=", "hydra.")


# -- the sweep's identity and state ----------------------------------------------------------------
def sweep_key(overrides: list[str]) -> list[str]:
    """The overrides that define a sweep's cells, in a stable order (``run.resume`` left out)."""
    return sorted(o for o in overrides if not o.lstrip("+~").startswith(NOT_IDENTITY))


def read_sweep(sweep_dir: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(sweep_dir) / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_sweep(sweep_dir: str | Path, state: Mapping[str, Any]) -> None:
    path = Path(sweep_dir) / SWEEP_FILE
    tmp = path.with_name(f".{SWEEP_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def cell_dirs(sweep_dir: str | Path) -> list[Path]:
    """The sweep's job dirs (Hydra's ``<sweep dir>/<job num>``), in job order."""
    root = Path(sweep_dir)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def cell_overrides(cell: Path) -> list[str]:
    try:
        from omegaconf import OmegaConf

        return [str(o) for o in OmegaConf.load(cell / ".hydra" / "overrides.yaml")]
    except Exception:
        return []


def sweep_finished(sweep_dir: Path, state: Mapping[str, Any]) -> bool:
    cells = cell_dirs(sweep_dir)
    return state.get("status") == "FINISHED" and bool(cells) and all((c / "metrics.json").exists() for c in cells)


def unfinished_sweeps(output_root: str | Path, key: list[str]) -> list[Path]:
    """Sweep dirs under ``<output_root>/multirun`` of the same overrides that did not finish, newest first."""
    found: list[tuple[float, Path]] = []
    for state_file in Path(output_root).glob(f"multirun/*/*/{SWEEP_FILE}"):
        state = read_sweep(state_file.parent) or {}
        if state.get("overrides") != key or sweep_finished(state_file.parent, state):
            continue
        found.append((float(state.get("started_ms") or state_file.stat().st_mtime * 1000), state_file.parent))
    return [d for _, d in sorted(found, reverse=True)]


# -- inside a job ------------------------------------------------------------------------------------
def _hydra_config() -> Any:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get() if HydraConfig.initialized() else None
    except Exception:  # pragma: no cover
        return None


def job_info() -> dict[str, Any] | None:
    """``{sweep_dir, job_num, overrides}`` of the current Hydra job when it is a multirun job."""
    hc = _hydra_config()
    if hc is None:
        return None
    from hydra.types import RunMode

    if hc.mode != RunMode.MULTIRUN:
        return None
    return {
        "sweep_dir": Path(str(hc.sweep.dir)).resolve(),
        "job_num": hc.job.num,
        "overrides": list(hc.overrides.task),
    }


def job_tags(uri: str) -> dict[str, str]:
    """MLflow tags of a sweep job's run: the parent run (when it was created in ``uri``), the
    sweep id and dir, the job number and its overrides; ``{}`` outside a sweep."""
    info = job_info()
    if info is None:
        return {}
    state = read_sweep(info["sweep_dir"]) or {}
    tags = {
        "aibench.sweep_id": str(state.get("sweep_id", "")),
        "aibench.sweep_dir": str(info["sweep_dir"]),
        "aibench.job_num": str(info["job_num"]),
        "aibench.overrides": " ".join(info["overrides"]),
    }
    tracking = state.get("tracking") or {}
    if tracking.get("parent_run_id") and tracking.get("uri") == uri:
        tags["mlflow.parentRunId"] = tracking["parent_run_id"]
    return tags


def _run_identity(config: Mapping[str, Any]) -> dict[str, Any]:
    run = config.get("run") or {}
    return {k: run.get(k) for k in ("n_samples", "limit", "seed", "shard")}


def finished_cell(run_dir: str | Path, resolved: Mapping[str, Any], graph: str, resume: bool) -> Any:
    """The stored report of a sweep cell that already finished with this config (resume of a
    sweep: it is not redone), else None. Only for multirun jobs with ``run.resume=true``."""
    if not resume or job_info() is None:
        return None
    cell = Path(run_dir)
    try:
        manifest = json.loads((cell / "run_manifest.json").read_text(encoding="utf-8"))
        report = json.loads((cell / "metrics.json").read_text(encoding="utf-8"))
        from omegaconf import OmegaConf

        stored = OmegaConf.to_container(OmegaConf.load(cell / "config.yaml"))
    except (OSError, ValueError):
        return None
    except Exception:  # an unreadable config.yaml: run the cell
        return None
    if manifest.get("graph_hash") != graph or _run_identity(stored) != _run_identity(resolved):  # type: ignore[arg-type]
        return None
    from aibench.types import RunReport

    return RunReport.from_dict(report)


def fresh_cell(run_dir: str | Path) -> bool:
    """A sweep job whose dir holds no samples yet: ``run.resume=true`` starts it afresh."""
    from aibench.outputs import RunDir

    return job_info() is not None and not RunDir.peek_records(Path(run_dir))


# -- the summary and the parent run ------------------------------------------------------------------
def cell_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per finished cell: job, overrides, the stable params and the overall/per-task pass@k."""
    from aibench.tracking.mlflow_logger import flatten_metrics

    rows = []
    for cell in cell_dirs(sweep_dir):
        try:
            report = json.loads((cell / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        try:
            manifest = json.loads((cell / "run_manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        params = (manifest.get("tracking") or {}).get("params") or {}
        config = _load_config(cell)
        row: dict[str, Any] = {"job": int(cell.name), "overrides": " ".join(cell_overrides(cell))}
        for key in ("model.name", "model.temperature", "model.top_p", "run.n_samples", "run.limit", "harness.tasks"):
            if key in params:  # as logged to MLflow
                row[key] = params[key]
            elif key != "model.name":  # tracking off: as configured
                value = _select(config, key)
                row[key] = ",".join(map(str, value)) if isinstance(value, list) else value
        row.setdefault("model.name", report.get("model"))
        metrics = flatten_metrics(report)
        row.update({k: v for k, v in metrics.items() if "pass_at_" in k and not k.startswith("cross_check/")})
        row["mlflow_run_id"] = (report.get("mlflow") or {}).get("run_id", "")
        rows.append(row)
    return rows


def _load_config(cell: Path) -> dict[str, Any]:
    try:
        from omegaconf import OmegaConf

        loaded = OmegaConf.to_container(OmegaConf.load(cell / "config.yaml"))
        return loaded if isinstance(loaded, dict) else {}
    except Exception:
        return {}


def _select(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def write_results_table(sweep_dir: Path) -> list[Path]:
    from aibench.tracking.mlflow_logger import write_rows

    return write_rows(cell_rows(sweep_dir), sweep_dir, RESULTS_TABLE)


def parent_run_name(state: Mapping[str, Any]) -> str:
    return f"sweep {state.get('sweep_id')}: " + " ".join(state.get("overrides") or [])


def open_parent(uri: str, experiment: str, artifact_root: str | None, state: Mapping[str, Any]) -> str:
    """The sweep's parent run in ``uri``: the one ``state`` names (a resumed sweep, set RUNNING
    again) or a new one. Raises on any MLflow failure."""
    from aibench.tracking import mlflow_logger as ml

    client = ml.client_for(uri)
    tracking = state.get("tracking") or {}
    old = tracking.get("parent_run_id") if tracking.get("uri") == uri else None
    if old:
        try:
            client.update_run(old, status="RUNNING")
            return old
        except Exception:  # gone from the store: a new parent
            pass
    exp_id = ml.experiment_id(client, uri, experiment, artifact_root)
    tags = {
        "aibench.sweep_id": str(state.get("sweep_id")),
        "aibench.sweep_dir": str(state.get("sweep_dir")),
        "aibench.overrides": " ".join(state.get("overrides") or []),
        "aibench.role": "sweep",
    }
    run_id = ml.create_run(client, exp_id, parent_run_name(state), int(state.get("started_ms") or 0), tags)
    client.log_param(run_id, "sweep.overrides", " ".join(state.get("overrides") or [])[:6000])
    return run_id


def close_parent(uri: str, run_id: str, sweep_dir: Path, files: list[Path], end_ms: int, status: str) -> None:
    """Log the sweep's files and cell counts to the parent run and end it."""
    from mlflow.entities import Metric

    from aibench.tracking import mlflow_logger as ml

    client = ml.client_for(uri)
    cells = cell_dirs(sweep_dir)
    done = sum(1 for c in cells if (c / "metrics.json").exists())
    client.log_batch(
        run_id, metrics=[Metric("cells/total", len(cells), end_ms, 0), Metric("cells/finished", done, end_ms, 0)]
    )
    for name in (SWEEP_FILE, "multirun.yaml"):
        if (sweep_dir / name).exists():
            client.log_artifact(run_id, str(sweep_dir / name))
    for path in files:
        sub = REPORT_DIR if path.parent.name == REPORT_DIR else None
        client.log_artifact(run_id, str(path), artifact_path=sub)
    client.set_terminated(run_id, status=status, end_time=end_ms)
