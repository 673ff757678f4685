"""``model=reference``: the dataset's canonical solutions (BigCode ``--check_references``).

Every sample is the reference program, so a correct harness and sandbox score pass@k = 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from aibench.errors import AibenchError
from aibench.models.base import Model
from aibench.types import Completion, CompletionKind, GenerationRequest


@dataclass
class ReferenceModelConfig:
    _target_: str = "aibench.models.reference.ReferenceModel"


SCHEMAS = {"reference": ReferenceModelConfig}


class ReferenceModel(Model):
    name = "reference"

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[Completion]:
        for req in requests:
            solution = req.problem.canonical_solution
            if solution is None:
                raise AibenchError(f"{req.problem.task_id} has no canonical solution: model=reference needs one")
            yield Completion(req, solution, kind=CompletionKind.PROGRAM, finish_reason="stop")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": "dataset canonical solutions"}

    def params(self) -> dict[str, Any]:
        return {"model": self.name}
