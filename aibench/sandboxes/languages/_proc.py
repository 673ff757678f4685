"""One child process of the native runners (``_native.py``): the compiler or the program.

Spawned with ``posix_spawn`` by the confined sample process P: stdin ``/dev/null``, stderr (and a
compiler's stdout) through a pipe P drains and keeps a tail of, and for the program the two pipes of
the honest verdict rule: the report pipe on fd 3 and the token pipe on fd 4.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import time

REPORT_FD = 3  # the program's glue writes the token here when the tests ran to their end
TOKEN_FD = 4  # ... after reading it from here (a pipe emptied by that read) before the program's code
TAIL = 4096  # bytes of the compiler's output / the program's stderr kept for the verdict
_RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)


def _high(fd: int) -> int:
    """``fd`` moved to a number >= 10 (close-on-exec), so dup2 onto 0-4 never meets itself."""
    if fd >= 10:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Proc:
    """One child process (compiler or program), spawned with ``posix_spawn``."""

    def __init__(
        self, argv: list[str], env: dict[str, str], *, stdout_to_pipe: bool, token: bytes | None, new_group: bool
    ):
        self.argv = argv
        err_r, err_w = (_high(fd) for fd in os.pipe())
        self.err_r = err_r
        self.rep_r = self.tok_w = None
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        if stdout_to_pipe:
            actions.append((os.POSIX_SPAWN_DUP2, err_w, 1))
        extra = [err_w]
        if token is not None:
            rep_r, rep_w = (_high(fd) for fd in os.pipe())
            tok_r, tok_w = (_high(fd) for fd in os.pipe())
            os.write(tok_w, token)  # 32 bytes: fits the pipe buffer; the glue's read empties it
            os.close(tok_w)
            self.rep_r = rep_r
            actions += [(os.POSIX_SPAWN_DUP2, rep_w, REPORT_FD), (os.POSIX_SPAWN_DUP2, tok_r, TOKEN_FD)]
            extra += [rep_w, tok_r]
        kw = {"setpgroup": 0} if new_group else {}
        try:
            self.pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsigdef=_RESET, **kw)
        finally:
            for fd in extra:
                os.close(fd)
        self.started = time.monotonic()
        try:
            self.pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.status: int | None = None
        self.rusage = None
        self.err = bytearray()
        self.report = bytearray()

    def wait(self, deadline: float | None, forward_err: bool) -> bool:
        """Until the process ended (True) or ``deadline`` (False). Drains stderr (forwarded to our
        fd 2 when ``forward_err``; only a tail kept) and the report pipe meanwhile."""
        poller = select.poll()
        fds = {self.err_r: self.err}
        if self.rep_r is not None:
            fds[self.rep_r] = self.report
        for fd in fds:
            poller.register(fd, select.POLLIN | select.POLLHUP)
        if self.pidfd is not None:
            poller.register(self.pidfd, select.POLLIN)
        open_fds = set(fds)
        while self.status is None:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            wait_ms = 100 if deadline is None else max(1, min(100, int((deadline - now) * 1000) + 1))
            events = poller.poll(wait_ms if self.pidfd is not None else min(wait_ms, 10))
            for fd, _ev in events:
                if fd in open_fds:
                    self._read(fd, fds[fd], forward_err, poller, open_fds)
            self._reap()
        # the process is gone: what it wrote is already in the pipes (a stray child may keep them
        # open: read what is there, never wait for EOF)
        for fd in list(open_fds):
            os.set_blocking(fd, False)
            for _ in range(256):
                if not self._read(fd, fds[fd], forward_err, poller, open_fds):
                    break
        return True

    def _read(self, fd, buf: bytearray, forward_err: bool, poller, open_fds: set) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            poller.unregister(fd)
            open_fds.discard(fd)
            return False
        if fd == self.err_r and forward_err:
            _write_all(2, data)
        buf += data
        if fd == self.err_r and len(buf) > 2 * TAIL:
            del buf[: len(buf) - TAIL]
        elif fd == self.rep_r and len(buf) > 4096:
            del buf[4096:]
        return True

    def _reap(self) -> None:
        try:
            pid, st, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, st, ru = self.pid, 0, None
        if pid == self.pid:
            self.status, self.rusage = st, ru
            self.ended = time.monotonic()

    def kill(self) -> None:
        for target in (-self.pid, self.pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        try:
            _, self.status, self.rusage = os.wait4(self.pid, 0)
        except ChildProcessError:
            pass
        self.ended = time.monotonic()

    def close(self) -> None:
        for fd in (self.err_r, self.rep_r, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    @property
    def exit_code(self) -> int | None:
        if self.status is None:
            return None
        if os.WIFEXITED(self.status):
            return os.WEXITSTATUS(self.status)
        if os.WIFSIGNALED(self.status):
            return -os.WTERMSIG(self.status)
        return None

    @property
    def cpu(self) -> float | None:
        return None if self.rusage is None else self.rusage.ru_utime + self.rusage.ru_stime

    @property
    def err_tail(self) -> str:
        return bytes(self.err[-TAIL:]).decode("utf-8", "replace")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except OSError:
            return
        view = view[n:]
