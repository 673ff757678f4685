"""The candidate fork server: where the split judge's program processes come from.

With ``judge=isolated`` the program runs in its own process C, the tests in the judge P. P is
forked from the fork server, whose memory has held every request it served (programs, tests,
compiled tests) - so a C forked from P or from the fork server could read the tests out of its
own memory (``ctypes.string_at`` over ``/proc/self/maps``) and answer each assert from them: a
program with no algorithm at all would pass. So C is forked from a second process ZC, forked from
the fork server once, right after its set-up and before the first request: ZC never receives a
program or a test, only a sample's limits and the ends of its pipes (``SCM_RIGHTS`` on a unix
socket pair). C then gets its program from P over its pipe, after it exists: its memory holds its
own program and nothing of the tests, of the nonce or of any other sample.

Where pid namespaces are available, ZC is the init of a pid namespace of its own, and every C
is forked into it (C itself is not an init, so signals it sends itself act as usual; a fresh
``/proc`` mounted by C shows ZC and C's own processes only). Per sample the fork server asks
``fork``, hands the sample to the judge (``judge_server.py``), and once the judge is done, asks
``end``: ZC reaps C, kills everything left in its namespace (``kill(-1)`` from its init reaches
every process there and nothing outside; no fork can slip past it) and reaps it, and reports how
C ended if it ended by itself (exit code or signal: a CPU-limit kill is a timeout) and its CPU
time. Without pid namespaces ZC is a subreaper and kills C's process tree instead.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import time
from typing import Any

from aibench.sandboxes import isolation as iso
from aibench.sandboxes.verdict import SIGNAMES

MAX_MSG = 1 << 16
END_GRACE_S = 0.02  # how long "end" waits for a C that is still exiting before it kills it


class CandidateServerGone(OSError):
    """ZC does not answer: the sample is failed (a program in a container can kill it), the fork
    server exits after answering, and the sandbox starts a fresh worker."""


class Client:
    """The fork server's end of the socket to ZC."""

    def __init__(self, pid: int, sock: socket.socket):
        self.pid, self.sock = pid, sock

    def _ask(self, msg: dict, fds: list[int] = ()) -> dict:
        try:
            socket.send_fds(self.sock, [json.dumps(msg).encode()], list(fds))
            data = self.sock.recv(MAX_MSG)
        except OSError as e:
            raise CandidateServerGone(f"candidate fork server: {e}") from None
        if not data:
            raise CandidateServerGone("candidate fork server is gone")
        return json.loads(data)

    def fork(self, language: str, limits: dict[str, Any], workdir: str, fds: list[int]) -> None:
        """Fork C with ``fds`` = [to_c_r, from_c_w, out_w, err_w]; raises OSError if it could not."""
        reply = self._ask({"op": "fork", "language": language, "limits": limits, "workdir": workdir}, fds)
        if "error" in reply:
            raise OSError(reply["error"])

    def close(self) -> None:
        """At the fork server's exit: ZC sees EOF and exits; reaped here (killed if it lingers)."""
        self.sock.close()
        for _ in range(100):
            if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                return
            time.sleep(0.002)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)

    def end(self) -> dict[str, Any]:
        """Kill what is left of C; how it ended if it ended by itself, and its CPU time."""
        return self._ask({"op": "end"}).get("candidate") or {}


def start(z, close: tuple[int, ...] = ()) -> Client:
    """Fork ZC from the fork server ``z`` (after its set-up, before any request); ``close``: the
    fork server's own protocol fds, which ZC must not hold."""

    def serve(sock: socket.socket) -> None:
        for fd in close:
            os.close(fd)
        _serve(z, sock)

    if z.pidns_fd is not None:  # ZC is the init of a fresh pid namespace: its Cs live there
        z.new_pidns()
    try:
        return Client(*iso.fork_helper(serve, socket.SOCK_SEQPACKET))
    finally:
        if z.pidns_fd is not None:  # the fork server's later children: its own namespace again
            iso.setns(z.pidns_fd, iso.CLONE_NEWPID)


def _serve(z, sock: socket.socket) -> None:
    from aibench.sandboxes import sample

    iso.set_pdeathsig(signal.SIGKILL)  # dies with the fork server
    iso.set_subreaper()  # without a pid namespace, C's orphans come back here and are killed at "end"
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    child: int | None = None  # the current sample's C
    pidfd: int | None = None
    ended: dict[str, Any] | None = None  # how C ended, once reaped
    while True:
        # reap C as soon as it ends (how it ended is answered at "end")
        ready = select.select([sock] + ([pidfd] if pidfd is not None else []), [], [])[0]
        if pidfd is not None and pidfd in ready:
            ended = _reap(child, 0)
            os.close(pidfd)
            pidfd = None
        if sock not in ready:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MSG, 8)
        except OSError:
            return
        if not data:
            return
        reply: dict[str, Any] = {}
        try:
            msg = json.loads(data)
            if msg["op"] == "fork":
                if child is not None:
                    _end(z, child, pidfd, ended)
                child, pidfd, ended = None, None, None
                if len(fds) != 4:
                    raise OSError(f"fork takes 4 fds, got {len(fds)}")
                child = os.fork()
                if child == 0:
                    sock.close()
                    sample.candidate_main(z, msg["language"], msg["limits"], msg["workdir"], fds[:4])  # never returns
                pidfd = os.pidfd_open(child)
            elif msg["op"] == "end" and child is not None:
                reply["candidate"] = _end(z, child, pidfd, ended)
                child, pidfd, ended = None, None, None
        except Exception as e:  # noqa: BLE001 - answered, never fatal
            reply = {"error": f"{type(e).__name__}: {e}"}
        finally:
            for fd in fds:
                os.close(fd)
        try:
            sock.send(json.dumps(reply).encode())
        except OSError:
            return


def _reap(pid: int, flags: int) -> dict[str, Any] | None:
    """How ``pid`` ended (reaped), or None if it has not (with ``os.WNOHANG``)."""
    wpid, status, ru = os.wait4(pid, flags)
    if wpid != pid:
        return None
    info: dict[str, Any] = {"candidate_cpu_s": round(ru.ru_utime + ru.ru_stime, 4), "candidate_maxrss_kb": ru.ru_maxrss}
    if os.WIFEXITED(status):
        info["candidate_exit_code"] = os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        info["candidate_signal"] = SIGNAMES.get(os.WTERMSIG(status), os.WTERMSIG(status))
    return info


def _end(z, pid: int, pidfd: int | None, ended: dict[str, Any] | None) -> dict[str, Any]:
    """C reaped (killed if still there); how it ended if it ended by itself, and its CPU time."""
    if ended is None:  # the judge is done; an honest C is exiting on the judge's hang-up: a moment
        if pidfd is not None:
            select.select([pidfd], [], [], END_GRACE_S)
        ended = _reap(pid, os.WNOHANG)
    if pidfd is not None:
        os.close(pidfd)
    if ended is None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        ended = _reap(pid, 0) or {}
        ended.pop("candidate_signal", None)  # our kill, not how it ended
        ended.pop("candidate_exit_code", None)
    strays = _empty_namespace() if os.getpid() == 1 else iso.kill_tree(os.getpid(), include_root=False)
    if strays:
        ended["candidate_strays_killed"] = strays
    iso.reap_all()
    return ended


def _empty_namespace() -> int:
    """As the init of the Cs' pid namespace: kill every other process in it and reap them all (the
    orphans of the namespace are ours); how many there were."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:  # nobody left
        return 0
    n = 0
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return n
        n += 1
