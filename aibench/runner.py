"""The streaming sample loop shared by execution-based harnesses.

requests -> Model.generate -> generations.jsonl -> postprocess -> Sandbox.execute_many -> results.jsonl

Each generation and each verdict is appended to the run dir the moment it exists, so a killed
run loses nothing finished and ``run.resume=true`` continues from the files: samples with a
result are not redone, samples with a generation but no result are executed without asking the
model again, and only the rest is generated.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from aibench.models.base import Model
from aibench.outputs import GENERATIONS, RESULTS, RunDir, SampleKey
from aibench.sandboxes.base import Sandbox
from aibench.types import Completion, GenerationRequest, Problem, Program, Status, Verdict

log = logging.getLogger(__name__)

# (problem, completion) -> candidate program text
Postprocess = Callable[[Problem, Completion], str]
# (problem, candidate code, sample index) -> Program
BuildProgram = Callable[[Problem, str, int], Program]


@dataclass
class PipelineResult:
    """What the run's samples came to (resumed ones included), kept small: the full records are
    on disk, so a run of 164 x 200 samples does not hold them all in memory."""

    results: dict[SampleKey, dict[str, Any]]  # slim records: status, passed, strays killed
    generations: dict[SampleKey, str | None]  # the postprocessed program of each sample
    requested: int  # samples generated in this invocation
    executed: int  # samples executed in this invocation
    resumed: int  # samples whose result was already on disk
    status_counts: Counter = field(default_factory=Counter)


def _key(problem: Problem, index: int) -> SampleKey:
    return (problem.task, problem.task_id, index)


def generation_record(completion: Completion, program: str | None) -> dict[str, Any]:
    problem = completion.request.problem
    return {
        "task": problem.task,
        "task_id": problem.task_id,
        "sample_index": completion.request.sample_index,
        "kind": completion.kind.value,
        "completion": completion.text,
        "program": program,
        "finish_reason": completion.finish_reason,
        "error": completion.error,
        "usage": completion.usage,
    }


def slim(record: dict[str, Any]) -> dict[str, Any]:
    """What aggregation needs of a result record."""
    strays = (record.get("detail") or {}).get("strays_killed", 0)
    return {"status": record["status"], "passed": bool(record["passed"]), "detail": {"strays_killed": strays}}


def result_record(key: SampleKey, verdict: Verdict, finish_reason: str | None = None) -> dict[str, Any]:
    task, task_id, index = key
    return {
        "task": task,
        "task_id": task_id,
        "sample_index": index,
        "status": verdict.status.value,
        "passed": verdict.passed,
        "duration": round(verdict.duration, 4),
        "exit_code": verdict.exit_code,
        "error": verdict.error,
        "stdout_tail": verdict.stdout_tail,
        "stderr_tail": verdict.stderr_tail,
        "finish_reason": finish_reason,
        "detail": verdict.detail,
    }


class _Progress:
    """done/total, rate, ETA and the running pass rate (tqdm), thread-safe."""

    def __init__(self, total: int, initial: int, passed: int, enabled: bool):
        self._lock = threading.Lock()
        self.done, self.passed = initial, passed
        self._bar = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="sample", dynamic_ncols=True, leave=True)
            self._postfix()

    def _postfix(self) -> None:
        if self._bar is not None and self.done:
            self._bar.set_postfix_str(f"pass {self.passed / self.done:.1%}", refresh=False)

    def update(self, passed: bool) -> None:
        with self._lock:
            self.done += 1
            self.passed += int(passed)
            if self._bar is not None:
                self._postfix()
                self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_samples(
    problems: list[Problem],
    model: Model,
    sandbox: Sandbox,
    out: RunDir,
    *,
    n_samples: int,
    postprocess: Postprocess,
    build_program: BuildProgram,
    workers: int = 1,
    resume: bool = False,
    progress: bool = True,
) -> PipelineResult:
    if resume:
        old_gens, old_results = out.load(GENERATIONS), out.load(RESULTS)
    else:
        out.discard(GENERATIONS, RESULTS)
        old_gens, old_results = {}, {}

    by_key: dict[SampleKey, Problem] = {}
    to_generate: list[GenerationRequest] = []
    to_execute: list[tuple[SampleKey, Program, str | None]] = []
    results: dict[SampleKey, dict[str, Any]] = {}
    generations: dict[SampleKey, str | None] = {}
    for problem in problems:
        available = model.samples_available(problem)
        n = n_samples if available is None else min(n_samples, available)
        for i in range(n):
            key = _key(problem, i)
            by_key[key] = problem
            gen = old_gens.get(key)
            if gen is not None:
                generations[key] = gen.get("program")
            if key in old_results:
                results[key] = slim(old_results[key])
            elif gen is not None and gen.get("program") is not None:
                to_execute.append((key, build_program(problem, gen["program"], i), gen.get("finish_reason")))
            else:
                to_generate.append(GenerationRequest(problem, i))

    resumed = len(results)
    total = len(by_key)
    if to_generate:  # an unreachable server fails here, before a progress bar is drawn
        model.check()
    bar = _Progress(total, resumed, sum(r["passed"] for r in results.values()), progress)
    failure: list[BaseException] = []
    finish_reasons: dict[SampleKey, str | None] = {}

    def record_result(key: SampleKey, verdict: Verdict, finish_reason: str | None) -> None:
        rec = result_record(key, verdict, finish_reason)
        out.append(RESULTS, rec)
        results[key] = slim(rec)
        bar.update(verdict.passed)

    def items() -> Iterator[tuple[SampleKey, Program]]:
        try:
            for key, program, reason in to_execute:
                finish_reasons[key] = reason
                yield key, program
            if not to_generate:
                return
            for completion in model.generate(to_generate):
                req = completion.request
                key = req.key
                code: str | None = None
                if completion.error is None:
                    try:
                        code = postprocess(req.problem, completion)
                    except Exception as exc:  # a bad reply must not abort the run
                        completion.error = f"postprocess failed: {type(exc).__name__}: {exc}"
                rec = generation_record(completion, code)
                out.append(GENERATIONS, rec)
                generations[key] = code
                if code is None:
                    record_result(
                        key, Verdict(Status.GENERATION_ERROR, error=completion.error or ""), completion.finish_reason
                    )
                    continue
                finish_reasons[key] = completion.finish_reason
                yield key, build_program(req.problem, code, req.sample_index)
        except GeneratorExit:
            raise
        except BaseException as exc:  # surfaced after the sandbox drains what is in flight
            failure.append(exc)

    executed = 0
    try:
        # closing(): on Ctrl-C or an error in this loop the sandbox kills what is in flight at once
        with contextlib.closing(sandbox.execute_many(items(), workers=workers)) as verdicts:
            for key, verdict in verdicts:
                reason = finish_reasons.pop(key, None)
                if reason == "length" and not verdict.passed:
                    verdict.detail = dict(verdict.detail, execution_status=verdict.status.value)
                    verdict.status = Status.GENERATION_TRUNCATED
                record_result(key, verdict, reason)
                executed += 1
    finally:
        bar.close()
    if failure:
        raise failure[0]

    counts = Counter(r["status"] for r in results.values())
    return PipelineResult(
        results=results,
        generations=generations,
        requested=len(to_generate),
        executed=executed,
        resumed=resumed,
        status_counts=counts,
    )


def bigcode_layout(problems: Iterable[Problem], generations: dict[SampleKey, str | None]) -> list[list[str]]:
    """Generations as BigCode's ``--load_generations_path`` JSON: per problem (dataset order) the
    list of full programs ordered by sample index."""
    per_problem: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for (task, task_id, idx), program in generations.items():
        if program is not None:
            per_problem.setdefault((task, task_id), []).append((idx, program))
    return [
        [prog for _, prog in sorted(per_problem.get((p.task, p.task_id), []))]
        for p in sorted(problems, key=lambda p: p.index)
    ]
