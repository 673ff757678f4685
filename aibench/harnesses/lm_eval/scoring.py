"""Code tasks of lm-eval scored in aibench's sandbox.

lm-eval's own HumanEval/MBPP metrics exec model output in the evaluating process (HF evaluate's
``code_eval``). aibench's task YAMLs (``tasks/``) keep lm-eval's prompts, generation kwargs,
filter names and metric names, but their filter and metric functions (``tasks/utils.py``) call
this module:

* the **filter** builds every candidate program of a task at once (HumanEval: ``prompt +
  response``, lm-eval's ``build_predictions``; MBPP: the response) and executes them all in the
  sandbox, ``run.workers`` at a time, before lm-eval asks for any metric;
* the **metric** (``pass_at_k`` / ``pass_at_1``, called by lm-eval per document) looks the
  verdicts up and applies aibench's rules: only ``passed`` counts, pass@k is the unbiased
  estimator of :mod:`aibench.metrics.pass_at_k` and is given only for k <= samples, as in
  ``harness=bigcode`` (and HF ``code_eval``). A program the filter did not see (a YAML with another
  filter) is executed there and then.

The harness activates a :func:`sandbox_context` around ``simple_evaluate`` with the run's sandbox
(``sandbox=local|docker``), workers and run dir; outside one (e.g. ``lm_eval --include_path`` on these
YAMLs) a default ``sandbox=local`` is started on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from collections import Counter
from typing import Any, Iterable, Iterator

from aibench.metrics.pass_at_k import estimate_pass_at_k
from aibench.types import Program, Verdict

log = logging.getLogger(__name__)

TIMEOUT_S = 3.0  # per program, before sandbox.timeout_scale (BigCode and HF code_eval default)


class SandboxContext:
    def __init__(self, sandbox: Any, workers: int = 1, out: Any = None, progress: bool = False):
        self.sandbox = sandbox
        self.workers = max(1, int(workers))
        self.out = out
        self.progress = progress
        self.verdicts: dict[tuple[str, str], Verdict] = {}
        self.status_counts: Counter = Counter()
        self.executed = 0
        self.task: str | None = None  # the lm-eval task whose filters run now (set by the harness)
        self.instances: list[Any] = []

    # -- execution ------------------------------------------------------------------------------
    def run(self, programs: list[tuple[tuple[str, str, int], Program]]) -> None:
        """Execute the programs not yet judged (identical candidates once), record each sample."""
        todo: dict[tuple[str, str], Program] = {}
        for _, prog in programs:
            key = verdict_key(prog.code, prog.tests)
            if key not in self.verdicts and key not in todo:
                todo[key] = prog
        if todo:
            bar = None
            if self.progress:
                from tqdm import tqdm

                bar = tqdm(total=len(todo), unit="program", desc=f"{self.task or 'lm_eval'}: sandbox", leave=True)
            try:
                workers = max(1, min(self.workers, len(todo)))  # no more fork servers than programs
                with contextlib.closing(self.sandbox.execute_many(iter(todo.items()), workers=workers)) as it:
                    for key, verdict in it:
                        self.verdicts[key] = verdict
                        self.executed += 1
                        if bar is not None:
                            bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
        for sample_key, prog in programs:
            verdict = self.verdicts[verdict_key(prog.code, prog.tests)]
            self.status_counts[verdict.status.value] += 1
            if self.out is not None:
                from aibench.outputs import RESULTS, result_record

                self.out.append(RESULTS, result_record(sample_key, verdict))

    def verdict(self, code: str, tests: str) -> Verdict:
        key = verdict_key(code, tests)
        if key not in self.verdicts:
            prog = Program(language="python", code=code, tests="\n" + tests, timeout=TIMEOUT_S)
            self.run([((self.task or "lm_eval", "?", 0), prog)])
        return self.verdicts[key]

    # -- where a filter's responses come from ---------------------------------------------------
    def sample_keys(self, docs: list[dict], counts: list[int]) -> Iterator[list[tuple[str, str, int]]]:
        """Per document: (task, task_id, sample index) of each response."""
        for i, (doc, n) in enumerate(zip(docs, counts)):
            inst = self.instances[i] if i < len(self.instances) else None
            task_id = doc.get("task_id", getattr(inst, "doc_id", i))
            yield [(self.task or "lm_eval", str(task_id), j) for j in range(n)]


def verdict_key(code: str, tests: str) -> tuple[str, str]:
    return code, tests.strip()


_active: SandboxContext | None = None
# () -> the sandbox of lm-eval runs outside aibench (``lm_eval --include_path``): set by the tasks'
# utils.py, the module lm-eval loads, so this package imports no sandbox
default_sandbox: Any = None
_default: SandboxContext | None = None
_lock = threading.Lock()


@contextlib.contextmanager
def sandbox_context(sandbox: Any, workers: int = 1, out: Any = None, progress: bool = False):
    global _active
    ctx = SandboxContext(sandbox, workers, out, progress)
    previous, _active = _active, ctx
    try:
        yield ctx
    finally:
        _active = previous


def current() -> SandboxContext:
    """The harness's context, else a default ``sandbox=local`` (closed at exit)."""
    global _default
    if _active is not None:
        return _active
    with _lock:
        if _default is None:
            import os

            if default_sandbox is None:
                raise RuntimeError("aibench lm_eval tasks: no sandbox (load them through their utils.py)")
            sandbox = default_sandbox()
            atexit.register(sandbox.close)
            _default = SandboxContext(sandbox, workers=max(1, (os.cpu_count() or 2) // 2))
            log.warning("aibench lm_eval tasks: no sandbox given, executing in a default sandbox=local")
    return _default


# -- HumanEval ----------------------------------------------------------------------------------
def humaneval_program(doc: dict, response: str, sample_index: int = 0) -> Program:
    """lm-eval's prediction (``doc["prompt"] + response``) run against ``test`` + ``check(entry_point)``,
    as ``harness=bigcode`` builds it (the prompt is the trusted prelude of the isolated judge)."""
    return Program(
        language="python",
        code=doc["prompt"] + response,
        tests="\n" + doc["test"] + "\n" + f"check({doc['entry_point']})",
        timeout=TIMEOUT_S,
        task_id=str(doc.get("task_id", "")),
        sample_index=sample_index,
        entry_point=doc["entry_point"],
        prelude=doc["prompt"],
    )


def humaneval_filter(resps: list[list[str]], docs: list[dict], cut_at_fence: bool = False) -> list[list[str]]:
    ctx = current()
    if cut_at_fence:  # lm-eval's build_predictions_instruct: cut at the first ```
        resps = [[r if r.find("```") == -1 else r[: r.find("```")] for r in resp] for resp in resps]
    programs = []
    for keys, resp, doc in zip(ctx.sample_keys(docs, [len(r) for r in resps]), resps, docs):
        programs.extend((k, humaneval_program(doc, r, k[2])) for k, r in zip(keys, resp))
    ctx.run(programs)
    return [[doc["prompt"] + r for r in resp] for resp, doc in zip(resps, docs)]


# -- MBPP ---------------------------------------------------------------------------------------
def mbpp_tests(doc: dict) -> str:
    """lm-eval's MBPP target: the first three asserts, one per line."""
    return "\n".join(doc["test_list"][:3])


def mbpp_filter(resps: list[list[str]], docs: list[dict]) -> list[str]:
    """lm-eval's default filter (``take_first``), plus the sandbox run of every response."""
    ctx = current()
    programs = []
    for keys, resp, doc in zip(ctx.sample_keys(docs, [len(r) for r in resps]), resps, docs):
        for k, r in zip(keys, resp):
            prog = Program(
                language="python",
                code=r,
                tests="\n" + mbpp_tests(doc),
                timeout=TIMEOUT_S,
                task_id=k[1],
                sample_index=k[2],
                test_cases=tuple(doc["test_list"][:3]),
            )
            programs.append((k, prog))
    ctx.run(programs)
    return [resp[0] for resp in resps]


# -- metrics ------------------------------------------------------------------------------------
def _as_lists(references: Any, predictions: Any) -> tuple[list[str], list[list[str]]]:
    refs = [references] if isinstance(references, str) else list(references)
    preds = [[p] if isinstance(p, str) else list(p) for p in predictions]
    return refs, preds


def pass_at_k(references: Any, predictions: Any, k: int | Iterable[int] | None = None) -> dict[str, float]:
    """``{"pass@k": mean over documents}`` for every k no larger than the samples of each document."""
    ks = [1] if k is None else [k] if isinstance(k, int) else [int(x) for x in k]
    refs, preds = _as_lists(references, predictions)
    ctx = current()
    counts = [(len(p), sum(ctx.verdict(code, ref).passed for code in p)) for ref, p in zip(refs, preds)]
    return {
        f"pass@{kk}": sum(estimate_pass_at_k(n, c, kk) for n, c in counts) / len(counts)
        for kk in ks
        if all(n >= kk for n, _ in counts)
    }


def pass_at_1(references: Any, predictions: Any) -> float:
    return pass_at_k(references, predictions, [1])["pass@1"]
