"""Every registered component, in one visible list: importing a module runs its ``@register``.

A new model backend, task suite, sandbox or metric is one more import line here. The modules keep
their heavy imports (torch, transformers, docker, lm_eval, mlflow) inside functions, so importing
them all stays cheap: ``python -m aibench --help`` imports this module.
"""

from __future__ import annotations

# ruff: noqa: F401  (imported for their @register)
from aibench.config import store_schemas
from aibench.harnesses.bigcode import harness as bigcode_harness
from aibench.harnesses.lm_eval import harness as lm_eval_harness
from aibench.metrics import pass_at_k
from aibench.models import hf, ollama, openai_compat, reference, replay
from aibench.sandboxes import docker, local


def register_configs() -> None:
    """Store the top-level schema and every component's schema in Hydra's ConfigStore."""
    store_schemas()
