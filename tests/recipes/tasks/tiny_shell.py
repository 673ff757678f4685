"""The task of the language recipe's test: shell functions (``harness.tasks=[tiny_shell]``)."""

from __future__ import annotations

from typing import Any

from aibench.harnesses.bigcode.task import Task
from aibench.types import Problem

ROWS = [
    {"task_id": "TinyShell/0", "name": "add", "body": "echo $(($1 + $2))", "cases": [(1, 2, 3), (4, -1, 3)]},
    {"task_id": "TinyShell/1", "name": "mul", "body": "echo $(($1 * $2))", "cases": [(2, 3, 6), (0, 5, 0)]},
    # right function, but the program exits 0 before the tests: the runner's honest rule fails it
    {"task_id": "TinyShell/2", "name": "sub", "body": "echo $(($1 - $2))", "cases": [(5, 3, 2)], "tail": "exit 0\n"},
]


class TinyShell(Task):
    name = "tiny_shell"
    language = "shell"
    stop_words = ("\n}",)
    required_fields = ("task_id", "name", "body", "cases")

    def default_rows(self) -> list[dict[str, Any]]:
        return ROWS

    def problem(self, index: int, row: dict[str, Any]) -> Problem:
        prompt = f"{row['name']}() {{\n"
        tests = "\n".join(f'[ "$({row["name"]} {a} {b})" = "{c}" ] || exit 1' for a, b, c in row["cases"])
        return Problem(
            task=self.name,
            task_id=row["task_id"],
            index=index,
            prompt=prompt,
            language=self.language,
            tests=tests,
            stop_words=self.stop_words,
            entry_point=row["name"],
            canonical_solution=f"{prompt}  {row['body']}\n}}\n" + row.get("tail", ""),
            timeout=self.timeout,
        )


TASKS = {TinyShell.name: TinyShell}
