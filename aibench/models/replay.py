"""``model=replay``: re-score saved generations without a model.

Accepted files:
- BigCode ``--load_generations_path`` layout: a JSON list with, per problem in dataset order, the
  list of full programs (prompt + completion, already postprocessed). As BigCode does, each list is
  cut to ``run.n_samples`` and the file to the number of problems evaluated; no postprocessing is
  applied to loaded programs.
- aibench's own ``generations.jsonl`` (one record per sample): the raw completion is replayed with
  its kind, so the task's postprocessing runs again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from omegaconf import MISSING

from aibench.errors import AibenchError
from aibench.models.base import Model
from aibench.models.reference import SharedSamplingKeys, ignored_sampling_note
from aibench.registry import register
from aibench.types import Completion, CompletionKind, GenerationRequest, Problem


@dataclass
class ReplayModelConfig(SharedSamplingKeys):
    path: str = MISSING
    name: str = "replay"


@register("model", "replay", ReplayModelConfig)
class ReplayModel(Model):
    def __init__(self, cfg: ReplayModelConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        self.path = Path(cfg.path).expanduser()
        self.name = cfg.name
        self.notes = ignored_sampling_note("replay", cfg, "it re-scores saved generations")
        if not self.path.is_file():
            raise AibenchError(f"replay file not found: {self.path} (set model.path=<generations .json or .jsonl>)")
        self._bigcode: list[list[str]] | None = None
        self._records: dict[tuple[str, str, int], dict[str, Any]] = {}
        if self.path.suffix == ".jsonl":
            self._load_jsonl()
        else:
            self._load_bigcode()

    def _load_bigcode(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AibenchError(f"replay file {self.path} is not valid JSON: {exc}") from None
        if not (
            isinstance(data, list) and all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in data)
        ):
            raise AibenchError(
                f"replay file {self.path} is not in BigCode's generations layout (a JSON list of lists of program strings)"
            )
        self._bigcode = data

    def _load_jsonl(self) -> None:
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (rec["task"], rec["task_id"], int(rec["sample_index"]))
                if not isinstance(rec["completion"], str):
                    raise TypeError("completion is not a string")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise AibenchError(
                    f"{self.path}:{n}: not an aibench generations.jsonl record (needs task, task_id, sample_index, completion)"
                ) from None
            self._records[key] = rec

    def prepare(self, problems: list[Problem]) -> None:
        """Check the file against the problems being evaluated (called by the runner)."""
        if self._bigcode is not None:
            tasks = {p.task for p in problems}
            if len(tasks) > 1:
                raise AibenchError(
                    f"a BigCode generations file holds one task, but harness.tasks has {sorted(tasks)}: run one task at a time"
                )
            if len(self._bigcode) < len(problems):
                raise AibenchError(
                    f"replay file {self.path} has {len(self._bigcode)} tasks but {len(problems)} problems are evaluated: "
                    f"set run.limit={len(self._bigcode)} or use the matching file"
                )
            total = _dataset_size(problems)
            if total is not None and len(self._bigcode) > total:
                raise AibenchError(
                    f"replay file {self.path} has {len(self._bigcode)} tasks but the dataset has only {total}: wrong file?"
                )
        else:
            known = {(t, tid) for t, tid, _ in self._records}
            missing = [p.task_id for p in problems if (p.task, p.task_id) not in known]
            if len(missing) == len(problems):
                raise AibenchError(
                    f"replay file {self.path} has no generations for the evaluated tasks ({problems[0].task}, ...)"
                )

    def samples_available(self, problem: Problem) -> int | None:
        if self._bigcode is not None:
            return len(self._bigcode[problem.index]) if problem.index < len(self._bigcode) else 0
        return sum(1 for t, tid, _ in self._records if (t, tid) == (problem.task, problem.task_id))

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[Completion]:
        for req in requests:
            p = req.problem
            if self._bigcode is not None:
                yield Completion(req, self._bigcode[p.index][req.sample_index], kind=CompletionKind.PROGRAM)
                continue
            rec = self._records.get((p.task, p.task_id, req.sample_index))
            if rec is None:
                yield Completion(
                    req, "", error=f"no generation for {p.task_id} sample {req.sample_index} in {self.path}"
                )
                continue
            yield Completion(
                req,
                rec["completion"],
                kind=CompletionKind(rec.get("kind", "completion")),
                finish_reason=rec.get("finish_reason"),
                error=rec.get("error"),
            )

    def describe(self) -> dict[str, Any]:
        layout = "bigcode" if self._bigcode is not None else "aibench-jsonl"
        return {"name": self.name, "path": str(self.path), "layout": layout}

    def params(self) -> dict[str, Any]:
        return {"model": self.name, "replay_path": str(self.path)}


def _dataset_size(problems: list[Problem]) -> int | None:
    sizes = {p.metadata.get("dataset_size") for p in problems}
    return sizes.pop() if len(sizes) == 1 and None not in sizes else None
