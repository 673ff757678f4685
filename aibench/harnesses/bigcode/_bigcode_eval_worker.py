"""Subprocess entry of ``harness.engine=bigcode_eval``: the real ``bigcode_eval`` package at work.

Run by :mod:`aibench.harnesses.bigcode.engine_bigcode_eval` as ``python <this file> SPEC OUT``
(a file path, not ``-m``: this script imports nothing of aibench, only the standard library and
``bigcode_eval``). Two modes, chosen by ``SPEC["mode"]``:

``problems``
    For each task of ``bigcode_eval.tasks.get_task``: its dataset (``task.get_dataset()``), and per
    document the prompt (``task.get_prompt``), the reference (``task.get_reference``), a reference
    solution where the data has one, and the task's stop words, timeout and k.

``evaluate``
    The package's own evaluation path, as ``main.py --load_generations_path`` runs it: raw
    completions are postprocessed with ``task.postprocess_generation(prompt + completion, idx)``
    (as ``bigcode_eval.utils.complete_code`` does), loaded programs are used as they are, then
    ``Evaluator(accelerator, None, None, args).evaluate(task)`` scores them (``task.process_results``
    -> ``compute_code_eval``). The metric JSON has ``main.py``'s layout (one key per task plus
    ``config`` = ``vars(args)``). ``compute_code_eval``'s per-sample results, which the package
    computes and drops, are captured by a pass-through wrapper (the scores are untouched).

Limits (``SPEC["limits"]``): a new network namespace where the kernel allows it, RLIMIT_FSIZE and
RLIMIT_NOFILE for the whole process, and RLIMIT_AS / RLIMIT_CPU set in every forked child
(``os.register_at_fork``): BigCode runs each sample in a forked ``multiprocessing.Process``.
Failures are reported as ``{"error": {"kind", "message"}}`` in OUT and exit code 3.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from types import SimpleNamespace
from typing import Any

EXIT_ERROR = 3


class WorkerError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


# ----------------------------------------------------------------------------- limits
def _unshare_network() -> str:
    import ctypes
    import ctypes.util

    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.unshare(clone_newnet) == 0:
        return "isolated (new network namespace)"
    first = os.strerror(ctypes.get_errno())
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(clone_newuser | clone_newnet) == 0:
        try:
            with open("/proc/self/setgroups", "w") as fh:
                fh.write("deny")
            with open("/proc/self/uid_map", "w") as fh:
                fh.write(f"{uid} {uid} 1")
            with open("/proc/self/gid_map", "w") as fh:
                fh.write(f"{gid} {gid} 1")
        except OSError:
            pass
        return "isolated (new user + network namespace)"
    return f"NOT isolated: unshare failed ({first})"


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def apply_limits(limits: dict[str, Any]) -> dict[str, Any]:
    """Process-wide limits now; per-sample ones in each forked child. Returns what was applied."""
    import resource

    applied: dict[str, Any] = {}
    if limits.get("network") is False:
        applied["network"] = _unshare_network()
    else:
        applied["network"] = "allowed (sandbox.network=true)"

    def clamp(res: int, want: int) -> int:
        _soft, hard = resource.getrlimit(res)
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(res, (want, hard))
        return want

    for key, res in (("file_size_bytes", resource.RLIMIT_FSIZE), ("open_files", resource.RLIMIT_NOFILE)):
        want = limits.get(key)
        if want:
            try:
                applied[key] = clamp(res, int(want))
            except (ValueError, OSError) as exc:
                applied[key] = f"not applied ({exc})"

    memory = int(limits.get("memory_bytes") or 0)
    cpu = int(limits.get("cpu_seconds") or 0)

    def in_child() -> None:  # runs in every forked child: BigCode's per-sample processes
        try:
            if memory:
                clamp(resource.RLIMIT_AS, _vm_bytes() + memory)
            if cpu:
                clamp(resource.RLIMIT_CPU, cpu)
        except (ValueError, OSError):
            pass

    if memory or cpu:
        os.register_at_fork(after_in_child=in_child)
        if memory:
            applied["memory_bytes_per_sample"] = f"RLIMIT_AS = harness footprint at fork + {memory}"
        if cpu:
            applied["cpu_seconds_per_sample"] = cpu
    return applied


# ----------------------------------------------------------------------------- bigcode_eval
def import_tasks():
    try:
        from bigcode_eval import tasks
    except ImportError as exc:
        raise WorkerError("missing_package", f"cannot import bigcode_eval: {exc}") from None
    return tasks


def load_task(tasks_mod, name: str, args: Any):
    if name not in tasks_mod.TASK_REGISTRY:
        raise WorkerError("unknown_task", f"bigcode_eval has no task {name!r}")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = tasks_mod.get_task(name, args)
    if not hasattr(task, "dataset"):  # base.Task only warns when load_dataset fails
        reason = next((str(w.message) for w in caught if "Loading the dataset failed" in str(w.message)), "")
        reason = " ".join(reason.split())[:300]
        raise WorkerError(
            "missing_dataset",
            json.dumps(
                {
                    "task": name,
                    "dataset": getattr(task, "DATASET_PATH", None),
                    "config": getattr(task, "DATASET_NAME", None),
                    "reason": reason,
                }
            ),
        )
    return task


def eval_args(**overrides: Any) -> SimpleNamespace:
    """``main.py``'s argument namespace with its defaults (EvalArguments + main.py's own flags)."""
    import dataclasses

    from bigcode_eval.arguments import EvalArguments

    values: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(EvalArguments)}
    values.update(
        model="codeparrot/codeparrot-small",
        modeltype="causal",
        peft_model=None,
        revision=None,
        use_auth_token=False,
        trust_remote_code=False,
        tasks=None,
        instruction_tokens=None,
        batch_size=1,
        max_length_generation=512,
        precision="fp32",
        load_in_8bit=False,
        load_in_4bit=False,
        left_padding=False,
        limit=None,
        limit_start=0,
        save_every_k_tasks=-1,
        postprocess=True,
        allow_code_execution=False,
        generation_only=False,
        load_generations_path=None,
        load_data_path=None,
        metric_output_path="evaluation_results.json",
        save_generations=False,
        load_generations_intermediate_paths=None,
        save_generations_path="generations.json",
        save_references=False,
        save_references_path="references.json",
        prompt="prompt",
        max_memory_per_gpu=None,
        check_references=False,
    )
    values.update(overrides)
    return SimpleNamespace(**values)


def reference_solution(task: Any, doc: dict[str, Any]) -> str | None:
    import inspect

    try:
        if "get_solution" in inspect.signature(task.get_reference).parameters:
            return task.get_reference(doc, get_solution=True)
    except Exception:  # noqa: BLE001 - a solution is optional
        return None
    if isinstance(doc.get("prompt"), str) and isinstance(doc.get("canonical_solution"), str):
        return doc["prompt"] + doc["canonical_solution"]
    if isinstance(doc.get("code"), str):
        return doc["code"]
    return None


def mode_problems(spec: dict[str, Any]) -> dict[str, Any]:
    tasks_mod = import_tasks()
    args = eval_args()
    out: dict[str, Any] = {"tasks": {}}
    for name in spec["tasks"]:
        task = load_task(tasks_mod, name, args)
        dataset = task.get_dataset()
        size = len(dataset)
        n = size if spec.get("limit") is None else min(int(spec["limit"]), size)
        docs = []
        for i in range(n):
            doc = dataset[i]
            docs.append(
                {
                    "index": i,
                    "task_id": str(doc.get("task_id", doc.get("name", f"{name}/{i}"))),
                    "prompt": task.get_prompt(doc),
                    "reference": task.get_reference(doc),
                    "entry_point": doc.get("entry_point"),
                    "solution": reference_solution(task, doc),
                }
            )
        out["tasks"][name] = {
            "dataset": getattr(task, "DATASET_PATH", None),
            "dataset_config": getattr(task, "DATASET_NAME", None),
            "dataset_size": size,
            "stop_words": list(task.stop_words or []),
            "requires_execution": bool(task.requires_execution),
            "timeout": getattr(task, "timeout", None),
            "k": list(getattr(task, "k", []) or []),
            "docs": docs,
        }
    return out


def _capture_code_eval(captured: dict[str, Any]) -> None:
    """Wrap ``compute_code_eval`` where task modules hold it: same call, same return value; its
    per-sample results (``results[task_idx] = [(completion_id, {passed, result, ...})]``) kept."""
    from bigcode_eval.tasks.custom_metrics import code_eval

    original = code_eval.compute_code_eval

    def compute_code_eval(*args: Any, **kwargs: Any):
        scores, results = original(*args, **kwargs)
        captured["results"] = results
        return scores, results

    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("bigcode_eval.tasks") and (
            getattr(mod, "compute_code_eval", None) is original
        ):
            mod.compute_code_eval = compute_code_eval


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def mode_evaluate(spec: dict[str, Any], out_dir: str) -> dict[str, Any]:
    tasks_mod = import_tasks()
    from bigcode_eval.evaluator import Evaluator

    try:
        from accelerate import Accelerator

        accelerator = Accelerator()
    except Exception:  # noqa: BLE001 - only is_main_process is used in eval-only mode
        accelerator = SimpleNamespace(is_main_process=True)

    metric_path = os.path.join(out_dir, "evaluation_results.json")
    args = eval_args(
        tasks=",".join(spec["tasks"]),
        n_samples=int(spec["n_samples"]),
        limit=spec.get("limit"),
        allow_code_execution=True,
        metric_output_path=metric_path,
    )
    _capture_code_eval(captured := {})
    results: dict[str, Any] = {}
    per_sample: dict[str, Any] = {}
    programs: dict[str, Any] = {}
    for name, tspec in spec["tasks"].items():
        with open(tspec["generations"], encoding="utf-8") as fh:
            samples = json.load(fh)
        task = load_task(tasks_mod, name, args)
        gens = []
        for idx, row in enumerate(samples):
            progs = []
            for s in row:
                if isinstance(s, str):  # a program, used as it is (--load_generations_path)
                    progs.append(s)
                elif s.get("kind") == "completion":  # prompt + raw completion: BigCode's postprocess
                    progs.append(task.postprocess_generation(s["text"], idx))
                else:
                    progs.append(s["text"])
            gens.append(progs)
        path = os.path.join(out_dir, f"generations_{name}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(gens, fh)
        programs[name] = path
        args.load_generations_path = path
        captured.pop("results", None)
        results[name] = evaluator_result = Evaluator(accelerator, None, None, args).evaluate(name)
        del evaluator_result
        if "results" in captured:
            per_sample[name] = {
                str(tid): [
                    {"completion_id": cid, "passed": bool(r["passed"]), "result": str(r["result"])} for cid, r in rows
                ]
                for tid, rows in sorted(captured["results"].items())
            }
    args.load_generations_path = None
    dumped = _jsonable(results) | {"config": _jsonable(vars(args))}
    with open(metric_path, "w", encoding="utf-8") as fh:
        json.dump(dumped, fh, indent=2)
    return {"metrics": dumped, "metric_output_path": metric_path, "per_sample": per_sample, "programs": programs}


def main(argv: list[str]) -> int:
    spec_path, out_path = argv[1], argv[2]
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    try:
        applied = apply_limits(spec.get("limits") or {})
        if spec["mode"] == "problems":
            out = mode_problems(spec)
        elif spec["mode"] == "evaluate":
            out = mode_evaluate(spec, os.path.dirname(os.path.abspath(out_path)))
        else:
            raise WorkerError("bad_spec", f"unknown mode {spec['mode']!r}")
        out["limits_applied"] = applied
        import bigcode_eval

        out["bigcode_eval"] = {"file": bigcode_eval.__file__, "version": _version()}
        rc = 0
    except WorkerError as exc:
        out, rc = {"error": {"kind": exc.kind, "message": str(exc)}}, EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        out = {"error": {"kind": "exception", "message": f"{type(exc).__name__}: {exc}", "traceback": tb[-4000:]}}
        rc = EXIT_ERROR
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    return rc


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("bigcode_eval")
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    sys.exit(main(sys.argv))
