"""The Hydra callback of a sweep (``conf/config.yaml``: ``hydra.callbacks.aibench_sweep``).

Hydra instantiates it for every command, single runs too; only the multirun hooks do anything:

* ``on_multirun_start`` (the Hydra process, before any job): the sweep dir's ``sweep.json`` (sweep
  id, the sweep's overrides, the MLflow store and the parent run's id) and the parent run itself,
  after the same reachability check a run makes (a dead server costs at most that check; the
  sweep goes on with its results on disk). With ``run.resume=true`` and no ``hydra.sweep.dir`` it
  points the sweep at the latest unfinished sweep of the same overrides.
* ``on_multirun_end``: the cells' summary table (``sweep_results.csv``/``.json``), the comparison
  report (``aibench.report.build_report``, where that package is installed), both logged to the
  parent run, which then ends.

The jobs' side (child runs, skipping finished cells) is in :mod:`aibench.tracking.sweep`.
"""

from __future__ import annotations

import atexit
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from aibench.console import say
from aibench.errors import AibenchError
from aibench.tracking.sweep import (
    REPORT_DIR,
    cell_dirs,
    close_parent,
    open_parent,
    read_sweep,
    sweep_key,
    unfinished_sweeps,
    write_results_table,
    write_sweep,
)

log = logging.getLogger("aibench")


def comparison_report(sweep_dir: Path) -> list[Path]:
    """``aibench.report.build_report`` over the sweep dir where that package exists; a failure is
    one warning line, never a failed sweep."""
    try:
        from aibench.report import build_report  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        return [Path(p) for p in build_report(sweep_dir, sweep_dir / REPORT_DIR)]
    except Exception as exc:
        text = str(exc).strip().splitlines()
        log.warning("comparison report of %s failed: %s", sweep_dir, text[0] if text else type(exc).__name__)
        return []


class SweepCallback(Callback):
    """Registered in ``conf/config.yaml`` (``hydra.callbacks.aibench_sweep``); acts on multiruns only."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        try:
            self._start(config)
        except AibenchError as exc:
            from aibench.cli import PREFIX, USER_ERROR

            print(f"{PREFIX}{exc}", file=sys.stderr)
            sys.exit(USER_ERROR)

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        self._ended = True
        try:
            self._end(config)
        except Exception as exc:  # the cells are done and on disk: never fail the sweep here
            log.warning("ending the sweep failed: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)

    def _start(self, config: Any) -> None:
        from omegaconf import open_dict, read_write

        overrides = [str(o) for o in config.hydra.overrides.task]
        key = sweep_key(overrides)
        root = Path(str(config.paths.output_root))
        explicit = any(str(o).startswith("hydra.sweep.dir=") for o in config.hydra.overrides.hydra)
        if bool(config.run.resume) and not explicit:
            found = unfinished_sweeps(root, key)
            if not found:
                raise AibenchError(
                    f"run.resume=true: no unfinished sweep of these overrides under {root}/multirun/; "
                    "name one with hydra.sweep.dir=<sweep dir>, or drop run.resume=true"
                )
            chosen = str(found[0])
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.sweep.dir = chosen
                config.hydra.overrides.hydra.append(f"hydra.sweep.dir={chosen}")  # the jobs compose with it
            cells = cell_dirs(found[0])
            done = sum(1 for c in cells if (c / "metrics.json").exists())
            say(f"resuming the latest unfinished sweep of these overrides: {chosen} ({done} cells finished)")
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        state = read_sweep(sweep_dir) or {}
        if state.get("overrides") not in (None, key):
            raise AibenchError(
                f"{sweep_dir} holds another sweep ({' '.join(state['overrides'])}): use a new hydra.sweep.dir"
            )
        now_ms = int(time.time() * 1000)
        state.update(
            sweep_id=state.get("sweep_id") or uuid.uuid4().hex[:12],
            sweep_dir=str(sweep_dir),
            overrides=key,
            started_ms=state.get("started_ms") or now_ms,
            status="RUNNING",
            invocations=int(state.get("invocations", 0)) + 1,
        )
        if bool(config.tracking.enabled):
            state["tracking"] = self._parent(config, root, state)
        write_sweep(sweep_dir, state)
        log.info("sweep %s in %s", state["sweep_id"], sweep_dir)
        self._ended = False
        atexit.register(self._abandoned, sweep_dir)

    def _abandoned(self, sweep_dir: Path) -> None:
        """At exit without ``on_multirun_end`` (Ctrl-C, a job that stopped the sweep): the sweep is
        marked interrupted and its parent run KILLED, not left RUNNING; rerunning the sweep with
        ``run.resume=true`` continues it under the same parent."""
        if self._ended:
            return
        state = read_sweep(sweep_dir)
        if state is None:
            return
        state.update(status="INTERRUPTED", finished_ms=int(time.time() * 1000))
        write_sweep(sweep_dir, state)
        tracking = state.get("tracking") or {}
        if tracking.get("parent_run_id"):
            try:
                from aibench.tracking.mlflow_logger import client_for

                client_for(tracking["uri"]).set_terminated(
                    tracking["parent_run_id"], status="KILLED", end_time=state["finished_ms"]
                )
            except Exception:  # the server is gone too: the parent stays RUNNING until the sweep resumes
                pass

    @staticmethod
    def _parent(config: Any, root: Path, state: dict[str, Any]) -> dict[str, Any]:
        from aibench.tracking import mlflow_logger as ml

        uri = str(config.tracking.uri or ml.default_uri(root))
        experiment = str(config.tracking.experiment)
        artifact_root = str((root / "mlartifacts").resolve())
        entry: dict[str, Any] = {"uri": uri, "experiment": experiment, "artifact_root": artifact_root}
        reason = ml.preflight(uri)
        if reason is None:
            try:
                entry["parent_run_id"] = open_parent(uri, experiment, artifact_root, state)
                return entry
            except Exception as exc:
                reason = ml.short_error(exc)
        entry["error"] = reason
        say(
            f"MLflow at {uri} is unreachable ({reason}): the sweep goes on, results stay in the sweep dir; "
            f"log it later with: python -m aibench.tracking.upload {ml.display_path(state['sweep_dir'])}",
            warning=True,
        )
        return entry

    def _end(self, config: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        state = read_sweep(sweep_dir)
        if state is None:
            return
        files = write_results_table(sweep_dir) + comparison_report(sweep_dir)
        cells = cell_dirs(sweep_dir)
        complete = bool(cells) and all((c / "metrics.json").exists() for c in cells)
        state.update(status="FINISHED" if complete else "INCOMPLETE", finished_ms=int(time.time() * 1000))
        write_sweep(sweep_dir, state)
        tracking = state.get("tracking") or {}
        if tracking.get("parent_run_id"):
            try:
                close_parent(
                    tracking["uri"],
                    tracking["parent_run_id"],
                    sweep_dir,
                    files,
                    state["finished_ms"],
                    "FINISHED" if complete else "FAILED",
                )
            except Exception as exc:
                from aibench.tracking.mlflow_logger import short_error

                log.warning("the sweep's MLflow parent run was not ended: %s", short_error(exc))
        from aibench.sweep.summary import print_sweep_summary
        from aibench.tracking.sweep import cell_rows

        print_sweep_summary(sweep_dir, cell_rows(sweep_dir), cells, files, state)
