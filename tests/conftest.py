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


# ----------------------------------------------------------------------------- optional extras
# Tests that need an optional extra (torch/transformers, a Docker daemon, the real bigcode_eval
# package, ...) are marked ``extra``. The README's plain `pytest` skips them with a reason naming
# the install step (shown by -ra). `.ci/run` installs the extras and then runs
# `AIBENCH_REQUIRE_EXTRAS=1 pytest -m extra`, where a missing extra is a failure, never a skip.
REQUIRE_EXTRAS = os.environ.get("AIBENCH_REQUIRE_EXTRAS") == "1"


def requires(extra: str, available: bool, how: str):
    """Marks for a test (or a module's ``pytestmark``) that needs ``extra``.

    ``available``: whether it is usable here; ``how``: the one-line install step for the reason.
    """
    marks = [pytest.mark.extra]
    if not available:
        reason = f"needs the {extra} extra: {how}"
        if REQUIRE_EXTRAS:  # CI installed the extras: missing means broken set-up, not a skip
            marks += [pytest.mark.aibench_missing_extra(reason), pytest.mark.usefixtures("_fail_missing_extra")]
        else:
            marks.append(pytest.mark.skip(reason=reason))
    return marks


@pytest.fixture
def _fail_missing_extra(request):
    m = request.node.get_closest_marker("aibench_missing_extra")
    pytest.fail("AIBENCH_REQUIRE_EXTRAS=1 but the test " + m.args[0], pytrace=False)
