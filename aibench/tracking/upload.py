"""``python -m aibench.tracking.upload RUN_DIR [--uri URI] [--experiment NAME] [--force]``

Log a finished run dir to MLflow after the fact: for a run whose tracking server was down or
unreachable (the run prints this command), or to copy a run into another store. Params, run name,
experiment and store come from the run's ``run_manifest.json``; metrics and the run's real start
and end times from its ``metrics.json``. Errors are one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aibench.errors import AibenchError

PREFIX = "aibench: error: "


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AibenchError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def upload(run_dir: str | Path, uri: str | None = None, experiment: str | None = None, force: bool = False) -> str:
    """Log ``run_dir`` to MLflow; returns the MLflow run id. Updates the run's metrics.json."""
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
    )
    report["mlflow"] = {"uri": target, "run_id": run_id}
    tmp = metrics_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(metrics_file)
    return run_id


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aibench error
        sys.stderr.write(f"{PREFIX}{message} (usage: python -m aibench.tracking.upload RUN_DIR [--uri URI])\n")
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m aibench.tracking.upload", description=__doc__.split("\n\n")[1])
    parser.add_argument("run_dir", help="a finished run dir (holds metrics.json and run_manifest.json)")
    parser.add_argument("--uri", help="MLflow tracking URI (default: the one the run was configured with)")
    parser.add_argument("--experiment", help="MLflow experiment (default: the run's tracking.experiment)")
    parser.add_argument("--force", action="store_true", help="log again even if this store already has the run")
    args = parser.parse_args(argv)
    try:
        run_id = upload(args.run_dir, args.uri, args.experiment, args.force)
    except AibenchError as exc:
        sys.stderr.write(f"{PREFIX}{exc}\n")
        return 2
    report = json.loads((Path(args.run_dir) / "metrics.json").read_text(encoding="utf-8"))
    print(f"logged {args.run_dir} to MLflow at {report['mlflow']['uri']}: run id {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
