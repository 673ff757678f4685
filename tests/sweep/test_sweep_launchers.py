"""The sweep under the optional Hydra launchers (extra `sweep`): hydra/launcher=joblib runs the
jobs in parallel processes, hydra/launcher=submitit_local through submitit; either way every cell
finishes in Hydra's layout and the MLflow runs form one parent with its children."""

from __future__ import annotations

import importlib.util
import json

from support import requires

from conftest import sweep, sweep_dirs

HOW = "pip install -e '.[sweep]'"


def has(plugin: str) -> bool:
    try:
        return importlib.util.find_spec(f"hydra_plugins.{plugin}") is not None
    except ModuleNotFoundError:  # no Hydra plugin installed at all: no hydra_plugins package
        return False


def check_parent_and_children(tmp_path, n_cells: int) -> None:
    from mlflow.tracking import MlflowClient

    (sweep_dir,) = sweep_dirs(tmp_path)
    cells = sorted(p for p in sweep_dir.iterdir() if p.name.isdigit())
    assert [c.name for c in cells] == [str(i) for i in range(n_cells)]
    reports = [json.loads((c / "metrics.json").read_text()) for c in cells]
    assert all(r["tasks"]["humaneval"]["pass@k"]["pass@1"] == 1.0 for r in reports)
    state = json.loads((sweep_dir / "sweep.json").read_text())
    client = MlflowClient(tracking_uri=state["tracking"]["uri"])
    parent = client.get_run(state["tracking"]["parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = [client.get_run(r["mlflow"]["run_id"]) for r in reports]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    assert sorted(c.data.params["model.temperature"] for c in children) == ["0.2", "0.8"][:n_cells]


def needs(plugin: str):
    """The ``requires`` marks (skip with the install step; a failure under AIBENCH_REQUIRE_EXTRAS=1)."""

    def decorate(test):
        for mark in requires("sweep", has(plugin), HOW):
            test = mark(test)
        return test

    return decorate


@needs("hydra_joblib_launcher")
def test_sweep_under_the_joblib_launcher(tmp_path):
    proc = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model=reference",
        "model.temperature=0.2,0.8",
        "run.limit=2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_parent_and_children(tmp_path, 2)


@needs("hydra_submitit_launcher")
def test_sweep_under_the_submitit_local_launcher(tmp_path):
    proc = sweep(
        tmp_path,
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        "model=reference",
        "model.temperature=0.2,0.8",
        "run.limit=2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    check_parent_and_children(tmp_path, 2)


@needs("hydra_joblib_launcher")
def test_resume_under_the_joblib_launcher(tmp_path):
    """The resumed sweep's dir reaches jobs in other processes too: the finished cell is left
    alone and the partial one continues from its samples."""
    args = (
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "model=reference",
        "model.temperature=0.2,0.8",
        "run.n_samples=2",
        "run.limit=2",
        "tracking.enabled=false",
    )
    first = sweep(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    done = (sweep_dir / "0" / "metrics.json").read_bytes()
    (sweep_dir / "1" / "metrics.json").unlink()
    results = (sweep_dir / "1" / "results.jsonl").read_text().splitlines()
    (sweep_dir / "1" / "results.jsonl").write_text(results[0] + "\n")
    again = sweep(tmp_path, *args, "run.resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sweep_dirs(tmp_path) == [sweep_dir]
    assert (sweep_dir / "0" / "metrics.json").read_bytes() == done
    resumed = json.loads((sweep_dir / "1" / "metrics.json").read_text())
    assert resumed["samples"]["resumed"] == 1 and resumed["samples"]["executed"] == 3
