"""Where a sample's CPU goes: per process of one LocalSandbox worker, for each judge.

    python benchmarks/sample_cpu.py [--samples 10]

The 164 x N HumanEval programs of ``exec_throughput.py`` (half canonical, half wrong, no loops)
run through one worker (one CPU when pinned); CPU time and page faults of each long-lived process
of the worker (from /proc/<pid>/stat, before and after) and of what each one reaped (its children:
the per-sample processes), divided by the number of samples. Processes:

- ``fork server``: the zygote; its reaped children are the in-process judge's sample processes P;
- ``candidate fork server`` (isolated judge): its reaped children are the program processes C;
- ``judge`` (isolated judge): the trusted process that runs the tests of sample after sample;
- ``parent``: this process (the sandbox's scheduling and the verdicts).

The last line is the ratio of the two judges' totals, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

import exec_throughput as et  # noqa: E402

from aibench.sandboxes.local import LocalSandbox  # noqa: E402

_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int, float, float]:
    """(own faults, reaped children's faults, own CPU s, reaped children's CPU s)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (
        int(fields[7]),
        int(fields[8]),
        (int(fields[11]) + int(fields[12])) / _TCK,
        (int(fields[13]) + int(fields[14])) / _TCK,
    )


def _roles(sb: LocalSandbox) -> dict[str, int]:
    (w,) = [w for w in sb._workers if w.alive]
    z = w.proc.pid
    with open(f"/proc/{z}/task/{z}/children") as f:
        kids = [int(k) for k in f.read().split()]
    roles = {"fork server": z}
    for k in kids:
        with open(f"/proc/{k}/status") as f:
            nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
        # the candidate fork server is the init of the programs' pid namespace (two numbers)
        roles["candidate fork server" if len(nspid) == 2 else "judge"] = k
    return roles


def measure(judge: str, samples: list) -> float:
    sb = LocalSandbox(judge=judge)
    try:
        et.run_aibench(samples[:50], 1, sb)  # warm: workers up, imports done
        roles = _roles(sb)
        before = {name: _stat(pid) for name, pid in roles.items()}
        t0 = os.times()
        _verdicts, wall = et.run_aibench(samples, 1, sb)
        t1 = os.times()
        after = {name: _stat(pid) for name, pid in roles.items()}
        if _roles(sb) != roles:
            sys.exit(f"{judge}: a worker process was replaced during the run; run again")
    finally:
        sb.close()
    n = len(samples)
    total = parent = (t1.user - t0.user + t1.system - t0.system) / n * 1e3
    print(f"judge={judge}: {n} samples, 1 worker, per sample:")
    for name in roles:
        d = [b - a for a, b in zip(before[name], after[name])]
        own, kids = d[2] / n * 1e3, d[3] / n * 1e3
        total += own + kids
        print(
            f"  {name:22s} own {own:5.2f} ms CPU ({d[0] / n:4.0f} faults); "
            f"its reaped children {kids:5.2f} ms ({d[1] / n:4.0f} faults)"
        )
    print(f"  parent                 {parent:5.2f} ms CPU")
    print(f"  total {total:.2f} ms CPU, wall {wall / n * 1e3:.2f} ms")
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10, help="samples per problem (default 10: 1,640 programs)")
    args = ap.parse_args(argv)
    samples = list(et.iter_samples(args.samples, loops=False))
    iso, inproc = measure("isolated", samples), measure("inprocess", samples)
    print(f"isolated / in-process CPU per sample: {iso / inproc:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
