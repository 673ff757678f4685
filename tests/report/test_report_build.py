"""The comparison report over a real sweep dir: every number it shows comes from the job dirs
(metrics.json, results.jsonl, .hydra/overrides.yaml); the HTML page is self-contained."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import REPO, requires, with_marks

import aibench.report as report
from aibench.errors import AibenchError
from aibench.report import build_report
from aibench.report.html import rate_colour

SVG = "{http://www.w3.org/2000/svg}"
HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


def jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if (p / "metrics.json").exists()), key=lambda p: p.name)


def truth(job: Path) -> dict:
    """What the job itself says: model and temperature from its overrides, pass@k from metrics.json,
    pass rates from its per-sample results."""
    overrides = dict(
        line[2:].split("=", 1) for line in (job / ".hydra" / "overrides.yaml").read_text().splitlines() if line
    )
    metrics = json.loads((job / "metrics.json").read_text())
    counts: dict[str, list[int]] = {}
    for line in (job / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        counts.setdefault(r["task_id"], [0, 0])
        counts[r["task_id"]][0] += 1
        counts[r["task_id"]][1] += int(r["passed"])
    return {
        "model": overrides["model.name"],
        "temperature": float(overrides["model.temperature"]),
        "pass@k": metrics["tasks"]["humaneval"]["pass@k"],
        "rates": {tid: c / n for tid, (n, c) in counts.items()},
    }


def svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.S)]


@pytest.fixture(scope="module")
def built(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    files = build_report(sweep, out, png=False)
    return out, files


def test_tables_hold_each_runs_own_numbers_and_the_best_per_model(sweep, built):
    out, files = built
    assert {f.name for f in files} == {"report.html", "best_settings.csv", "runs.csv"}
    facts = {job.name: truth(job) for job in jobs(sweep)}
    assert len(facts) == 4 and len({f["pass@k"]["pass@1"] for f in facts.values()}) > 1
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert len(rows) == 4
    for row in rows:
        fact = facts[row["job"]]
        assert row["model"] == fact["model"] and float(row["temperature"]) == fact["temperature"]
        assert float(row["pass@1"]) == fact["pass@k"]["pass@1"] and float(row["pass@2"]) == fact["pass@k"]["pass@2"]
    best = {row["model"]: row for row in csv.DictReader((out / "best_settings.csv").open())}
    assert set(best) == {"alpha", "beta"}
    for model, row in best.items():
        mine = [f for f in facts.values() if f["model"] == model]
        top = max(f["pass@k"]["pass@1"] for f in mine)
        assert float(row["pass@1"]) == top
        assert float(row["temperature"]) in {f["temperature"] for f in mine if f["pass@k"]["pass@1"] == top}


def test_heat_map_cells_are_the_per_sample_pass_rates(sweep, built):
    out, _ = built
    facts = {job.name: truth(job) for job in jobs(sweep)}
    heat = [s for s in svgs((out / "report.html").read_text()) if "heatmap" in s.get("class", "")]
    assert len(heat) == 1
    cells = heat[0].findall(f"{SVG}rect[@class='cell']")
    assert len(cells) == 4 * 4  # runs x problems
    by_label = {}
    for fact in facts.values():
        by_label[f"{fact['model']} T={fact['temperature']:g}"] = fact
    rates = set()
    for cell in cells:
        fact = by_label[cell.get("data-run")]
        rate = fact["rates"][cell.get("data-problem")]
        assert float(cell.get("data-rate")) == pytest.approx(rate, abs=1e-4)
        assert cell.get("fill") == rate_colour(rate)
        rates.add(round(rate, 4))
    assert len(rates) > 1  # not a flat picture


def test_curves_one_line_per_model_points_at_the_runs_values(sweep, built):
    out, _ = built
    facts = list(truth(job) for job in jobs(sweep))
    curves = [s for s in svgs((out / "report.html").read_text()) if "curves" in s.get("class", "")]
    assert [c.get("data-k") for c in curves] == ["pass@1", "pass@2"]
    for chart in curves:
        k = chart.get("data-k")
        lines = chart.findall(f"{SVG}polyline")
        assert sorted(line.get("data-series") for line in lines) == ["alpha", "beta"]
        for line in lines:
            pts = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
            assert len(pts) == 2 and pts[0][0] < pts[1][0]  # by temperature
            mine = sorted((f for f in facts if f["model"] == line.get("data-series")), key=lambda f: f["temperature"])
            # higher pass@k is drawn higher (smaller y), equal values at equal heights
            a, b = mine[0]["pass@k"][k], mine[1]["pass@k"][k]
            assert (pts[0][1] > pts[1][1]) == (a < b) and (pts[0][1] == pts[1][1]) == (a == b)
        titles = " ".join(t.text for t in chart.iter(f"{SVG}title"))
        for f in facts:
            assert f"{k} = {f['pass@k'][k]:.4f}" in titles


def test_page_is_self_contained(built):
    page = (built[0] / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=|@import|url\(|<link|<img|<iframe""", page, flags=re.I)
    assert "<script>" in page and page.count("<svg") == 3


