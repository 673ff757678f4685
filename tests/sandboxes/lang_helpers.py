"""Shared by the test_lang_{javascript,java,cpp}.py modules (a plain module, like sandbox_helpers)."""

from __future__ import annotations

import functools

import pytest
from sandbox_helpers import assert_clean
from support import requires

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Program, Status

HOW = "run .ci/extras.d/10-toolchains.sh (apt-installs nodejs, default-jdk-headless, libjavatuples-java, g++)"

# Reads every place a token could leak to (its own source, environment, command line, the token fd)
# and writes any 32-hex-digit string found to the report fd, then exits 0: must fail.
TOKEN_RE = "[0-9a-f]{32}"


@functools.lru_cache(maxsize=None)
def available(language: str) -> bool:
    from aibench.sandboxes.languages import toolchains

    return not toolchains.check([language])


def toolchain_mark(language: str):
    return requires("toolchains", available(language), HOW)


def make_sandbox(**kw) -> LocalSandbox:
    return LocalSandbox(judge="isolated", **kw)


@pytest.fixture(scope="module")
def lsb():
    sb = make_sandbox()
    yield sb
    sb.close()
    assert_clean(None)


def run_clean(sb: LocalSandbox, program: Program):
    v = sb.execute(program)
    assert_clean(sb)
    assert "exit0_rule_passed" in v.detail, v.detail  # reported for every sample
    return v


def assert_cheat_fails(v, exit0: bool = True) -> None:
    """A program that only 'passes' by MultiPL-E's exit-code rule."""
    assert v.status is Status.FAILED, (v.status, v.error, v.detail)
    assert v.detail["exit0_rule_passed"] is exit0, v.detail
    assert v.detail.get("tests_completed") is False, v.detail
