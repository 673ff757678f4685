"""Per-worker control groups: a pids group (process count) and a memory group (the sum of a
sample's processes, which RLIMIT_AS - a per-process limit - cannot bound).

cgroup v1 (one hierarchy per controller, as on this kind of host) and v2 (one unified tree, as on
most users' machines) are both handled. A group is created below the cgroup this process is in,
so it works inside containers and delegated subtrees too. The worker opens every file it needs
once (before its mount tree hides /sys), samples of a worker run one at a time, so the group is
effectively per sample: the peak is reset before each sample and read after it.
"""

from __future__ import annotations

import os


def _own_path(controller: str) -> tuple[str, str] | None:
    """(mount root, our path below it) for a v1 controller, or the v2 tree ("" controller)."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, ctrls, path = line.split(":", 2)
        if controller and controller in ctrls.split(","):
            root = f"/sys/fs/cgroup/{controller}"
            if os.path.isdir(root):
                return root, path
        if not controller and _id == "0" and not ctrls:
            if os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
                return "/sys/fs/cgroup", path
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _v2_has(dirpath: str, controller: str) -> bool:
    try:
        with open(os.path.join(dirpath, "cgroup.controllers")) as f:
            return controller in f.read().split()
    except OSError:
        return False


class Group:
    """One created cgroup: its dir, an fd to join it, and open fds for its statistics."""

    def __init__(self, directory: str, version: int):
        self.dir = directory
        self.version = version
        self.procs_fd = os.open(os.path.join(directory, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC)
        self.stat_fds: dict[str, int] = {}

    def open_stat(self, name: str, mode: int = os.O_RDONLY) -> None:
        try:
            self.stat_fds[name] = os.open(os.path.join(self.dir, name), mode | os.O_CLOEXEC)
        except OSError:
            pass

    def read(self, name: str) -> str | None:
        fd = self.stat_fds.get(name)
        if fd is None:
            return None
        try:
            return os.pread(fd, 4096, 0).decode()
        except OSError:
            return None

    def join(self) -> None:
        """Move the calling process into the group (raw write: cheap in a fresh fork)."""
        os.write(self.procs_fd, b"0")


def _make(controller: str, name: str) -> tuple[str, int]:
    """Create ``name`` below our own cgroup for ``controller``; returns (dir, version)."""
    for ctrl, version in ((controller, 1), ("", 2)):
        where = _own_path(ctrl)
        if where is None:
            continue
        root, path = where
        parent = os.path.join(root, path.lstrip("/"))
        if version == 2 and not _v2_has(parent, controller):
            # enable the controller for our children where we may (delegated subtree)
            try:
                _write(os.path.join(parent, "cgroup.subtree_control"), f"+{controller}")
            except OSError:
                continue
        d = os.path.join(parent, name)
        try:
            os.makedirs(d, exist_ok=True)
            return d, version
        except OSError:
            continue
    raise OSError(f"no writable {controller} cgroup (v1 or v2) below this process's cgroup")


def pids_group(name: str, max_pids: int) -> Group:
    d, version = _make("pids", name)
    try:
        _write(os.path.join(d, "pids.max"), str(max_pids))
        g = Group(d, version)
    except OSError:
        remove(d)
        raise
    g.open_stat("pids.current")
    return g


def memory_group(name: str, limit_bytes: int) -> Group:
    d, version = _make("memory", name)
    try:
        if version == 1:
            _write(os.path.join(d, "memory.limit_in_bytes"), str(limit_bytes))
            try:  # swap accounting on: memory + swap together
                _write(os.path.join(d, "memory.memsw.limit_in_bytes"), str(limit_bytes))
            except OSError:
                pass
        else:
            _write(os.path.join(d, "memory.max"), str(limit_bytes))
            try:
                _write(os.path.join(d, "memory.swap.max"), "0")
            except OSError:
                pass
        g = Group(d, version)
    except OSError:
        remove(d)
        raise
    if version == 1:
        g.open_stat("memory.max_usage_in_bytes", os.O_RDWR)
        g.open_stat("memory.oom_control")
    else:
        g.open_stat("memory.peak", os.O_RDWR)
        g.open_stat("memory.events")
    return g


def memory_reset_peak(g: Group) -> None:
    fd = g.stat_fds.get("memory.max_usage_in_bytes" if g.version == 1 else "memory.peak")
    if fd is not None:
        try:
            os.pwrite(fd, b"0", 0)  # v1: reset; v2 (Linux >= 6.12): reset for this fd
        except OSError:
            pass


def memory_peak(g: Group) -> int | None:
    text = g.read("memory.max_usage_in_bytes" if g.version == 1 else "memory.peak")
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def memory_oom_kills(g: Group) -> int:
    text = g.read("memory.oom_control" if g.version == 1 else "memory.events") or ""
    for line in text.splitlines():
        key, _, val = line.partition(" ")
        if key == "oom_kill":
            return int(val)
    return 0


def remove(d: str | None) -> None:
    """Kill what is left in the group, then remove it (best effort, a few tries)."""
    import signal
    import time

    if not d:
        return
    for _ in range(50):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.rmdir(d)
            return
        except OSError:
            time.sleep(0.02)
