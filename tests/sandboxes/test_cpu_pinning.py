"""sandbox.pin_cpus: each worker's processes (fork server, sample, the split judge's program process)
on one CPU, worker i on the i-th CPU this process may use (round robin); off, they run anywhere."""

from __future__ import annotations

import os

import pytest
from sandbox_helpers import GOOD_INC, prog

from aibench.sandboxes.local import LocalSandbox, worker_cpu
from aibench.types import Status

ALLOWED = sorted(os.sched_getaffinity(0))
# the program prints the CPUs it may run on; a worker's index shows in which one it ran on
SHOW = GOOD_INC + "import os\nprint('CPUS', sorted(os.sched_getaffinity(0)))\n"


def cpus_seen(verdict) -> list[int]:
    line = next(x for x in verdict.stdout_tail.splitlines() if x.startswith("CPUS"))
    return eval(line[4:])  # noqa: S307 - a list of ints printed by our own program


def test_workers_take_the_allowed_cpus_round_robin():
    assert [worker_cpu(i) for i in range(2 * len(ALLOWED))] == ALLOWED * 2


@pytest.mark.parametrize("judge", ["isolated", "inprocess"])
def test_each_workers_program_runs_on_its_own_cpu(judge):
    with LocalSandbox(judge=judge) as sb:
        verdicts = [v for _t, v in sb.execute_many(((i, prog(SHOW)) for i in range(12)), workers=2)]
        reports = [w.isolation["cpu"] for w in sb._workers]
    assert all(v.status == Status.PASSED for v in verdicts), [v.error for v in verdicts]
    seen = {tuple(cpus_seen(v)) for v in verdicts}
    assert seen <= {(worker_cpu(0),), (worker_cpu(1),)}, seen
    assert all(r["enforced"] for r in reports), reports


def test_pinning_off_leaves_every_cpu():
    with LocalSandbox(pin_cpus=False) as sb:
        v = sb.execute(prog(SHOW))
        report = sb._workers[0].isolation
    assert v.status == Status.PASSED, v.error
    assert cpus_seen(v) == ALLOWED
    assert "cpu" not in report
