"""The model contract every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator

from aibench.types import Completion, GenerationRequest, Problem


class Model(ABC):
    """A source of completions.

    ``generate`` receives every request of the run (``n_samples`` per problem, each with its
    ``sample_index``) and yields one Completion per request, in any order, as they finish. It
    must not raise for a single failed sample: it yields a Completion with ``error`` set. It
    raises ``AibenchError`` only for run-level failures (server unreachable, model missing,
    bad credentials) after its retries are spent.
    """

    #: short name logged as the ``model`` param (e.g. "ollama/llama3")
    name: str = "model"

    @abstractmethod
    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[Completion]:
        ...

    def describe(self) -> dict[str, Any]:
        """Facts for the run manifest (server version, model digest, sampling settings)."""
        return {"name": self.name}

    def params(self) -> dict[str, Any]:
        """Flat sampling params to log (temperature, top_p, ...)."""
        return {}

    def samples_available(self, problem: Problem) -> int | None:
        """How many samples this model can give for ``problem``; None = as many as asked
        (replay files may hold fewer than ``run.n_samples``, as BigCode allows)."""
        return None

    def check(self) -> None:
        """Fail fast with AibenchError if the backend cannot serve (called before generation)."""

    def close(self) -> None:
        """Release connections/threads."""
