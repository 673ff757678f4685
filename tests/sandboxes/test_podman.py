"""sandbox=docker on Podman: the Docker sandbox's own tests (test_docker.py, the 164 x 10 verdict
parity with sandbox=local, the per-language tests) run again, unchanged, against Podman's
Docker-compatible API service, in a pytest of their own with ``DOCKER_HOST`` pointing at it.
`.ci/extras.d/25-podman.sh` installs podman from Debian's packages, starts the service and copies
the sandbox image into its store."""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

from sandbox_helpers import GOOD_INC, prog
from test_docker import engine_ready

from support import check_run, requires

REPO = Path(__file__).resolve().parents[2]
SOCKET = os.environ.get("AIBENCH_PODMAN_HOST", "unix:///run/podman/podman.sock")
DOCKER_TESTS = [
    "tests/sandboxes/test_docker.py",
    "tests/sandboxes/test_docker_parity.py",
    "tests/sandboxes/test_lang_docker.py",
]


@functools.lru_cache(maxsize=None)
def podman_ready() -> bool:
    return engine_ready(SOCKET, engine="podman")


pytestmark = requires(
    "podman", podman_ready(), "run .ci/extras.d/25-podman.sh (installs podman, starts its API service)"
)


def test_the_docker_sandbox_runs_on_podman():
    from aibench.sandboxes.docker import DockerSandbox

    with DockerSandbox(docker_host=SOCKET) as sb:
        engine = sb.describe()["docker"]["engine_components"]
        verdict = sb.execute(prog(GOOD_INC))
    assert any("Podman" in n for n in engine), engine
    assert verdict.passed, verdict.error


def test_docker_sandbox_tests_pass_unchanged_on_podman():
    env = dict(os.environ, DOCKER_HOST=SOCKET, AIBENCH_REQUIRE_EXTRAS="1")
    r = check_run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *DOCKER_TESTS], cwd=REPO, env=env)
    summary = r.stdout.strip().splitlines()[-1]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", summary)}
    # every test ran and passed: nothing skipped, failed or deselected
    assert counts.get("passed", 0) >= 25 and set(counts) == {"passed"}, summary
