"""``model=reference``: the dataset's canonical solutions (BigCode ``--check_references``).

Every sample is the reference program, so a correct harness and sandbox score pass@k = 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterable, Iterator, Optional

from aibench.errors import AibenchError
from aibench.models.base import Model
from aibench.registry import register, transport
from aibench.types import Completion, CompletionKind, GenerationRequest


@dataclass
class SharedSamplingKeys:
    """The sampling keys every backend shares (aibench/models/sampling.py), accepted by models
    that do not sample so that one sweep line works with any model
    (``-m model.temperature=0.2,0.8``). Unset (null) by default; a value set is ignored, with a note."""

    temperature: Optional[float] = None
    top_p: Optional[float] = None
    top_k: Optional[int] = None
    max_tokens: Optional[int] = None
    seed: Optional[int] = None
    stop: Optional[Any] = None
    use_stop_words: Optional[bool] = None
    chat: Optional[bool] = None
    system_prompt: Optional[str] = None
    user_template: Optional[str] = None
    concurrency: Optional[int] = transport(None)
    retries: Optional[int] = transport(None)
    backoff: Optional[float] = transport(None)
    timeout: Optional[float] = transport(None)
    cache_dir: Optional[str] = transport(None)


SHARED_SAMPLING_KEYS = tuple(f.name for f in fields(SharedSamplingKeys))


def ignored_sampling_note(model: str, cfg: SharedSamplingKeys, why: str) -> list[str]:
    """A note naming the shared sampling keys set on a model that does not sample."""
    used = [f"model.{k}" for k in SHARED_SAMPLING_KEYS if getattr(cfg, k) is not None]
    return [f"model={model} ignores {', '.join(used)} ({why})"] if used else []


@dataclass
class ReferenceModelConfig(SharedSamplingKeys):
    """``model=reference``: the dataset's canonical solutions (no settings of its own)."""


@register("model", "reference", ReferenceModelConfig)
class ReferenceModel(Model):
    name = "reference"

    def __init__(self, cfg: ReferenceModelConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        self.notes = ignored_sampling_note("reference", cfg, "its samples are the canonical solutions")

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[Completion]:
        for req in requests:
            solution = req.problem.canonical_solution
            if solution is None:
                raise AibenchError(
                    f"model=reference replays reference solutions, and {req.problem.task} {req.problem.task_id} "
                    "has none: pick a model (e.g. model=ollama/llama3), or a task with references "
                    "(harness=bigcode humaneval/mbpp; lm-eval tasks whose documents have an `aibench_reference`, "
                    "`canonical_solution` or `code` field, as aibench_humaneval and aibench_mbpp)"
                )
            yield Completion(req, solution, kind=CompletionKind.PROGRAM, finish_reason="stop")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": "dataset canonical solutions"}

    def params(self) -> dict[str, Any]:
        return {"model": self.name}
