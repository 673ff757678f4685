"""sandbox=docker gives sandbox=local's per-sample verdicts on the 164 x 10 parity set (half
canonical, half wrong in several ways, an infinite loop in every 16th problem; see
test_local_parity.py and benchmarks/exec_throughput.py)."""

from __future__ import annotations

import pytest
from test_docker import docker_ready, of_run
from test_local_parity import _bench

from aibench.sandboxes.local import LocalSandbox
from support import requires

pytestmark = requires(
    "docker", docker_ready(), "run .ci/extras.d/20-docker.sh (installs docker.io, starts dockerd, builds the image)"
)


@pytest.mark.parity
def test_docker_verdicts_equal_local_164x10():
    from aibench.sandboxes.docker import DockerSandbox

    bench = _bench()
    samples = list(bench.iter_samples(10))
    assert len(samples) == 1640
    with LocalSandbox() as sb:
        local, _ = bench.run_aibench(samples, workers=2, sandbox=sb)
    with DockerSandbox() as sb:
        docker, _ = bench.run_aibench(samples, workers=2, sandbox=sb)
    assert of_run(sb) == []
    diffs = {
        k: (local[k].status.value, docker[k].status.value, docker[k].error)
        for k in local
        if local[k].status is not docker[k].status
    }
    assert diffs == {}
    assert {"passed", "failed", "timeout"} <= {v.status.value for v in docker.values()}
