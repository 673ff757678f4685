"""Shared fixtures: compose the real config tree the way ``python -m aibench`` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def compose():
    """``compose(overrides) -> DictConfig`` with aibench's config tree and schemas."""
    from hydra import compose as hydra_compose

    from aibench.config import initialize_config, register_configs

    register_configs()

    def _compose(overrides=()):
        with initialize_config():
            return hydra_compose("config", overrides=list(overrides))

    return _compose


def run_cli(args, cwd, timeout=600, env=None, **kw):
    """Run ``python -m aibench ARGS`` in ``cwd``; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aibench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        **kw,
    )


@pytest.fixture
def cli(tmp_path):
    """Run the CLI from a scratch directory (outputs/ lands there)."""

    def _cli(*args, **kw):
        return run_cli(list(args), cwd=kw.pop("cwd", tmp_path), **kw)

    return _cli
