"""The sample process: what runs between the fork server's ``fork()`` and the program.

As root, the sample P is the init of a fresh pid namespace and:

1. joins the worker's pids and memory cgroups, starts its own session, dies with the fork server;
2. unshares a mount namespace (a fresh ``/proc`` showing only its own processes, a fresh
   size-limited tmpfs on ``/tmp`` as its work dir - gone when the sample is) and an IPC namespace
   (SysV shared memory, semaphores and message queues die with it);
3. gets stdin from /dev/null, stdout/stderr/result pipes, the per-run nonce, rlimits;
4. becomes an unprivileged uid (``sample_uid``; every capability gone), non-dumpable (no other
   process of that uid may open its /proc entries); ``no_new_privs`` and the seccomp filter it
   inherits from the fork server, which cannot be removed;
5. reports "setup ok" on a pipe it then closes, and only then runs the language runner.

With the split-process judge (``judge=isolated``) P stays the trusted judge: after step 3 it forks
the candidate process C, which alone takes step 4 and runs the program; P drops its capabilities
and runs the tests, calling into C across a data-only pipe. C never holds the result pipe.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from aibench.sandboxes import isolation as iso
from aibench.sandboxes.limits import set_rlimits
from aibench.sandboxes.protocol import encode_line


class Channel:
    """Runner side of the result pipe. Every message carries the per-run nonce."""

    __slots__ = ("_fd", "_nonce", "_pids_fd", "_own")

    def __init__(self, fd: int, nonce: str, pids_fd: int | None, own_tasks: int = 1):
        self._fd = fd
        self._nonce = nonce
        self._pids_fd = pids_fd
        self._own = own_tasks

    def _send(self, obj: dict) -> None:
        obj["nonce"] = self._nonce
        view = memoryview(encode_line(obj))
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def start(self) -> None:
        self._send({"kind": "start"})

    def verdict(self, ok: bool, status: str = "failed", error: str = "", detail: dict | None = None) -> None:
        flush_std()
        msg = {
            "kind": "verdict",
            "ok": bool(ok),
            "status": "passed" if ok else status,
            "error": error,
            "detail": detail or {},
        }
        if self._pids_fd is not None:  # tasks of this sample besides ours, killed when it ends
            try:
                msg["strays"] = max(0, int(os.pread(self._pids_fd, 32, 0)) - self._own)
            except (OSError, ValueError):
                pass
        self._send(msg)

    def extra(self, detail: dict) -> None:
        flush_std()
        self._send({"kind": "extra", "detail": detail})

    def compile(self) -> None:
        """A compile step starts (before ``start``): it has ``limits.compile_timeout_s`` of wall time."""
        self._send({"kind": "compile"})

    def artifact(self, detail: dict) -> None:
        """What the compile step produced, before the program runs (the fork server may cache it)."""
        self._send({"kind": "artifact", "detail": detail})


def flush_std() -> None:
    for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            s.flush()
        except BaseException:  # noqa: BLE001 - the program may have replaced them
            pass


def main(z, runner, req: dict[str, Any], fds: dict[str, int]) -> None:
    """In the forked sample process (never returns). ``z`` is the fork server's state. The nonce
    arrives on a pipe only after this process exists (so no process forked from the fork server
    inherits it in memory) and, with the split judge, is read only after the candidate process C
    has been forked: C never holds it."""
    setup_w = fds["setup_w"]
    try:
        os.setsid()
        iso.set_pdeathsig(signal.SIGKILL)
        for g in z.cgroups:
            g.join()
        if z.ipc_ns:
            iso.unshare(iso.CLONE_NEWIPC)
        if z.per_sample_mounts:
            iso.unshare(iso.CLONE_NEWNS)
            if z.pidns_fd is not None:
                iso.mount("proc", "/proc", "proc", iso.MS_NOSUID | iso.MS_NODEV | iso.MS_NOEXEC)
            owner = f",uid={z.sample_uid},gid={z.sample_uid}" if z.sample_uid is not None else ""
            iso.mount(
                "tmpfs",
                z.scratch,
                "tmpfs",
                iso.MS_NOSUID | iso.MS_NODEV,
                f"size={int(req['limits']['scratch_bytes'])},mode=0700{owner}",
            )
        else:
            os.environ.update({"HOME": fds["workdir"], "TMPDIR": fds["workdir"], "PWD": fds["workdir"]})
            if "tempfile" in sys.modules:  # already imported (and maybe cached the old dir)
                sys.modules["tempfile"].tempdir = fds["workdir"]
        os.chdir(fds["workdir"])
        # fds: 0 /dev/null, 1/2 output pipes, the result pipe and the pids counter at random high
        # numbers; everything else closed
        os.dup2(z.devnull, 0)
        os.dup2(fds["out_w"], 1)
        os.dup2(fds["err_w"], 2)
        hi = 900 + os.urandom(1)[0] % 90
        pids = z.pids_stat_fd()
        res_w, setup_w, nonce_r, pids_fd = hi, hi + 1, hi + 2, (hi + 3 if pids is not None else None)
        keep = {res_w: fds["res_w"], setup_w: fds["setup_w"], nonce_r: fds["nonce_r"]}
        if pids_fd is not None:
            keep[pids_fd] = pids
        for new, old in keep.items():
            os.dup2(old, new, inheritable=False)
        os.closerange(3, hi)
        os.closerange(hi + len(keep), 65536)
        # a compiling runner's setup (javac, g++) gets its own CPU budget; it lowers it for the program
        set_rlimits(getattr(runner, "setup_limits", lambda lim: lim)(req["limits"]))
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if req.get("judge") == "isolated":
            _split(z, runner, req, res_w, pids_fd, setup_w, nonce_r)
        channel = Channel(res_w, _read_nonce(nonce_r), pids_fd)
        _confine(z)
        os.write(setup_w, b"ok")
        os.close(setup_w)
    except BaseException as e:  # noqa: BLE001 - before any program code: a sandbox fault
        _setup_failed(setup_w, e)
    try:
        runner.child_main(req, channel)
    except BaseException:  # noqa: BLE001 - runner bug or hostile program; no verdict = not passed
        pass
    flush_std()
    os._exit(0)


def _confine(z) -> None:
    """Unprivileged uid (as root), non-dumpable, no capabilities (seccomp + no_new_privs: inherited)."""
    if z.sample_uid is not None:
        iso.become(z.sample_uid, z.sample_uid)
    elif z.drop_capabilities:
        iso.drop_all_capabilities(bounding=not z.bounding_dropped)
    iso.set_nondumpable()


def _read_nonce(fd: int) -> str:
    nonce = os.read(fd, 64).decode()
    os.close(fd)
    if len(nonce) != 32:
        raise OSError("no nonce from the fork server")
    return nonce


def _split(z, runner, req, res_w: int, pids_fd: int | None, setup_w: int, nonce_r: int) -> None:
    """Fork the candidate process C; this process stays the judge (never returns)."""
    private = (res_w, setup_w, nonce_r) + ((pids_fd,) if pids_fd is not None else ())
    to_c_r, to_c_w = os.pipe()
    from_c_r, from_c_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # C: no result pipe, no setup pipe, no way back to the judge but its own pipe
        try:
            for fd in (*private, to_c_w, from_c_r):
                os.close(fd)
            _confine(z)
            os.write(from_c_w, b"R")
            # no program code before the judge's set-up is complete: where C shares the judge's
            # uid (containers), it could otherwise kill the judge and pass for a sandbox fault
            if os.read(to_c_r, 1) != b"G":
                os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(72)
        try:
            runner.candidate_main(req, to_c_r, from_c_w)
        finally:
            flush_std()
            os._exit(0)
    os.close(to_c_r)
    os.close(from_c_w)
    try:
        if os.read(from_c_r, 1) != b"R":
            raise OSError("candidate process setup failed")
        channel = Channel(res_w, _read_nonce(nonce_r), pids_fd, own_tasks=2)
        if z.drop_capabilities:
            iso.drop_all_capabilities(bounding=not z.bounding_dropped)
        iso.set_nondumpable()
        os.write(setup_w, b"ok")
        os.close(setup_w)
    except BaseException as e:  # noqa: BLE001
        _setup_failed(setup_w, e)
    try:
        os.write(to_c_w, b"G")
    except OSError:
        pass  # C is gone: the judge's first call says so
    try:
        runner.judge_main(req, from_c_r, to_c_w, channel)
    except BaseException:  # noqa: BLE001 - no verdict = not passed
        pass
    _end_candidate(pid)
    flush_std()
    os._exit(0)


def _end_candidate(pid: int) -> None:
    """Reap C once it is gone (the judge hung up: an honest C exits at once). The judge cannot
    kill C when C runs under another uid; a C that lives on is killed by the fork server (or the
    kernel, with the judge as its pid namespace's init) when the judge exits."""
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(50):
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            return
        time.sleep(0.001)


def _setup_failed(setup_w: int, e: BaseException) -> None:
    try:
        os.write(setup_w, f"error: {type(e).__name__}: {e}"[:300].encode())
    finally:
        os._exit(72)
