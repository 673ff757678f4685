"""Per-sample cost of each isolation step the fork server takes, against a plain fork + exit
measured in the same run (root only: cgroups, namespaces, mounts).

    python benchmarks/isolation_steps.py [--rounds 300]

Each round forks one child per variant (interleaved, so a noisy neighbour hits every variant
alike) from a process set up like a fork server (private mount namespace, pids + memory cgroups).
The child takes the variant's steps and exits; the parent reaps it. Printed per variant: the median
wall time from fork to reaped and the median CPU time (parent's thread + the child's rusage), and
each one's excess over the plain fork. The seccomp filter is installed once in the fork server and
inherited (see ``aibench/sandboxes/zygote.py``), so it costs no sample anything; its line shows
what a per-sample install would cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from aibench.sandboxes import cgroups, seccomp
from aibench.sandboxes import isolation as iso

SCRATCH = "/tmp/aibench-isolation-steps"
STEPS = {
    "plain fork + exit": set(),
    "join pids + memory cgroups": {"cg"},
    "new IPC namespace": {"ipc"},
    "new mount namespace + tmpfs": {"mnt"},
    "new pid namespace + mount ns + /proc + tmpfs": {"pidns", "mnt"},
    "unprivileged uid": {"uid"},
    "second process (split judge's candidate)": {"fork2"},
    "seccomp filter per sample (not done: inherited)": {"sec"},
    "all the steps a sample takes": {"cg", "ipc", "mnt", "pidns", "uid"},
    "all + the split judge's candidate": {"cg", "ipc", "mnt", "pidns", "uid", "fork2"},
}


def child(steps: set[str], pids: cgroups.Group, mem: cgroups.Group) -> None:
    try:
        if "cg" in steps:
            pids.join()
            mem.join()
        if "ipc" in steps:
            iso.unshare(iso.CLONE_NEWIPC)
        if "mnt" in steps:
            iso.unshare(iso.CLONE_NEWNS)
            if "pidns" in steps:
                iso.mount("proc", "/proc", "proc", iso.MS_NOSUID | iso.MS_NODEV | iso.MS_NOEXEC)
            iso.mount("tmpfs", SCRATCH, "tmpfs", iso.MS_NOSUID | iso.MS_NODEV, "size=100000000,mode=0700")
        if "uid" in steps:
            iso.become(65534, 65534)
        if "sec" in steps:
            seccomp.install()
        if "fork2" in steps:
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
    finally:
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root (cgroups, namespaces, mounts)", file=sys.stderr)
        return 2
    pids = cgroups.pids_group(f"aibench-steps-{os.getpid()}", 100)
    mem = cgroups.memory_group(f"aibench-steps-{os.getpid()}", 2 << 30)
    iso.unshare(iso.CLONE_NEWNS)  # like the fork server: mounts stay private to this process tree
    iso.mount("none", "/", None, iso.MS_REC | iso.MS_PRIVATE)
    os.makedirs(SCRATCH, exist_ok=True)
    own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY)
    wall: dict[str, list[float]] = {k: [] for k in STEPS}
    cpu: dict[str, list[float]] = {k: [] for k in STEPS}
    try:
        for _ in range(args.rounds):
            for name, steps in STEPS.items():
                iso.setns(own_pidns, iso.CLONE_NEWPID)
                if "pidns" in steps:
                    iso.unshare(iso.CLONE_NEWPID)  # the next fork is the init of a fresh pid namespace
                t0, c0 = time.perf_counter(), time.thread_time()
                pid = os.fork()
                if pid == 0:
                    child(steps, pids, mem)
                _, _, ru = os.wait4(pid, 0)
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.thread_time() - c0 + ru.ru_utime + ru.ru_stime)
    finally:
        cgroups.remove(pids.dir)
        cgroups.remove(mem.dir)
    base_w, base_c = statistics.median(wall["plain fork + exit"]), statistics.median(cpu["plain fork + exit"])
    print(f"{args.rounds} rounds, medians per sample (ms); excess over the plain fork in brackets")
    for name in STEPS:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"  {name:48s} wall {w * 1e3:6.3f} ({(w - base_w) * 1e3:+6.3f})   cpu {c * 1e3:6.3f} ({(c - base_c) * 1e3:+6.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
