"""The run directory: append-only JSONL records written as samples finish, plus final JSON files.

Layout (Hydra's run dir, ``outputs/<date>/<time>/``):
  generations.jsonl            one line per generated sample (written as each completes)
  results.jsonl                one line per executed sample (written as each verdict arrives)
  metrics.json                 pass@k overall and per task/problem, status counts
  generations_<task>.json      the same generations in BigCode's --load_generations_path layout
  evaluation_results.json      pass@k per task in BigCode's --metric_output_path layout
  run_manifest.json            resolved config + hash, versions, limits, host
  config.yaml                  the resolved config
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from aibench.types import Completion, Status, Verdict

GENERATIONS = "generations.jsonl"
RESULTS = "results.jsonl"
METRICS = "metrics.json"
MANIFEST = "run_manifest.json"

SampleKey = tuple[str, str, int]  # (task, task_id, sample_index)


def sample_key(record: dict[str, Any]) -> SampleKey:
    return (record["task"], record["task_id"], int(record["sample_index"]))


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


def result_record(key: SampleKey, verdict: Verdict, finish_reason: str | None = None) -> dict[str, Any]:
    """The ``results.jsonl`` record of a sample. A program that failed after the model hit its
    token limit is ``generation_truncated`` (the sandbox's status kept as ``execution_status``)."""
    task, task_id, index = key
    status, detail = verdict.status, verdict.detail
    if finish_reason == "length" and not verdict.passed and status is not Status.GENERATION_ERROR:
        status, detail = Status.GENERATION_TRUNCATED, dict(detail, execution_status=verdict.status.value)
    return {
        "task": task,
        "task_id": task_id,
        "sample_index": index,
        "status": status.value,
        "passed": verdict.passed,
        "duration": round(verdict.duration, 4),
        "exit_code": verdict.exit_code,
        "error": verdict.error,
        "stdout_tail": verdict.stdout_tail,
        "stderr_tail": verdict.stderr_tail,
        "finish_reason": finish_reason,
        "detail": detail,
    }


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield records; a torn last line (the run was killed mid-write) is skipped."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


class JsonlWriter:
    """Thread-safe append-only JSONL file, flushed after every record."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._fh = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if not self._fh.closed:
                self._fh.close()


class RunDir:
    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, JsonlWriter] = {}

    def file(self, name: str) -> Path:
        return self.path / name

    def has_records(self) -> bool:
        return RunDir.peek_records(self.path)

    @staticmethod
    def peek_records(path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds generated or executed samples (without creating it)."""
        p = Path(path)
        return any((p / n).is_file() and (p / n).stat().st_size > 0 for n in (GENERATIONS, RESULTS))

    def load(self, name: str) -> dict[SampleKey, dict[str, Any]]:
        """Existing records of ``name`` keyed by sample (the last record of a key wins)."""
        return {sample_key(r): r for r in read_jsonl(self.file(name))}

    def append(self, name: str, record: dict[str, Any]) -> None:
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = JsonlWriter(self.file(name))
        writer.write(record)

    def write_json(self, name: str, data: Any) -> Path:
        path = self.file(name)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def discard(self, *names: str) -> None:
        """Start afresh: drop earlier records of these files (a rerun without resume)."""
        for name in names:
            writer = self._writers.pop(name, None)
            if writer:
                writer.close()
            self.file(name).unlink(missing_ok=True)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
