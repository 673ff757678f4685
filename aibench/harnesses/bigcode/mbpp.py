"""MBPP (BigCode ``bigcode_eval/tasks/mbpp.py``).

Facts relied on (BigCode HEAD 8fc5bae6, read in the installed package):
- dataset HF ``mbpp`` (config ``full``), split ``test``, which must hold 500 rows;
- prompt (InCoder style, not stripped): ``'\"\"\"\\n' + text + '\\n' + test_list[0] + '\\n\"\"\"\\n'``;
- stop words ``["\\nclass", "\\nassert", '\\n\"\"\"', "\\nprint", "\\nif", "\\n<|/", "\\n```"]``;
- postprocessing: prompt + the completion cut at the earliest stop word (as HumanEval);
- reference (test code) = ``"\\n".join(test_list)``; ``test_setup_code`` and
  ``challenge_test_list`` are not used;
- the executed program is ``candidate + "\\n" + reference`` (``compute_code_eval``), timeout 3.0 s.

The task chooses its own entry point: the first function the first test calls that is not a builtin
(``assert remove_Occ("hello","l") == "heo"`` -> ``remove_Occ``); the split judge asks the program for
it and "entry point not found" is its own failure reason. Each test of ``test_list`` is also run on
its own after the verdict (per-case detail in results.jsonl). ``model=reference`` uses ``code``.

Data: online through ``datasets`` (``mbpp``, split ``test``), offline from
``harness.data_paths.mbpp=FILE`` in the dataset's layout (.jsonl or .json list of rows with
``task_id``, ``text``, ``code``, ``test_list``, ...).
"""

from __future__ import annotations

import ast
import builtins
from typing import Any

from aibench.errors import AibenchError
from aibench.harnesses.bigcode.task import Task, load_hub_dataset
from aibench.types import Problem

MBPP_TEST_SIZE = 500  # BigCode asserts the test split has exactly this many rows


def called_function(test: str) -> str | None:
    """The first non-builtin function a test statement calls, by name (None if there is none)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    for call in calls:
        if not hasattr(builtins, call.func.id):
            return call.func.id
    return None


def mbpp_prompt(text: str, first_test: str) -> str:
    return f'"""\n{text}\n{first_test}\n"""\n'


class MBPP(Task):
    name = "mbpp"
    stop_words = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
    required_fields = ("task_id", "text", "test_list")
    timeout = 3.0

    def expected_data(self) -> str:
        return (
            "expected harness.data_paths.mbpp=FILE: the HF 'mbpp' test split as a .jsonl (one row per line) "
            "or .json list with the fields task_id, text, code, test_list"
        )

    def default_rows(self) -> list[dict[str, Any]]:
        rows = load_hub_dataset(self, "mbpp", split="test")
        if len(rows) != MBPP_TEST_SIZE:  # BigCode's own check: an old cache holds the wrong split
            raise AibenchError(
                f"mbpp: the datasets copy has {len(rows)} test rows, BigCode expects {MBPP_TEST_SIZE}: "
                "delete its old datasets cache or pass harness.data_paths.mbpp=FILE"
            )
        return rows

    def problem(self, index: int, row: dict[str, Any]) -> Problem:
        tests = list(row["test_list"])
        if not tests or not all(isinstance(t, str) for t in tests):
            raise AibenchError(f"mbpp: row {index} ({row['task_id']}) has no test_list strings; {self.expected_data()}")
        code = row.get("code")
        return Problem(
            task=self.name,
            task_id=str(row["task_id"]),
            index=index,
            prompt=mbpp_prompt(row["text"], tests[0]),
            language=self.language,
            tests="\n".join(tests),
            stop_words=self.stop_words,
            entry_point=called_function(tests[0]),
            canonical_solution=code if isinstance(code, str) else None,
            timeout=self.timeout,
            metadata={"test_cases": tuple(tests)},
        )


TASKS = {MBPP.name: MBPP}
