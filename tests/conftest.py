"""Shared fixtures: compose the real config tree the way ``python -m aibench`` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# ``requires`` (marks for tests needing an optional extra) and ``check_run`` live in
# tests/support.py so that modules in a directory with its own conftest.py (tests/models/,
# tests/sandboxes/) can import them: ``from support import requires``. ``from conftest import
# requires`` keeps working for modules directly under tests/.
from support import REQUIRE_EXTRAS, check_run, requires  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def compose():
    """``compose(overrides) -> DictConfig`` with aibench's config tree and schemas."""
    from hydra import compose as hydra_compose

    from aibench.components import register_configs
    from aibench.config import initialize_config

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


# ----------------------------------------------------------------------------- optional extras
@pytest.fixture
def _fail_missing_extra(request):
    m = request.node.get_closest_marker("aibench_missing_extra")
    pytest.fail("AIBENCH_REQUIRE_EXTRAS=1 but the test " + m.args[0], pytrace=False)
