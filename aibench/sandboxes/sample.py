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

With the split-process judge (``judge=isolated``) there is no P: the program process C, forked
from the candidate fork server (``candidates.py``: it never held a program or a test) into that
server's pid namespace, takes steps 1-4 itself and runs the program; the worker's trusted judge
process J (``judge_server.py``) runs the tests, calling into C across a data-only pipe. C never
holds the result pipe.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from aibench.sandboxes import isolation as iso
from aibench.sandboxes.limits import set_rlimits
from aibench.sandboxes.protocol import encode_line


class Channel:
    """Runner side of the result pipe. Every message carries the per-run nonce."""

    __slots__ = ("_fd", "_nonce", "_pids_fd")

    def __init__(self, fd: int, nonce: str, pids_fd: int | None):
        self._fd = fd
        self._nonce = nonce
        self._pids_fd = pids_fd

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
        if self._pids_fd is not None:  # tasks of this sample besides the one that runs the program
            try:  # (P, or C of the split judge, whose judge is not in the sample's cgroups)
                msg["strays"] = max(0, int(os.pread(self._pids_fd, 32, 0)) - 1)
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


def _enter(
    z,
    scratch_bytes: int,
    workdir: str,
    out_w: int,
    err_w: int,
    keep: list[int | None],
) -> list[int | None]:
    """Steps 1-3 for a process that runs the program (the sample P, or C of the split judge: each
    gets its own IPC namespace, ``/proc`` and tmpfs work dir). Returns the new numbers of the
    ``keep`` fds (None stays None), put at random high numbers; every other fd above 2 is closed."""
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
        opts = f"size={int(scratch_bytes)},mode=0700{owner}"
        iso.mount("tmpfs", z.scratch, "tmpfs", iso.MS_NOSUID | iso.MS_NODEV, opts)
    else:
        os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PWD": workdir})
        if "tempfile" in sys.modules:  # already imported (and maybe cached the old dir)
            sys.modules["tempfile"].tempdir = workdir
    os.chdir(workdir)
    os.dup2(z.devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    hi = top = 900 + os.urandom(1)[0] % 90
    new: list[int | None] = []
    for fd in keep:
        if fd is None:
            new.append(None)
            continue
        os.dup2(fd, top, inheritable=False)
        new.append(top)
        top += 1
    os.closerange(3, hi)
    os.closerange(top, 65536)
    return new


def main(z, runner, req: dict[str, Any], fds: dict[str, int]) -> None:
    """In the forked sample process P (never returns). ``z`` is the fork server's state. The nonce
    arrives on a pipe only after this process exists (so no process forked from the fork server
    inherits it in memory). The split judge has no P (see ``candidate_main``)."""
    setup_w = fds["setup_w"]
    names = ["res_w", "setup_w", "nonce_r"]
    try:
        new = _enter(
            z,
            req["limits"]["scratch_bytes"],
            fds["workdir"],
            fds["out_w"],
            fds["err_w"],
            [fds[k] for k in names] + [z.pids_stat_fd()],
        )
        got, pids_fd = dict(zip(names, new)), new[-1]
        setup_w = got["setup_w"]
        # a compiling runner's setup (javac, g++) gets its own CPU budget; it lowers it for the program
        set_rlimits(getattr(runner, "setup_limits", lambda lim: lim)(req["limits"]))
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        channel = Channel(got["res_w"], _read_nonce(got["nonce_r"]), pids_fd)
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


def candidate_main(z, language: str, limits: dict[str, Any], workdir: str, fds: list[int]) -> None:
    """The program process C of the split judge, forked from the candidate fork server into its pid
    namespace (never returns): steps 1-4, then "R" to the judge J, then - once J is set up - its
    program from J and the calls. C never holds the result pipe, the setup pipe or the nonce."""
    try:
        rfd, wfd = _enter(z, limits["scratch_bytes"], workdir, fds[2], fds[3], [fds[0], fds[1]])
        set_rlimits(limits)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        runner = z.judges[language]
        _confine(z)
        os.write(wfd, b"R")
        # no program code before the judge's set-up is complete: where C shares the judge's
        # uid (containers), it could otherwise kill the judge and pass for a sandbox fault
        if os.read(rfd, 1) != b"G":
            os._exit(0)
    except BaseException:  # noqa: BLE001
        os._exit(72)
    try:
        runner.candidate_main({}, rfd, wfd)
    finally:
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


def _setup_failed(setup_w: int, e: BaseException) -> None:
    try:
        os.write(setup_w, f"error: {type(e).__name__}: {e}"[:300].encode())
    finally:
        os._exit(72)
