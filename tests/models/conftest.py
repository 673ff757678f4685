"""Fixtures for the model-backend tests: fake Ollama/OpenAI servers, HumanEval problems and
requests, and a Hydra compose over the real ``conf/model`` tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from aibench.models.fakes import FakeOllama, FakeOpenAI
from support import humaneval_problems

from aibench.types import Problem

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent


@pytest.fixture(scope="session")
def problems() -> list[Problem]:
    return humaneval_problems(6)


@pytest.fixture
def ollama_server():
    with FakeOllama() as srv:
        yield srv


@pytest.fixture
def openai_server():
    with FakeOpenAI() as srv:
        yield srv


@pytest.fixture
def fast():
    """Constructor kwargs that keep retries quick and the cache off."""
    return {"backoff": 0.001, "retries": 3, "cache_dir": None, "timeout": 5.0}


@pytest.fixture
def compose_model(tmp_path_factory):
    """``compose_model(overrides) -> DictConfig`` over the real conf/model tree and schemas, with a
    minimal primary config (run/paths), independent of the other groups."""
    from hydra import compose, initialize_config_dir

    from aibench.components import register_configs

    register_configs()
    root = tmp_path_factory.mktemp("conf")
    (root / "model").symlink_to(REPO / "conf" / "model")
    (root / "config.yaml").write_text(
        "defaults:\n  - model: ollama/llama3\n  - _self_\n"
        "run: {n_samples: 1, seed: 0}\npaths: {cache_dir: outputs/cache}\n"
    )

    def _compose(overrides=()):
        with initialize_config_dir(config_dir=str(root), version_base=None):
            return compose("config", overrides=list(overrides))

    return _compose
