"""Resume of an interrupted sweep: rerunning the same sweep with run.resume=true finds it and
continues each cell - a finished cell is not redone, a partial cell continues from its samples, a
cell that never started runs."""

from __future__ import annotations

import json

from conftest import sweep, sweep_dirs

ARGS = ("model=reference", "model.temperature=0.2,0.5,0.8", "run.n_samples=2", "run.limit=2", "tracking.enabled=false")


def test_rerun_with_resume_continues_each_cell(tmp_path):
    first = sweep(tmp_path, *ARGS)
    assert first.returncode == 0, first.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    cells = [sweep_dir / str(i) for i in range(3)]
    assert all((c / "metrics.json").exists() for c in cells)

    # the state a sweep killed in its second cell leaves: cell 0 finished, cell 1 with 2 of its 4
    # samples executed (all 4 generated), cell 2 never started, the sweep not marked finished
    finished_before = (cells[0] / "metrics.json").read_bytes()
    finished_mtime = (cells[0] / "metrics.json").stat().st_mtime_ns
    (cells[1] / "metrics.json").unlink()
    results = (cells[1] / "results.jsonl").read_text().splitlines()
    assert len(results) == 4
    (cells[1] / "results.jsonl").write_text("\n".join(results[:2]) + "\n")
    for f in cells[2].iterdir() if cells[2].is_dir() else ():
        if f.is_file():
            f.unlink()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    state["status"] = "RUNNING"
    (sweep_dir / "sweep.json").write_text(json.dumps(state))

    again = sweep(tmp_path, *ARGS, "run.resume=true")
    assert again.returncode == 0, again.stderr[-3000:]
    assert sweep_dirs(tmp_path) == [sweep_dir]  # continued in place, no new sweep dir
    assert "resuming the latest unfinished sweep" in again.stdout + again.stderr
    assert "finished before: not redone" in again.stdout + again.stderr

    assert (cells[0] / "metrics.json").read_bytes() == finished_before
    assert (cells[0] / "metrics.json").stat().st_mtime_ns == finished_mtime
    partial = json.loads((cells[1] / "metrics.json").read_text())
    assert partial["samples"]["resumed"] == 2 and partial["samples"]["executed"] == 2
    assert partial["tasks"]["humaneval"]["pass@k"]["pass@1"] == 1.0
    assert len((cells[1] / "results.jsonl").read_text().splitlines()) == 4
    fresh = json.loads((cells[2] / "metrics.json").read_text())
    assert fresh["samples"]["resumed"] == 0 and fresh["samples"]["executed"] == 4
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["status"] == "FINISHED" and state["invocations"] == 2
    rows = json.loads((sweep_dir / "sweep_results.json").read_text())
    assert [r["job"] for r in rows] == [0, 1, 2] and [r["model.temperature"] for r in rows] == [0.2, 0.5, 0.8]

    # nothing left to resume: one line naming the fix
    none_left = sweep(tmp_path, *ARGS, "run.resume=true")
    assert none_left.returncode == 2
    err = none_left.stderr.strip().splitlines()
    assert len(err) == 1 and "no unfinished sweep" in err[0] and "hydra.sweep.dir=" in err[0], none_left.stderr


def test_a_sweep_stopped_by_a_failing_job_marks_its_parent_killed(tmp_path):
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = sweep(
        tmp_path, "model=replay", "model.path=missing.jsonl", "model.temperature=0.2,0.8", f"tracking.uri={store}"
    )
    assert proc.returncode == 2 and "replay file not found" in proc.stderr
    (sweep_dir,) = sweep_dirs(tmp_path)
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["status"] == "INTERRUPTED"
    parent = MlflowClient(tracking_uri=store).get_run(state["tracking"]["parent_run_id"])
    assert parent.info.status == "KILLED" and parent.info.end_time == state["finished_ms"]
