"""Core value types that flow through a run (see the data-flow sketch in the README).

Problem --prompt--> Model.generate --Completion--> harness postprocess --Program-->
Sandbox.execute --Verdict--> metrics.  Every module imports these; these import nothing of aibench.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


class Status(str, Enum):
    """Outcome of one sample. Only PASSED counts as correct."""

    PASSED = "passed"
    FAILED = "failed"  # the program ran and the tests did not complete (assert, exception, exit)
    TIMEOUT = "timeout"  # wall-clock or CPU limit hit
    MEMORY = "memory"  # address-space / memory limit hit
    OUTPUT_LIMIT = "output_limit"  # stdout/stderr exceeded the byte cap
    CRASHED = "crashed"  # killed by a signal (segfault, abort, ...) outside the limits above
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed; not the program's fault
    GENERATION_TRUNCATED = "generation_truncated"  # model hit its token limit and the program failed
    GENERATION_ERROR = "generation_error"  # the model backend failed for this sample

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


@dataclass(frozen=True)
class Problem:
    """One benchmark problem, already in the form the task defines (prompt stripped or not)."""

    task: str  # e.g. "humaneval"
    task_id: str  # e.g. "HumanEval/0"
    index: int  # position in the task's dataset order
    prompt: str  # the text the model continues (BigCode: doc["prompt"].strip() for humaneval)
    language: str  # "python", "javascript", "java", "cpp"
    tests: str  # test code appended after the candidate (BigCode's "reference")
    stop_words: tuple[str, ...] = ()
    entry_point: str | None = None
    canonical_solution: str | None = None  # a full reference program, where the dataset has one
    timeout: float = 3.0  # seconds per program, before sandbox.timeout_scale
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """Ask the model for sample ``sample_index`` of ``problem``."""

    problem: Problem
    sample_index: int

    @property
    def prompt(self) -> str:
        return self.problem.prompt

    @property
    def stop(self) -> tuple[str, ...]:
        return self.problem.stop_words

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.problem.task, self.problem.task_id, self.sample_index)


class CompletionKind(str, Enum):
    COMPLETION = "completion"  # continuation of the prompt (raw completion models)
    CHAT = "chat"  # free-form chat reply; code must be extracted from it
    PROGRAM = "program"  # already a full program (reference solutions, BigCode generations files)


@dataclass
class Completion:
    """What a model returned for one request."""

    request: GenerationRequest
    text: str
    kind: CompletionKind = CompletionKind.COMPLETION
    finish_reason: str | None = None  # "stop" | "length" | None when unknown
    error: str | None = None  # set when the backend failed for this sample (text is then "")
    usage: dict[str, Any] = field(default_factory=dict)  # prompt_tokens, completion_tokens, latency_s, cached


@dataclass(frozen=True)
class Program:
    """A complete program to run: the candidate code followed by the task's tests.

    ``source`` is exactly what the BigCode harness executes (``candidate + "\n" + reference``);
    ``code`` and ``tests`` are kept apart so a runner can instrument the tests (per-assert detail)
    without touching the candidate.
    """

    language: str
    code: str  # the candidate program (prompt + completion, postprocessed)
    tests: str  # the task's test code, e.g. "\n" + test + "\ncheck(entry_point)" for HumanEval
    timeout: float  # seconds (wall clock), before sandbox.timeout_scale
    task_id: str = ""
    sample_index: int = 0
    entry_point: str | None = None
    # Optional separately-runnable test cases (e.g. MBPP assert statements) for per-test detail.
    test_cases: tuple[str, ...] = ()
    # Trusted code the tests may call besides the candidate (HumanEval: the task's prompt, which
    # defines helpers such as ``encode_cyclic``). The split-process judge takes these from here,
    # never from the candidate program.
    prelude: str = ""

    @property
    def source(self) -> str:
        return self.code + "\n" + self.tests


@dataclass
class Verdict:
    """Result of executing one Program in a sandbox."""

    status: Status
    exit_code: int | None = None
    duration: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    error: str = ""  # one-line reason (exception text, signal name, limit hit)
    detail: dict[str, Any] = field(default_factory=dict)  # per-test results, killed strays, ...

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        d["passed"] = self.passed
        return d
