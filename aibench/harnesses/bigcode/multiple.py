"""MultiPL-E HumanEval translations (BigCode ``bigcode_eval/tasks/multiple.py``).

Facts relied on (BigCode HEAD 8fc5bae6 and its ``custom_metrics/multiple_metrics``, read in the
installed package):
- tasks ``multiple-<lang>``; dataset ``nuprl/MultiPL-E``, config ``humaneval-<lang>``, revision
  ``28441b60...`` (MultiPL-E v3.3), split ``test``, in dataset order (BigCode HEAD misspells its
  language list so that ``multiple-cpp`` does not exist there; aibench has it);
- prompt ``doc["prompt"].strip()``; stop words = the **first row's** ``stop_tokens`` + ``["<file_sep>"]``;
- postprocessing: prompt + the completion cut at the earliest stop word; reference = ``doc["tests"]``;
- the executed program is ``completion + "\\n" + tests`` (``evaluation.cached_eval_script``);
- judging (``eval_javascript.py``, ``eval_java.py``, ``eval_cpp.py``, ``eval_python.py``): ``node file``
  (timeout 5 s), ``javac -encoding UTF8`` + ``java -ea Problem`` with javatuples on the class path,
  ``g++ file -std=c++17`` + the binary, ``python3 file`` (compile and run: 15 s each,
  ``safe_subprocess``); a failed compile is "SyntaxError"; a sample counts when its status is "OK"
  and its exit code 0 (``single_experiment_pass_k.for_file``): MultiPL-E's exit-0 rule.

aibench runs the same program under its language runners with the honest rule (exit 0 **and** the
tests ran to their end: an exit before the tests fails) and reports MultiPL-E's rule beside it
(``pass@k_exit0_rule`` in metrics.json; the runners' ``detail.exit0_rule_passed``). Python programs
(``multiple-py``) run under aibench's Python judge, which has no exit-0 rule figure.

Data: online through ``datasets``; offline from ``harness.data_paths.multiple-<lang>=FILE`` in the
dataset's layout (.jsonl or .json list with ``name``, ``language``, ``prompt``, ``doctests``,
``original``, ``prompt_terminology``, ``tests``, ``stop_tokens``). MultiPL-E has no solutions; a
local file may add ``canonical_solution`` (aibench's extension, as HumanEval's field: the text that
continues the raw ``prompt``, without the tests), which ``model=reference`` runs.
"""

from __future__ import annotations

import re
from typing import Any

from aibench.errors import AibenchError
from aibench.harnesses.bigcode.task import Task, load_hub_dataset
from aibench.types import Problem

DATASET = "nuprl/MultiPL-E"
REVISION = "28441b6024e71d4a1c1c0f6bf171c935cd5a43f2"  # BigCode's pin (MultiPL-E v3.3)
SOLUTION_FIELD = "canonical_solution"  # aibench's extension of the layout (see the module docstring)
FIELDS = ("name", "language", "prompt", "doctests", "original", "prompt_terminology", "tests", "stop_tokens")
_PY_CHECK = re.compile(r"^\s*check\(\s*([A-Za-z_]\w*)\s*\)\s*$", re.M)
_NAME = re.compile(r"^[A-Za-z]+_\d+_(\w+)$")


class MultiPLE(Task):
    """One MultiPL-E language; subclasses set ``code`` (MultiPL-E's), ``language`` (aibench's
    runner) and ``timeout`` (the MultiPL-E evaluator's run timeout)."""

    code = ""
    required_fields = ("name", "prompt", "tests", "stop_tokens")

    def expected_data(self) -> str:
        return (
            f"expected harness.data_paths.{self.name}=FILE: the {DATASET} config humaneval-{self.code} test split "
            f"as a .jsonl (one row per line) or .json list with the fields {', '.join(FIELDS)} "
            f"(+ {SOLUTION_FIELD} for model=reference)"
        )

    def default_rows(self) -> list[dict[str, Any]]:
        return load_hub_dataset(self, DATASET, f"humaneval-{self.code}", split="test", revision=REVISION)

    def rows(self) -> list[dict[str, Any]]:
        fresh = self._rows is None
        rows = super().rows()
        if fresh:
            for i, row in enumerate(rows):
                lang = row.get("language")
                if lang is not None and lang not in (self.code, self.language):
                    raise AibenchError(
                        f"{self.name}: row {i} of {self.data_path or DATASET} is language {lang!r}, "
                        f"not {self.code!r}; {self.expected_data()}"
                    )
            if rows and not isinstance(rows[0]["stop_tokens"], list):
                raise AibenchError(f"{self.name}: stop_tokens must be a list of strings; {self.expected_data()}")
        return rows

    def task_stop_words(self) -> tuple[str, ...]:
        """As BigCode: the first row's stop tokens for every problem, plus ``<file_sep>``."""
        rows = self.rows()
        return (*rows[0]["stop_tokens"], "<file_sep>") if rows else ("<file_sep>",)

    def entry_point(self, row: dict[str, Any]) -> str | None:
        """Python: the function the tests hand to ``check`` (the split judge asks the program for
        it; the prompt's stub is never used). Other languages do not need one."""
        if self.language != "python":
            return None
        m = _PY_CHECK.search(row["tests"]) or _NAME.match(row["name"])
        return m.group(1) if m else None

    def problem(self, index: int, row: dict[str, Any]) -> Problem:
        solution = row.get(SOLUTION_FIELD)
        return Problem(
            task=self.name,
            task_id=row["name"],
            index=index,
            prompt=row["prompt"].strip(),
            language=self.language,
            tests=row["tests"],
            stop_words=self.task_stop_words(),
            entry_point=self.entry_point(row),
            # the reference continues the raw prompt, as HumanEval's canonical_solution does
            canonical_solution=row["prompt"] + solution if isinstance(solution, str) else None,
            timeout=self.timeout,
            metadata={"multiple_language": self.code},
        )

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "stop_words": "the dataset's stop_tokens (first row) + <file_sep>",
            "dataset": f"{DATASET} humaneval-{self.code} @ {REVISION[:8]}",
            "verdict": "honest: exit 0 and the tests ran to their end; MultiPL-E's exit-0 rule reported beside it",
        }


class MultiPLEJavaScript(MultiPLE):
    name, code, language = "multiple-js", "js", "javascript"
    timeout = 5.0  # eval_javascript.py: subprocess timeout=5


class MultiPLEJava(MultiPLE):
    name, code, language = "multiple-java", "java", "java"
    timeout = 15.0  # eval_java.py: safe_subprocess default 15 s


class MultiPLECpp(MultiPLE):
    name, code, language = "multiple-cpp", "cpp", "cpp"
    timeout = 15.0  # eval_cpp.py: safe_subprocess default 15 s


class MultiPLEPython(MultiPLE):
    name, code, language = "multiple-py", "py", "python"
    timeout = 15.0  # eval_python.py: safe_subprocess default 15 s


TASKS = {t.name: t for t in (MultiPLEJavaScript, MultiPLEJava, MultiPLECpp, MultiPLEPython)}
