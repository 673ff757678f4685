"""README recipe "a model backend": this module and one YAML, ``conf/model/tiny/base.yaml``.

Answers every problem with its canonical solution, except the task ids in ``wrong``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aibench.config import configure
from aibench.models.sampling import SamplingConfig, SamplingModel
from aibench.registry import register
from aibench.types import Completion, CompletionKind, GenerationRequest


@dataclass
class TinyConfig(SamplingConfig):
    wrong: list[str] = field(default_factory=list)  # task ids answered with a wrong program


@register("model", "tiny", TinyConfig)
class TinyModel(SamplingModel):
    backend = "tiny"

    def __init__(self, cfg: TinyConfig | None = None, /, **settings: Any):
        cfg = configure(self, cfg, settings)
        super().__init__(cfg)
        self.wrong = set(cfg.wrong)

    def _run_unit(self, unit: list[GenerationRequest]) -> list[Completion]:
        out = []
        for r in unit:
            p = r.problem
            text = p.prompt + "\n    raise NotImplementedError\n" if p.task_id in self.wrong else p.canonical_solution
            out.append(Completion(r, text, kind=CompletionKind.PROGRAM, finish_reason="stop"))
        return out
