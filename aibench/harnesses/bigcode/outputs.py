"""BigCode's own file layouts in the run dir, so the real harness can re-score aibench's runs and
its runs can be compared side by side:

  generations_<task>.json      ``--load_generations_path``: per problem (dataset order) the list of
                               full programs ordered by sample index
  evaluation_results.json      ``--metric_output_path``: pass@k per task and the run's settings
"""

from __future__ import annotations

from typing import Any, Iterable

from aibench.outputs import RunDir, SampleKey
from aibench.types import Problem, RunReport

EVALUATION_RESULTS = "evaluation_results.json"


def generations_file(task: str) -> str:
    return f"generations_{task}.json"


def bigcode_layout(problems: Iterable[Problem], generations: dict[SampleKey, str | None]) -> list[list[str]]:
    """Generations as BigCode's ``--load_generations_path`` JSON."""
    per_problem: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for (task, task_id, idx), program in generations.items():
        if program is not None:
            per_problem.setdefault((task, task_id), []).append((idx, program))
    return [
        [prog for _, prog in sorted(per_problem.get((p.task, p.task_id), []))]
        for p in sorted(problems, key=lambda p: p.index)
    ]


def write_generations(
    out: RunDir, task: str, problems: list[Problem], generations: dict[SampleKey, str | None]
) -> None:
    out.write_json(generations_file(task), bigcode_layout(problems, generations))


def write_evaluation_results(
    out: RunDir, report: RunReport, tasks: list[str], model: Any, n_samples: int, limit: int | None
) -> None:
    """pass@k per task in BigCode's ``--metric_output_path`` layout."""
    out.write_json(
        EVALUATION_RESULTS,
        {name: res["pass@k"] for name, res in report.tasks.items()}
        | {
            "config": {
                "tasks": ",".join(tasks),
                "model": model.name,
                "n_samples": n_samples,
                "limit": limit,
                **{k: v for k, v in model.params().items() if k != "model"},
            }
        },
    )
