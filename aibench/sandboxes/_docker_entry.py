"""Entry point of the fork server inside an aibench sandbox container (``sandbox=docker``).

The container runs as uid 65534 without any capability, so the fork server's namespace steps fail
and it takes its degraded path (subreaper + kill of the process tree, rlimits, a per-sample temp
dir under ``/tmp``). Two things that path does not give, and that a container needs because every
sample has the same uid as the fork server, are added here before the fork server starts:

* the fork server is made non-dumpable: a process of the same uid can then neither ptrace it nor
  open its ``/proc/<pid>/{fd,mem,environ}`` (so a sample cannot write forged answers onto the
  protocol stream, nor read another sample's request). Forked samples inherit it.
* before each sample, everything in the scratch tmpfs (``/tmp``), in ``/dev/shm`` and in
  ``/dev/mqueue`` (POSIX message queues, which live as long as the container's IPC namespace) left
  by the previous one outside its own temp dir is removed, and SysV IPC objects are deleted, so no
  sample sees another's files or queues.
"""

from __future__ import annotations

import ctypes
import os

from aibench.sandboxes.isolation import remove_tree

PR_SET_DUMPABLE = 4
IPC_RMID = 0
_SCRATCH = ("/tmp", "/dev/shm", "/dev/mqueue")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def wipe_scratch(libc=None) -> None:
    for base in _SCRATCH:
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            remove_tree(os.path.join(base, name))  # iterative: any depth, any mode the sample set
    if libc is None:
        return
    for kind, fn in (("shm", libc.shmctl), ("msg", libc.msgctl), ("sem", libc.semctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if len(parts) > 1 and parts[1].isdigit():
                if kind == "sem":
                    fn(int(parts[1]), 0, IPC_RMID)
                else:
                    fn(int(parts[1]), IPC_RMID, None)


def _wiping(original, libc):
    def wrapper(self, *a, **kw):
        wipe_scratch(libc)
        return original(self, *a, **kw)

    return wrapper


def main() -> None:
    libc = _libc()
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    from aibench.sandboxes.zygote import main as zmain

    from aibench.sandboxes.zygote import Zygote

    # the per-sample temp dir is made just before each fork: wipe what earlier samples left first
    # (an AttributeError here, not a silent skip, if that method is ever renamed)
    Zygote.new_workdir = _wiping(Zygote.new_workdir, libc)
    wipe_scratch(libc)
    zmain()


if __name__ == "__main__":
    main()
