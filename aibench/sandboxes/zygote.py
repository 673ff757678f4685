"""The per-worker fork server ("zygote").

``LocalSandbox`` starts one per worker (``python -I``, scrubbed env, own session); ``DockerSandbox``
starts the same one inside each warm container. It sets up what all its samples share once - a
user namespace when not root, a new network namespace, pids and memory cgroups, a private mount
namespace pivoted into a minimal read-only tree (``rootfs.py``), an empty capability bounding set
- pre-imports the language runners, makes itself non-dumpable, forks the candidate fork server
(``candidates.py``: the split judge's program processes come from there) and the split judge's
trusted process (``judge_server.py``), then runs one fresh sample per request (``supervise.py``:
fork, watch, always kill and reap, decide).

Every step degrades: what could not be enforced here is said in the isolation report that goes
into the run manifest. Protocol with the parent: ``protocol.read_msg``/``write_msg`` on fds 0/1.
"""

from __future__ import annotations

import gc
import os
import signal
from typing import Any

from aibench.sandboxes import candidates, cgroups, judge_server, rootfs, seccomp
from aibench.sandboxes import isolation as iso
from aibench.sandboxes.protocol import read_msg, requests, write_msg
from aibench.sandboxes.supervise import error_result, run_sample


class Zygote:
    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.report: dict[str, Any] = {}
        self.pidns_fd: int | None = None
        self.cgroups: list[cgroups.Group] = []
        self.pids: cgroups.Group | None = None
        self.memory: cgroups.Group | None = None
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.userns = False
        self.per_sample_mounts = False
        self.scratch = "/tmp"  # the per-sample tmpfs (see rootfs.scratch_dir)
        self.ipc_ns = False
        self.sample_uid: int | None = None
        self.drop_capabilities = bool(cfg.get("drop_capabilities", True))
        self.bounding_dropped = False
        self.runners: dict[str, Any] = {}
        self.candidates: candidates.Client | None = None  # the split judge's program processes come from there
        self.candidates_gone = False
        self.judge: judge_server.Judge | None = None  # the split judge's trusted process J

    def setup(self) -> dict[str, Any]:
        from aibench.sandboxes import languages

        rep = self.report
        rep["zygote_pid"] = os.getpid()
        rep["uid"] = os.getuid()
        iso.set_subreaper()
        if self.cfg.get("cpu") is not None:  # first: every process of this worker inherits it
            self._step("cpu", self._pin)
        if os.geteuid() != 0:
            self._step("user_namespace", lambda: "uid %d mapped to root of a new user namespace" % self._userns())
        if self.cfg.get("network", False):
            rep["network"] = {"enforced": False, "why_not": "network=true in config"}
        else:
            self._step("network", lambda: iso.unshare(iso.CLONE_NEWNET) or "new network namespace (no interfaces up)")
        self._step("process_limit", self._pids_cgroup)
        self._step("memory_cgroup", self._memory_cgroup)
        rep["cgroup_dirs"] = [g.dir for g in self.cgroups]
        if self.cfg.get("isolate_filesystem", True):
            self._step("filesystem", self._filesystem)
        else:
            rep["filesystem"] = {"enforced": False, "why_not": "isolate_filesystem=false in config"}
        if self.cfg.get("pid_namespace", True):
            self._step("pid_namespace", self._pid_namespace)
        else:
            rep["pid_namespace"] = {"enforced": False, "why_not": "pid_namespace=false in config"}
        self._step("ipc_namespace", lambda: self._probe_ipc() or "new IPC namespace per sample")
        if self.drop_capabilities:
            self.bounding_dropped = iso.drop_bounding_set()
        rep["capabilities"] = {"dropped": self.drop_capabilities, "bounding_set_emptied": self.bounding_dropped}
        if os.geteuid() == 0 and not self.userns and self.cfg.get("sample_uid") is not None:
            self.sample_uid = int(self.cfg["sample_uid"])
            rep["sample_uid"] = {"enforced": True, "how": f"samples run as uid/gid {self.sample_uid}, no capabilities"}
        else:
            rep["sample_uid"] = {
                "enforced": False,
                "why_not": "not root: samples keep this process's uid "
                "(non-dumpable, so other processes of the uid cannot open their /proc entries)",
            }
        use_seccomp = bool(self.cfg.get("seccomp", True)) and seccomp.build_program() is not None
        rep["seccomp"] = seccomp.describe() if use_seccomp else {"enforced": False, "why_not": "disabled"}
        self.runners = {name: languages.get_runner(name) for name in languages.supported()}
        self.judges = {}
        for name in languages.supported_isolated():
            try:
                self.judges[name] = languages.get_runner(name, judge="isolated")
            except Exception as e:  # noqa: BLE001 - reported per request as a sandbox error
                rep.setdefault("judge_unavailable", {})[name] = str(e)
        iso.set_nondumpable()
        rep["fork_server_nondumpable"] = True
        if use_seccomp:
            # once, here, last: every sample inherits the filter (and no_new_privs) and cannot remove
            # it; the fork server itself needs none of the refused calls. Per sample it cost a
            # filter compile (~0.3 ms of CPU) on every fork.
            if seccomp.install():
                rep["seccomp"]["installed"] = "once in the fork server; every sample inherits it"
            else:
                rep["seccomp"] = {"enforced": False, "why_not": "prctl(PR_SET_SECCOMP) refused the filter"}
        return rep

    def _step(self, key: str, fn) -> None:
        try:
            self.report[key] = {"enforced": True, "how": fn()}
        except OSError as e:
            self.report[key] = {"enforced": False, "why_not": str(e.strerror or e)}

    def _pin(self) -> str:
        cpu = int(self.cfg["cpu"])
        os.sched_setaffinity(0, {cpu})
        return (
            f"each worker's processes on one CPU (round robin over the allowed CPUs; this worker: "
            f"CPU {cpu}): a sample and the split judge's two processes pass their messages on one "
            "core (pin_cpus=false: anywhere)"
        )

    def _userns(self) -> int:
        uid, _gid = iso.enter_user_namespace()
        self.userns = True
        return uid

    def _pids_cgroup(self) -> str:
        # only the sample's own tasks are in it (P, or the split judge's C, and what they start):
        # the judge process J and the candidate fork server are not, so the limit is exact
        limit = int(self.cfg["max_processes"])
        self.pids = cgroups.pids_group(f"aibench-{os.getpid()}", limit)
        self.cgroups.append(self.pids)
        return f"pids cgroup {self.pids.dir} (pids.max={limit}: the sample's processes and threads together)"

    def _memory_cgroup(self) -> str:
        limit = int(self.cfg["memory_bytes"])
        self.memory = cgroups.memory_group(f"aibench-{os.getpid()}", limit)
        self.cgroups.append(self.memory)
        return f"memory cgroup {self.memory.dir}: all processes of a sample together <= {limit} bytes, no swap"

    def _filesystem(self) -> str:
        iso.unshare(iso.CLONE_NEWNS)
        iso.mount("none", "/", None, iso.MS_REC | iso.MS_PRIVATE)
        import sys

        import aibench

        pkg = os.path.dirname(os.path.abspath(aibench.__file__))
        parent = os.path.dirname(pkg)
        if os.path.basename(parent) not in ("site-packages", "dist-packages"):  # a checkout: only the package
            sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != os.path.realpath(parent)]
        extra = [*self.cfg.get("extra_paths", ()), pkg]
        visible, masked = rootfs.build(extra, self.cfg.get("hidden_paths", ()))
        self.per_sample_mounts = True
        self.scratch = rootfs.scratch_dir(visible)
        os.environ.update({"HOME": self.scratch, "TMPDIR": self.scratch, "PWD": self.scratch})
        self.report["visible_paths"] = visible
        # the run's answer keys inside the tree: masked, or why not
        self.report["hidden_paths"] = [p for p, why in masked.items() if why is None]
        if any(masked.values()):
            self.report["hidden_paths_not_masked"] = {p: why for p, why in masked.items() if why}
        self.report["scratch_dir"] = self.scratch
        return (
            "private mount namespace pivoted into a minimal read-only tree (no /root, /home, /run, /var, "
            f"/sys or host /tmp: no daemon sockets); per sample a fresh tmpfs {self.scratch} and a fresh /proc"
        )

    def _pid_namespace(self) -> str:
        self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.new_pidns()
        except OSError:
            os.close(self.pidns_fd)
            self.pidns_fd = None
            raise
        return "new pid namespace per sample; its init exits after the program, so the kernel kills every descendant"

    def _probe_ipc(self) -> None:
        pid = os.fork()
        if pid == 0:
            try:
                iso.unshare(iso.CLONE_NEWIPC)
                os._exit(0)
            except BaseException:  # noqa: BLE001
                os._exit(1)
        _, st = os.waitpid(pid, 0)
        if not (os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0):
            raise OSError("unshare(CLONE_NEWIPC) unavailable")
        self.ipc_ns = True

    def new_pidns(self) -> None:
        iso.setns(self.pidns_fd, iso.CLONE_NEWPID)  # back to our own ns for children ...
        iso.unshare(iso.CLONE_NEWPID)  # ... then a fresh one: the next fork is its init

    def pids_stat_fd(self) -> int | None:
        return self.pids.stat_fds.get("pids.current") if self.pids else None

    def new_workdir(self) -> str:
        """A sample's temp dir, without a private mount namespace (the Docker entry wraps this:
        it wipes what earlier samples left in the container's scratch first)."""
        import tempfile

        d = tempfile.mkdtemp(prefix="aibench-s")
        if self.sample_uid is not None:
            os.chown(d, self.sample_uid, self.sample_uid)
        return d

    def helper_pids(self) -> tuple[int, ...]:
        """The split judge's long-lived processes (candidate fork server, judge): never strays."""
        return tuple(h.pid for h in (self.candidates, self.judge) if h is not None)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tears us down
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a dead sample's pipe is EPIPE, never our death
    # Keep the protocol off fds 0/1 so samples never inherit them by accident.
    inp, outp = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    cfg = read_msg(inp)
    if cfg is None:
        return
    z = Zygote(cfg)
    report = z.setup()
    gc.collect()
    gc.freeze()  # keep the zygote's objects out of the samples' GC: fewer copy-on-write faults
    if (
        z.judges and cfg.get("judge", "isolated") == "isolated"
    ):  # before the first request: it never holds a program or a test
        z.candidates = candidates.start(z, close=(inp, outp))
        report["candidate_fork_server"] = (
            "the split judge's program processes are forked from a process that never held a program or a test"
        )
        z.judge = judge_server.start(z)
        report["judge_process"] = (
            "one trusted judge process per worker runs the tests of sample after sample; it never runs program code"
        )
    write_msg(outp, {"kind": "ready", "isolation": report})
    try:
        serve(z, inp, outp)
    finally:
        if z.judge is not None:
            z.judge.kill()
        if z.candidates is not None:
            z.candidates.close()


def serve(z: Zygote, inp: int, outp: int) -> None:
    for req in requests(inp, outp):
        try:
            resp = run_sample(z, req)
        except Exception as e:  # noqa: BLE001 - never die on one request
            resp = error_result(req, f"fork server error: {type(e).__name__}: {e}")
        if z.candidates_gone:
            # this answer is the last: requests queued behind it were never started (the parent
            # requeues them without counting the death against them)
            resp["retiring"] = True
        try:
            write_msg(outp, resp)
        except OSError:  # the parent is gone or closed us (shutdown): nobody to answer, no traceback
            return
        if z.candidates_gone:  # a fresh worker takes over (the sandbox restarts dead workers)
            return


if __name__ == "__main__":
    main()
