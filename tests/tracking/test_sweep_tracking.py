"""The pieces of sweep tracking that need no sweep: stable param names, overall pass@k over several
tasks, the per-task and per-sample tables, no sweep tags outside a multirun."""

from __future__ import annotations

import json
from types import SimpleNamespace

from aibench.tracking import mlflow_logger as ml
from aibench.tracking.sweep import job_tags, sweep_key
from aibench.tracking.tracker import default_run_name, flat_params


class Fake(SimpleNamespace):
    def params(self):
        return dict(self.p)


RUN = SimpleNamespace(n_samples=10, limit=5, seed=0, workers=2)


def test_params_have_the_same_dotted_names_for_every_backend():
    harness = Fake(name="bigcode", p={"harness": "bigcode", "task": "humaneval"})
    sandbox = SimpleNamespace(name="local")
    cfg = {"model": {"temperature": 0.8, "top_p": None}, "sandbox": {"judge": "isolated"}, "metrics": {"k": [1, 10]}}
    sampling = Fake(
        name="ollama/llama3",
        p={"backend": "ollama", "model": "llama3", "temperature": 0.2, "top_p": 0.95, "top_k": None, "max_tokens": 512},
    )
    reference = Fake(name="reference", p={"model": "reference"})
    a = flat_params(sampling, harness, sandbox, RUN, "h1", cfg=cfg)
    b = flat_params(reference, harness, sandbox, RUN, "h2", cfg=cfg)
    shared = {
        "model.name",
        "model.temperature",
        "model.top_p",
        "model.top_k",
        "model.max_tokens",
        "harness.name",
        "harness.tasks",
        "sandbox.name",
        "sandbox.judge",
        "run.n_samples",
        "run.limit",
        "run.seed",
        "run.workers",
        "metrics.k",
        "config_hash",
    }
    assert shared <= set(a) and shared <= set(b)
    assert a["model.temperature"] == 0.2  # what the backend used
    assert b["model.temperature"] == 0.8  # a model that does not sample: as configured
    assert a["harness.tasks"] == "humaneval" and a["run.n_samples"] == 10 and a["metrics.k"] == "[1, 10]"
    assert a["model.backend"] == "ollama" and "model.backend" not in b
    assert default_run_name(a) == "ollama/llama3 humaneval n=10 limit=5 T=0.2"


def test_overall_pass_at_k_pools_the_problems_of_every_task():
    report = {
        "tasks": {
            "a": {"pass@k": {"pass@1": 1.0}, "per_problem": {"a/0": {"pass@1": 1.0}}},
            "b": {
                "pass@k": {"pass@1": 0.25, "pass@10": 0.5},
                "per_problem": {"b/0": {"pass@1": 0.5, "pass@10": 1.0}, "b/1": {"pass@1": 0.0, "pass@10": 0.0}},
            },
        }
    }
    metrics = ml.flatten_metrics(report)
    assert metrics["a/pass_at_1"] == 1.0 and metrics["b/pass_at_1"] == 0.25
    assert metrics["pass_at_1"] == 0.5  # (1.0 + 0.5 + 0.0) / 3 problems
    assert "pass_at_10" not in metrics  # task a does not report it


def test_per_task_and_per_sample_tables(tmp_path):
    report = {
        "tasks": {
            "humaneval": {
                "pass@k": {"pass@1": 0.5},
                "n_problems": 1,
                "n_samples": 2,
                "status_counts": {"passed": 1, "failed": 1},
            }
        }
    }
    csv_path, json_path = ml.write_per_task_table(report, tmp_path)
    assert csv_path.read_text().splitlines() == [
        "task,n_problems,n_samples,pass@1,status/failed,status/passed",
        "humaneval,1,2,0.5,1,1",
    ]
    assert json.loads(json_path.read_text())[0]["pass@1"] == 0.5

    gens = [
        {"task": "humaneval", "task_id": "HumanEval/0", "sample_index": i, "completion": c, "program": "p"}
        for i, c in enumerate(["    return 1\n", "x" * 5000])
    ]
    results = [
        {
            "task": "humaneval",
            "task_id": "HumanEval/0",
            "sample_index": 0,
            "status": "failed",
            "passed": False,
            "error": "AssertionError",
            "detail": {"failed_assert": {"line": 12, "text": "assert candidate(1) == 2"}},
        },
        {"task": "humaneval", "task_id": "HumanEval/0", "sample_index": 1, "status": "passed", "passed": True},
    ]
    (tmp_path / "generations.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gens))
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    table = ml.sample_table(tmp_path)
    assert table["sample"] == [0, 1] and table["status"] == ["failed", "passed"] and table["passed"] == [False, True]
    assert table["failing_assert"] == ["line 12: assert candidate(1) == 2", ""]
    assert table["completion"][0] == "    return 1\n"
    assert len(table["completion"][1]) < 4100 and table["completion"][1].endswith("[1000 more chars]")


def test_no_sweep_tags_outside_a_multirun():
    assert job_tags("sqlite:///x.db") == {}


def test_a_sweep_is_identified_by_its_overrides_without_resume():
    assert sweep_key(["run.resume=true", "model.temperature=0.2,0.8", "model=replay", "hydra.sweep.dir=x"]) == [
        "model.temperature=0.2,0.8",
        "model=replay",
    ]


def test_a_large_run_keeps_its_failures_in_the_samples_table(tmp_path, monkeypatch):
    monkeypatch.setattr(ml, "SAMPLE_ROWS", 3)
    results = [
        {"task": "t", "task_id": f"T/{i}", "sample_index": 0, "status": s, "passed": s == "passed"}
        for i, s in enumerate(["passed", "failed", "passed", "timeout", "passed"])
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
    table = ml.sample_table(tmp_path)
    assert table["task_id"] == ["T/0", "T/1", "T/3"] and table["status"] == ["passed", "failed", "timeout"]
