"""The model contract every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator

from aibench.errors import AibenchError
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
    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[Completion]: ...

    def describe(self) -> dict[str, Any]:
        """Facts for the run manifest (server version, model digest, sampling settings)."""
        return {"name": self.name}

    def params(self) -> dict[str, Any]:
        """Flat sampling params to log (temperature, top_p, ...)."""
        return {}

    def view(self, **settings: Any) -> "Model":
        """This model with other sampling settings (temperature, top_p, top_k, max_tokens, seed,
        stop, chat, template, extra), sharing its connections, cache and stats. Backends without
        sampling settings (reference, replay) are the same for every setting."""
        return self

    def prepare(self, problems: list[Problem]) -> None:
        """Called with the run's problems before any request (replay checks its file against them)."""

    def samples_available(self, problem: Problem) -> int | None:
        """How many samples this model can give for ``problem``; None = as many as asked
        (replay files may hold fewer than ``run.n_samples``, as BigCode allows)."""
        return None

    def check(self) -> None:
        """Fail fast with AibenchError if the backend cannot serve (called before generation)."""

    #: whether :meth:`loglikelihood` / :meth:`loglikelihood_rolling` work (prompt log-probabilities)
    supports_loglikelihood: bool = False

    def loglikelihood(self, requests: list[tuple[str, str]], progress: Any = None) -> list[tuple[float, bool]]:
        """Per ``(context, continuation)``: the continuation's total log-probability given the
        context, and whether greedy decoding would produce it. ``progress(n)`` is called as
        requests finish."""
        raise AibenchError(
            f"{self.name} cannot give prompt log-probabilities (backends that can: hf, "
            "openai completion models on a server with echo+logprobs)"
        )

    def loglikelihood_rolling(self, texts: list[str], progress: Any = None) -> list[float]:
        """Per text: its total log-probability (every token scored)."""
        return [lp for lp, _ in self.loglikelihood([("", t) for t in texts], progress)]

    def close(self) -> None:
        """Release connections/threads."""