def test_unfinished_jobs_and_shards_are_noted_not_plotted(sweep, tmp_path):
    copy = tmp_path / "sweep"
    shutil.copytree(sweep, copy)
    (copy / "1" / "metrics.json").unlink()
    metrics = json.loads((copy / "2" / "metrics.json").read_text())
    metrics["shard"] = {"index": 1, "count": 2, "total_problems": 4, "problems": []}
    (copy / "2" / "metrics.json").write_text(json.dumps(metrics))
    build_report(copy, tmp_path / "out", png=False)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "1: unfinished" in page and "2: shard 1/2" in page
    assert len(list(csv.DictReader((tmp_path / "out" / "runs.csv").open()))) == 2


def test_without_matplotlib_the_page_alone_or_one_clear_error(sweep, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "have_matplotlib", lambda: False)
    files = build_report(sweep, tmp_path / "a")
    assert not [f for f in files if f.suffix == ".png"] and (tmp_path / "a" / "report.html").exists()
    with pytest.raises(AibenchError, match=r"matplotlib.*pip install"):
        build_report(sweep, tmp_path / "b", png=True)


def test_cli(sweep, tmp_path):
    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "aibench.report", *map(str, args)], cwd=REPO, capture_output=True, text=True
        )

    r = cli(sweep, "-o", tmp_path / "r", "--no-png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r" / "report.html").exists() and "report.html" in r.stdout
    for bad, why in ((tmp_path / "nope", "no such sweep dir"), (tmp_path / "r", "no finished runs")):
        r = cli(bad)
        assert r.returncode == 2 and why in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_report_from_an_mlflow_experiment_matches_the_sweep_dirs(sweep, built, tmp_path):
    """Each job logged as an aibench run is (params model.name/model.temperature/..., artifacts
    metrics.json, results.jsonl, run_manifest.json), plus a parent run without metrics.json."""
    from mlflow.tracking import MlflowClient

    from aibench.report import build_report_from_mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("sweep", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(exp, run_name="sweep parent")
    client.set_terminated(parent.info.run_id)
    for job in jobs(sweep):
        fact = truth(job)
        run = client.create_run(exp, tags={"mlflow.parentRunId": parent.info.run_id})
        for key, value in {
            "model.name": fact["model"],
            "model.temperature": fact["temperature"],
            "run.n_samples": 3,
        }.items():
            client.log_param(run.info.run_id, key, value)
        for name in ("metrics.json", "results.jsonl", "run_manifest.json"):
            client.log_artifact(run.info.run_id, str(job / name))
        client.set_terminated(run.info.run_id)
    out = tmp_path / "from_mlflow"
    build_report_from_mlflow(uri, "sweep", out, parent=parent.info.run_id, png=False)

    def table(path):
        return sorted((r["model"], r["temperature"], r["pass@1"], r["pass@2"]) for r in csv.DictReader(path.open()))

    assert table(out / "runs.csv") == table(built[0] / "runs.csv")
    assert table(out / "best_settings.csv") == table(built[0] / "best_settings.csv")
    heat = [s for s in svgs((out / "report.html").read_text()) if "heatmap" in s.get("class", "")][0]
    assert len(heat.findall(f"{SVG}rect[@class='cell']")) == 16
    with pytest.raises(AibenchError, match="no MLflow experiment 'nope'"):
        build_report_from_mlflow(uri, "nope", tmp_path / "x")


@with_marks(requires("report", HAVE_MPL, "pip install -e '.[report]'"))
@pytest.mark.filterwarnings("error")  # matplotlib's "No artists with labels found to put in legend" reached the console
def test_a_sweep_without_temperatures_draws_its_curves_picture_without_warnings(sweep, tmp_path):
    import dataclasses

    from aibench.report import png
    from aibench.report.data import read_sweep

    loaded = read_sweep(sweep)
    flat = dataclasses.replace(loaded, runs=[dataclasses.replace(r, temperature=None) for r in loaded.runs])
    assert png.curves(flat, tmp_path / "curves.png").stat().st_size > 0
