"""README recipe "a task": this module, dropped into ``aibench/harnesses/bigcode/`` (the test puts
its directory on that package's ``__path__``); selected with ``harness.tasks=[tiny_arith]``."""

from __future__ import annotations

from typing import Any

from aibench.harnesses.bigcode.task import Task
from aibench.types import Problem

ROWS = [
    {"task_id": "TinyArith/0", "name": "add", "op": "+", "cases": [(1, 2, 3), (-1, 1, 0)]},
    {"task_id": "TinyArith/1", "name": "mul", "op": "*", "cases": [(2, 3, 6), (0, 5, 0)]},
    {"task_id": "TinyArith/2", "name": "sub", "op": "-", "cases": [(5, 3, 2), (0, 1, -1)]},
]


class TinyArith(Task):
    name = "tiny_arith"
    stop_words = ("\ndef", "\nif")
    required_fields = ("task_id", "name", "op", "cases")

    def default_rows(self) -> list[dict[str, Any]]:
        return ROWS

    def problem(self, index: int, row: dict[str, Any]) -> Problem:
        prompt = f'def {row["name"]}(a, b):\n    """a {row["op"]} b"""\n'
        tests = "\n" + "\n".join(f"assert {row['name']}({a}, {b}) == {c}" for a, b, c in row["cases"])
        return Problem(
            task=self.name,
            task_id=row["task_id"],
            index=index,
            prompt=prompt,
            language=self.language,
            tests=tests,
            stop_words=self.stop_words,
            entry_point=row["name"],
            canonical_solution=prompt + f"    return a {row['op']} b\n",
            timeout=self.timeout,
        )


TASKS = {TinyArith.name: TinyArith}
