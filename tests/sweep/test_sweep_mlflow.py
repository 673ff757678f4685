"""A sweep against a real MLflow tracking server: one parent run, one child run per job with the
sweep id, the overrides and stable params, pass@k metrics, the run files and the per-sample table;
a server that dies mid-sweep costs no cell, and the upload command completes the structure."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from conftest import REPO, mlflow_server, stop_server, sweep, sweep_dirs, write_replay


def runs_of(client, experiment="aibench"):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("aibench.role") == "sweep"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return exp, runs, parents, children


def test_sweep_logs_parent_and_children_to_a_real_server(tmp_path):
    from mlflow.tracking import MlflowClient

    replay = write_replay(tmp_path / "gens.jsonl")
    with mlflow_server(tmp_path) as (url, _):
        proc = sweep(
            tmp_path,
            "model=replay",
            f"model.path={replay}",
            "model.temperature=0.2,0.8",
            "run.n_samples=2",
            "run.limit=2",
            f"tracking.uri={url}",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        (sweep_dir,) = sweep_dirs(tmp_path)
        state = json.loads((sweep_dir / "sweep.json").read_text())
        client = MlflowClient(tracking_uri=url)
        exp, runs, parents, children = runs_of(client)
        assert len(runs) == 3 and len(parents) == 1 and len(children) == 2
        parent = parents[0]
        assert parent.info.run_id == state["tracking"]["parent_run_id"] and parent.info.status == "FINISHED"
        assert parent.data.tags["aibench.sweep_id"] == state["sweep_id"]
        assert parent.data.metrics == {"cells/total": 2.0, "cells/finished": 2.0}
        parent_files = {a.path for a in client.list_artifacts(parent.info.run_id)}
        assert {"sweep.json", "sweep_results.csv", "sweep_results.json", "multirun.yaml"} <= parent_files
        if importlib.util.find_spec("aibench.report") is not None:  # the comparison report, at the sweep's end
            assert "report/report.html" in {a.path for a in client.list_artifacts(parent.info.run_id, "report")}

        by_temp = {r.data.params["model.temperature"]: r for r in children}
        assert set(by_temp) == {"0.2", "0.8"}
        for temp, child in by_temp.items():
            tags = child.data.tags
            assert tags["mlflow.parentRunId"] == parent.info.run_id
            assert tags["aibench.sweep_id"] == state["sweep_id"]
            assert f"model.temperature={temp}" in tags["aibench.overrides"].split()
            cell = sweep_dir / tags["aibench.job_num"]
            assert json.loads((cell / "metrics.json").read_text())["mlflow"]["run_id"] == child.info.run_id
            # stable param names, identical key sets across the sweep: the compare view lines up
            assert child.data.params["model.name"] == "replay" and child.data.params["run.n_samples"] == "2"
            assert child.data.params["harness.tasks"] == "humaneval" and child.data.params["sandbox.name"] == "local"
            # HumanEval/0: 1 of 2 samples passes, HumanEval/1: 2 of 2 -> pass@1 = (0.5 + 1) / 2
            assert child.data.metrics["pass_at_1"] == 0.75 and child.data.metrics["humaneval/pass_at_1"] == 0.75
            files = {a.path for a in client.list_artifacts(child.info.run_id)}
            assert {"results.jsonl", "generations.jsonl", "per_task.csv", "per_task.json", "config.yaml"} <= files
            assert "samples.json" in files
        assert set(by_temp["0.2"].data.params) == set(by_temp["0.8"].data.params)

        # the per-sample table, read back as the MLflow UI shows it (load_table searches the
        # runs through the global tracking URI, not the client's)
        import mlflow

        mlflow.set_tracking_uri(url)
        table = client.load_table(exp.experiment_id, "samples.json", run_ids=[by_temp["0.2"].info.run_id])
        rows = {(r.task_id, r.sample): r for r in table.itertuples()}
        assert len(rows) == 4
        bad = rows[("HumanEval/0", 0)]
        assert bad.status == "failed" and not bad.passed and "assert" in bad.failing_assert
        assert "return False" in bad.completion
        assert all(r.passed and r.failing_assert == "" for k, r in rows.items() if k != ("HumanEval/0", 0))


def test_server_dying_mid_sweep_then_upload_completes_the_structure(tmp_path):
    """The server dies after the first job: every cell finishes, the dead server is one warning
    line; once it is back, the upload command logs the missing child under the same parent."""
    from mlflow.tracking import MlflowClient

    from conftest import free_port

    port = free_port()
    pid_file = tmp_path / "server.pid"
    with mlflow_server(tmp_path, port) as (url, server):
        pid_file.write_text(str(server.pid))
        proc = sweep(
            tmp_path,
            "model=reference",
            "model.temperature=0.2,0.8",
            "run.limit=2",
            f"tracking.uri={url}",
            "+hydra.callbacks.kill_mlflow._target_=sweep_helpers.KillServerAfterFirstJob",
            f"+hydra.callbacks.kill_mlflow.pid_file={pid_file}",
        )
        stop_server(server)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    reports = [json.loads((sweep_dir / str(i) / "metrics.json").read_text()) for i in (0, 1)]
    assert "run_id" in reports[0]["mlflow"]
    assert "error" in reports[1]["mlflow"] and reports[1]["tasks"]["humaneval"]["pass@k"]["pass@1"] == 1.0
    warnings = [line for line in proc.stderr.splitlines() if "unreachable" in line]
    assert warnings and all(line.startswith("aibench: warning: ") for line in warnings), proc.stderr[-3000:]

    with mlflow_server(tmp_path, port) as (url, _):  # back, same store and address
        up = subprocess.run(
            [sys.executable, "-m", "aibench.tracking.upload", str(sweep_dir)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        assert up.returncode == 0, up.stderr
        assert "1 child run(s)" in up.stdout and "already logged" in up.stdout
        client = MlflowClient(tracking_uri=url)
        _, runs, parents, children = runs_of(client)
        assert len(parents) == 1 and len(children) == 2 and len(runs) == 3
        parent = parents[0]
        assert parent.info.status == "FINISHED"
        assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
        assert sorted(c.data.tags["aibench.job_num"] for c in children) == ["0", "1"]
        uploaded = client.get_run(json.loads((sweep_dir / "1" / "metrics.json").read_text())["mlflow"]["run_id"])
        assert uploaded.data.metrics["pass_at_1"] == 1.0 and uploaded.data.params["model.temperature"] == "0.8"


def test_server_down_for_the_whole_sweep_then_upload_to_another_store(tmp_path):
    """No server at all: each cell finishes with its results and the upload command; uploading
    the sweep dir to another store creates the parent and one child per cell there."""
    from mlflow.tracking import MlflowClient

    from conftest import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    proc = sweep(tmp_path, "model=reference", "model.temperature=0.2,0.8", "run.limit=2", f"tracking.uri={dead}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["tracking"]["error"] == "connection refused" and "parent_run_id" not in state["tracking"]
    assert f"python -m aibench.tracking.upload {sweep_dir.relative_to(tmp_path)}" in proc.stderr
    reports = [json.loads((sweep_dir / str(i) / "metrics.json").read_text()) for i in (0, 1)]
    assert all(r["mlflow"]["error"] == "connection refused" for r in reports)

    store = f"sqlite:///{tmp_path / 'later.db'}"
    up = subprocess.run(
        [sys.executable, "-m", "aibench.tracking.upload", str(sweep_dir), "--uri", store],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert up.returncode == 0 and "2 child run(s)" in up.stdout, up.stderr
    _, runs, parents, children = runs_of(MlflowClient(tracking_uri=store))
    assert len(runs) == 3 and len(parents) == 1 and len(children) == 2
    assert parents[0].data.tags["aibench.sweep_id"] == state["sweep_id"] and parents[0].info.status == "FINISHED"
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.data.tags["aibench.sweep_id"] == state["sweep_id"]
        assert "model.temperature=" in child.data.tags["aibench.overrides"]
    assert sorted(c.data.params["model.temperature"] for c in children) == ["0.2", "0.8"]
    # a second upload finds every cell logged: nothing twice
    again = subprocess.run(
        [sys.executable, "-m", "aibench.tracking.upload", str(sweep_dir), "--uri", store],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert again.returncode == 0 and "0 child run(s)" in again.stdout, again.stderr
    assert len(runs_of(MlflowClient(tracking_uri=store))[1]) == 3
