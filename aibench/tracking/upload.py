"""``python -m aibench.tracking.upload RUN_DIR|SWEEP_DIR [--uri URI] [--experiment NAME] [--force]``

Log a finished run dir, or a whole sweep dir, to MLflow after the fact: for a run whose tracking server was
down or unreachable (the run prints this command), or to copy runs into another store. Params, run name,
experiment and store come from the run's ``run_manifest.json``; metrics and the run's real start
and end times from its ``metrics.json``. A sweep dir (``outputs/multirun/<date>/<time>``) gets its
parent run and one child run per finished cell, as the sweep would have logged them. Errors are
one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aibench.errors import AibenchError

PREFIX = "aibench: error: "


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AibenchError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def upload(
    run_dir: str | Path,
    uri: str | None = None,
    experiment: str | None = None,
    force: bool = False,
    tags: dict[str, str] | None = None,
) -> str:
    """Log ``run_dir`` to MLflow; returns the MLflow run id. Updates the run's metrics.json.
    ``tags``: the run's tags (default: those in its manifest; a sweep cell's parent run and sweep id)."""
    from aibench.tracking.mlflow_logger import display_path, log_run, preflight

    path = Path(run_dir)
    if not path.is_dir():
        raise AibenchError(f"no such run dir: {path}")
    metrics_file, manifest_file = path / "metrics.json", path / "run_manifest.json"
    if not manifest_file.exists():
        raise AibenchError(f"{path} is not an aibench run dir (no run_manifest.json)")
    if not metrics_file.exists():
        raise AibenchError(
            f"{path} holds an unfinished run (no metrics.json): finish it first with "
            f"python -m aibench run.resume=true hydra.run.dir={display_path(path)} (plus the run's overrides)"
        )
    report, manifest = _load(metrics_file), _load(manifest_file)
    tracking = manifest.get("tracking") or {}
    target = uri or tracking.get("uri")
    if not target:
        raise AibenchError(f"{manifest_file} names no MLflow store: pass --uri URI")
    logged = report.get("mlflow") or {}
    if logged.get("run_id") and logged.get("uri") == target and not force:
        raise AibenchError(f"{path} is already logged to {target} as run {logged['run_id']} (--force logs it again)")
    reason = preflight(target)
    if reason:
        raise AibenchError(f"MLflow at {target} is unreachable ({reason}): start the server or pass --uri URI")
    started = report.get("started_ms") or int(Path(manifest_file).stat().st_mtime * 1000)
    ended = report.get("finished_ms") or int(metrics_file.stat().st_mtime * 1000)
    run_id = log_run(
        uri=target,
        experiment=experiment or tracking.get("experiment") or "aibench",
        run_name=tracking.get("run_name"),
        params=tracking.get("params") or {},
        report=report,
        run_dir=path,
        artifact_root=Path(tracking["artifact_root"]) if tracking.get("artifact_root") else None,
        start_ms=int(started),
        end_ms=int(ended),
        tags=tags if tags is not None else tracking.get("tags"),
    )
    report["mlflow"] = {"uri": target, "run_id": run_id}
    tmp = metrics_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(metrics_file)
    return run_id


# -- upload of a whole sweep dir ----------------------------------------------------------------------
def is_sweep_dir(path: Path) -> bool:
    from aibench.tracking.sweep import SWEEP_FILE, cell_dirs

    return (path / SWEEP_FILE).exists() or (
        not (path / "run_manifest.json").exists() and any((c / "run_manifest.json").exists() for c in cell_dirs(path))
    )


def upload_sweep(
    sweep_dir: str | Path, uri: str | None = None, experiment: str | None = None, force: bool = False
) -> tuple[str, list[str], list[str]]:
    """Log a sweep dir: the parent run (the sweep's own, when ``uri`` holds it, else a new one)
    and one child run per finished cell not yet logged there. Returns (parent id, child ids,
    notes on cells left out)."""
    from aibench.tracking import mlflow_logger as ml
    from aibench.tracking.sweep import cell_dirs, cell_overrides, close_parent, open_parent, read_sweep
    from aibench.tracking.sweep import write_results_table, write_sweep

    path = Path(sweep_dir).resolve()
    cells = [c for c in cell_dirs(path) if (c / "run_manifest.json").exists()]
    if not cells:
        raise AibenchError(f"{path} holds no sweep cells (no <job>/run_manifest.json)")
    state = read_sweep(path) or {}
    manifests = [json.loads((c / "run_manifest.json").read_text(encoding="utf-8")) for c in cells]
    first = next((m.get("tracking") for m in manifests if m.get("tracking")), None) or {}
    tracking = state.get("tracking") or {}
    target = uri or tracking.get("uri") or first.get("uri")
    if not target:
        raise AibenchError(f"{path} names no MLflow store: pass --uri URI")
    experiment = experiment or tracking.get("experiment") or first.get("experiment") or "aibench"
    reason = ml.preflight(target)
    if reason:
        raise AibenchError(f"MLflow at {target} is unreachable ({reason}): start the server or pass --uri URI")
    if not state:  # a sweep run before sweep.json existed: its identity from Hydra's files
        state = {"sweep_id": uuid.uuid4().hex[:12], "sweep_dir": str(path), "overrides": []}
    state.setdefault("started_ms", min(int(m.get("started_ms") or 0) for m in manifests) or int(time.time() * 1000))
    state["sweep_dir"] = str(path)
    artifact_root = tracking.get("artifact_root") or first.get("artifact_root")
    keep = dict(state)
    if force or tracking.get("uri") != target:
        keep.pop("tracking", None)  # a new parent in this store
    try:
        parent = open_parent(target, experiment, artifact_root, keep)
    except Exception as exc:
        raise AibenchError(f"MLflow logging to {target} failed: {ml.short_error(exc)} (check --uri)") from None
    state["tracking"] = {
        "uri": target,
        "experiment": experiment,
        "artifact_root": artifact_root,
        "parent_run_id": parent,
    }
    write_sweep(path, state)

    children, notes = [], []
    for cell, manifest in zip(cells, manifests):
        if not (cell / "metrics.json").exists():
            notes.append(f"{cell.name}: unfinished (no metrics.json), not logged; resume the sweep first")
            continue
        report = json.loads((cell / "metrics.json").read_text(encoding="utf-8"))
        logged = report.get("mlflow") or {}
        if logged.get("run_id") and logged.get("uri") == target and not force:
            notes.append(f"{cell.name}: already logged as run {logged['run_id']}")
            continue
        tags = dict((manifest.get("tracking") or {}).get("tags") or {})
        tags.update(
            {
                "mlflow.parentRunId": parent,
                "aibench.sweep_id": str(state["sweep_id"]),
                "aibench.sweep_dir": str(path),
                "aibench.job_num": cell.name,
                "aibench.overrides": tags.get("aibench.overrides") or " ".join(cell_overrides(cell)),
            }
        )
        children.append(upload(cell, target, experiment, force=True, tags=tags))
    files = write_results_table(path)
    state["status"] = "FINISHED" if all((c / "metrics.json").exists() for c in cells) else "INCOMPLETE"
    state.setdefault("finished_ms", int(time.time() * 1000))
    write_sweep(path, state)
    try:
        close_parent(target, parent, path, files, int(state["finished_ms"]), "FINISHED")
    except Exception as exc:
        raise AibenchError(f"MLflow logging to {target} failed: {ml.short_error(exc)} (check --uri)") from None
    return parent, children, notes


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aibench error
        sys.stderr.write(
            f"{PREFIX}{message} (usage: python -m aibench.tracking.upload RUN_DIR|SWEEP_DIR [--uri URI])\n"
        )
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m aibench.tracking.upload", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "run_dir", help="a finished run dir (holds metrics.json and run_manifest.json) or a sweep dir (multirun/...)"
    )
    parser.add_argument("--uri", help="MLflow tracking URI (default: the one the run was configured with)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the run's tracking.experiment)")
    parser.add_argument("--force", action="store_true", help="log again even if this store already has the run")
    args = parser.parse_args(argv)
    try:
        if Path(args.run_dir).is_dir() and is_sweep_dir(Path(args.run_dir)):
            parent, children, notes = upload_sweep(args.run_dir, args.uri, args.experiment, args.force)
            for note in notes:
                print(f"  cell {note}")
            target = json.loads((Path(args.run_dir) / "sweep.json").read_text(encoding="utf-8"))["tracking"]["uri"]
            print(
                f"logged sweep {args.run_dir} to MLflow at {target}: parent run {parent}, {len(children)} child run(s)"
            )
            return 0
        run_id = upload(args.run_dir, args.uri, args.experiment, args.force)
    except AibenchError as exc:
        sys.stderr.write(f"{PREFIX}{exc}\n")
        return 2
    report = json.loads((Path(args.run_dir) / "metrics.json").read_text(encoding="utf-8"))
    print(f"logged {args.run_dir} to MLflow at {report['mlflow']['uri']}: run id {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
