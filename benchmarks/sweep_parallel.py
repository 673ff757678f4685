"""A sweep's wall time under Hydra's default launcher (jobs one by one) vs hydra/launcher=joblib.

A 2 models x 3 temperatures sweep (``model=ollama/base model.name=llama3,qwen2.5-coder
model.temperature=0.2,0.5,0.8``) of the real CLI against the fake Ollama server
(aibench/models/fakes) with a fixed latency per request (default 100 ms), the first ``--limit``
HumanEval problems, one request in flight per job (``model.concurrency=1``), generation cache and
MLflow off (each launcher generates every sample and nothing else is measured). The same sweep runs
once per launcher, in one invocation, and the speed-up ratio is printed.

    python benchmarks/sweep_parallel.py [--latency 0.1] [--limit 30] [--jobs 6]

Needs the sweep extra (pip install -e '.[sweep]'). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aibench.models.fakes import DIGEST, FakeOllama  # noqa: E402

MODELS = ("llama3", "qwen2.5-coder")
TEMPERATURES = ("0.2", "0.5", "0.8")


def run_sweep(url: str, root: Path, limit: int, launcher: list[str]) -> tuple[float, list[dict]]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("OLLAMA_HOST", None)
    cmd = [
        sys.executable,
        "-m",
        "aibench",
        "-m",
        *launcher,
        "model=ollama/base",
        f"model.name={','.join(MODELS)}",
        f"model.temperature={','.join(TEMPERATURES)}",
        f"model.host={url}",
        "model.concurrency=1",
        "model.cache_dir=null",
        f"run.limit={limit}",
        "run.n_samples=1",
        "run.progress=false",
        "tracking.enabled=false",
        f"paths.output_root={root}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root.parent, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(launcher) or 'basic launcher'}):\n{proc.stderr[-3000:]}")
    reports = [json.loads(p.read_text()) for p in sorted(root.glob("multirun/*/*/*/metrics.json"))]
    return elapsed, reports


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per generation request")
    ap.add_argument("--limit", type=int, default=30, help="HumanEval problems per job")
    ap.add_argument("--jobs", type=int, default=6, help="joblib's n_jobs (parallel jobs)")
    args = ap.parse_args()
    try:
        import hydra_plugins.hydra_joblib_launcher  # noqa: F401
    except ImportError:
        sys.exit("needs the sweep extra: pip install -e '.[sweep]'")

    cells = len(MODELS) * len(TEMPERATURES)
    with FakeOllama(latency=args.latency, models={f"{m}:latest": DIGEST for m in MODELS}) as srv:
        with tempfile.TemporaryDirectory() as tmp:
            seq_t, seq = run_sweep(srv.url, Path(tmp) / "basic", args.limit, [])
            seen_seq = len(srv.generation_requests())
            par_t, par = run_sweep(
                srv.url,
                Path(tmp) / "joblib",
                args.limit,
                ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}"],
            )
            seen_par = len(srv.generation_requests()) - seen_seq
        peak = srv.max_in_flight

    scores = {}
    for name, reports, seen in (("basic", seq, seen_seq), ("joblib", par, seen_par)):
        scores[name] = [r["tasks"]["humaneval"]["pass@k"]["pass@1"] for r in reports]
        if len(reports) != cells or seen != cells * args.limit:
            sys.exit(f"{name}: {len(reports)} cells, {seen} requests: not the expected sweep")
    if scores["basic"] != scores["joblib"]:
        sys.exit(f"the launchers disagree on pass@1: {scores}")
    print(
        f"sweep: {len(MODELS)} models x {len(TEMPERATURES)} temperatures = {cells} jobs, "
        f"{args.limit} problems x 1 sample each, server latency {args.latency * 1000:.0f} ms per request, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"default launcher (jobs one by one): {seq_t:6.1f} s")
    print(f"joblib launcher (n_jobs={args.jobs}):      {par_t:6.1f} s   (peak requests in flight: {peak})")
    print(f"speed-up: {seq_t / par_t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
