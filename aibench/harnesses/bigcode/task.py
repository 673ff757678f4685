"""A BigCode-style task: its problems, how a completion becomes a program, and its tests.

Mirrors ``bigcode_eval/base.py`` (``Task``): a generation is the prompt plus the completion cut at
the earliest stop word; loaded full programs (``--load_generations_path``) are used as they are.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Iterator

from aibench.errors import AibenchError
from aibench.types import Completion, CompletionKind, Problem, Program


def stop_at_stop_token(text: str, stop_words: tuple[str, ...] | list[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop word (BigCode ``Task._stop_at_stop_token``)."""
    cut = len(text)
    for word in stop_words:
        i = text.find(word)
        if i != -1 and i < cut:
            cut = i
    return text[:cut]


def read_records(path: str | Path, expected: str = "") -> Iterator[dict[str, Any]]:
    """Rows of a local dataset file in the HF/BigCode layout: .jsonl(.gz) or a .json list.
    ``expected``: the layout the task reads, named in the not-found error."""
    p = Path(path).expanduser()
    if not p.exists():
        raise AibenchError(f"dataset file not found: {p} ({expected or 'check harness.data_paths'})")
    opener: Callable[..., Any] = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as fh:
        if p.name.endswith((".jsonl", ".jsonl.gz")):
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise AibenchError(
                            f"{p}:{n}: not valid JSON ({exc.msg}); expected one JSON object per line"
                        ) from None
        else:
            data = json.load(fh)
            rows = data.get("test", data.get("rows")) if isinstance(data, dict) else data
            if not isinstance(rows, list):
                raise AibenchError(f"{p}: expected a JSON list of rows (or {{'test': [...]}})")
            yield from rows


def load_hub_dataset(task: "Task", path: str, name: str | None = None, split: str = "test", **kw: Any) -> list[dict]:
    """The rows of a public dataset through ``datasets`` (as the BigCode harness loads it); any
    failure (no network, not cached, package missing) is one line naming the local-file route."""
    import logging

    where = f"{path}" + (f" config {name}" if name else "") + f" split {split}"
    from aibench.harnesses.hub import unreachable

    if why := unreachable(path):  # datasets would retry the Hub for ~25 s before failing
        raise AibenchError(
            f"{task.name}: the Hugging Face Hub is out of reach ({why}) and no copy of {path} is cached; "
            f"offline, {task.expected_data()}"
        )
    # the hub client logs each failed request as a warning: the error below says it once
    quiet = [logging.getLogger(n) for n in ("huggingface_hub", "datasets", "fsspec")]
    levels: list[int] = []
    try:
        from datasets import load_dataset  # first: importing it sets these loggers' levels

        levels = [q.level for q in quiet]
        for q in quiet:
            q.setLevel(logging.ERROR)
        return [dict(r) for r in load_dataset(path, name, split=split, **kw)]
    except Exception as exc:  # noqa: BLE001 - ConnectionError, offline mode, DatasetNotFoundError, ...
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise AibenchError(
            f"{task.name}: could not load the dataset {where} through datasets ({type(exc).__name__}: {why}); "
            f"offline, {task.expected_data()}"
        ) from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


def program_for(problem: Problem, code: str, sample_index: int = 0) -> Program:
    """The program BigCode runs for ``code``: the task's tests after it; the prompt is the trusted
    prelude (helpers the tests call come from it under the split judge)."""
    return Program(
        language=problem.language,
        code=code,
        tests=problem.tests,
        timeout=problem.timeout,
        task_id=problem.task_id,
        sample_index=sample_index,
        entry_point=problem.entry_point,
        test_cases=tuple(problem.metadata.get("test_cases", ())),
        prelude=problem.prompt,
    )


class Task(ABC):
    """One benchmark task in BigCode's semantics."""

    name: str = ""
    language: str = "python"
    stop_words: tuple[str, ...] = ()
    timeout: float = 3.0  # BigCode compute_code_eval default timeout=3.0
    required_fields: tuple[str, ...] = ()

    def __init__(self, data_path: str | None = None):
        self.data_path = data_path
        self._rows: list[dict[str, Any]] | None = None

    def expected_data(self) -> str:
        """The local file this task reads, for error messages."""
        fields = ", ".join(self.required_fields)
        return (
            f"expected harness.data_paths.{self.name}=FILE, a .jsonl (one row per line) or .json list "
            f"with the fields {fields}"
        )

    # -- data -----------------------------------------------------------------------------
    @abstractmethod
    def default_rows(self) -> list[dict[str, Any]]:
        """The dataset rows when no local file is given."""

    def rows(self) -> list[dict[str, Any]]:
        if self._rows is not None:
            return self._rows
        rows = list(read_records(self.data_path, self.expected_data())) if self.data_path else self.default_rows()
        for i, row in enumerate(rows):
            missing = [f for f in self.required_fields if f not in row]
            if missing:
                raise AibenchError(
                    f"{self.name}: row {i} of {self.data_path or 'the dataset'} lacks {', '.join(missing)} "
                    f"(expected fields: {', '.join(self.required_fields)})"
                )
        self._rows = rows
        return rows

    @abstractmethod
    def problem(self, index: int, row: dict[str, Any]) -> Problem: ...

    def problems(self, limit: int | None = None) -> list[Problem]:
        rows = self.rows()
        size = len(rows)
        if limit is not None:
            rows = rows[:limit]
        return [
            dataclasses.replace(p, metadata={**p.metadata, "dataset_size": size})
            for p in (self.problem(i, row) for i, row in enumerate(rows))
        ]

    # -- completion -> program ---------------------------------------------------------------
    def postprocess(
        self, problem: Problem, completion: Completion, extract: Callable[[str, Problem], str] | None = None
    ) -> str:
        """The candidate program for a completion (BigCode ``postprocess_generation``)."""
        if completion.kind is CompletionKind.PROGRAM:
            return completion.text  # loaded generations are used as they are (BigCode does no postprocessing)
        if completion.kind is CompletionKind.CHAT:
            if extract is None:
                raise AibenchError("chat completions need a code extractor")
            return extract(completion.text, problem)
        return problem.prompt + stop_at_stop_token(completion.text, problem.stop_words)

    def program(self, problem: Problem, code: str, sample_index: int = 0) -> Program:
        return program_for(problem, code, sample_index)

    def describe(self) -> dict[str, Any]:
        """Prompt/stop-word settings for the run manifest."""
        return {
            "language": self.language,
            "stop_words": list(self.stop_words),
            "timeout_s": self.timeout,
            "data": self.data_path or "built-in",
        }
