"""One worker of the local sandbox: a fork-server process (``zygote.py``) on this machine, the
requests queued on it, and its answers as Verdicts (``_to_verdict``). ``local.py`` schedules
samples over a pool of them.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from typing import Any

from aibench.sandboxes import cgroups
from aibench.sandboxes.protocol import read_msg, write_msg
from aibench.types import Program, Status, Verdict

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = "import sys; sys.path.insert(0, {root!r}); from aibench.sandboxes.zygote import main; main()"


class _Worker:
    """One fork-server process and the requests queued on it."""

    def __init__(self, index: int, cfg: dict[str, Any], env: dict[str, str]):
        self.index = index
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT.format(root=_PKG_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,  # terminal Ctrl-C goes to us, not the workers
            close_fds=True,
        )
        self.wfd = self.proc.stdin.fileno()
        self.rfd = self.proc.stdout.fileno()
        self.pending: dict[int, tuple[Any, Program, int]] = {}
        self.sent: collections.deque[int] = collections.deque()  # request ids in the pipe, in order
        self.busy_since = 0.0  # when the sample at the head of ``sent`` started (about)
        self.retiring = False  # its last answer said so: what is queued behind was never started
        write_msg(self.wfd, cfg)
        ready = read_msg(self.rfd)
        if not ready or ready.get("kind") != "ready":
            self.kill()
            raise RuntimeError(f"fork server {index} failed to start")
        self.isolation: dict[str, Any] = ready["isolation"]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except Exception:  # noqa: BLE001
                pass
        try:
            self.proc.kill()
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for d in getattr(self, "isolation", {}).get("cgroup_dirs", ()):
            cgroups.remove(d)

    def stop(self) -> None:
        """Graceful: EOF makes the zygote exit after the current sample; then make sure."""
        try:
            self.proc.stdin.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.kill()


def _to_verdict(resp: dict[str, Any]) -> Verdict:
    """The fork server's answer as a Verdict; anything malformed is a sandbox error, never a crash."""
    try:
        status = Status(resp["status"])
        detail = resp.get("detail") or {}
        if not isinstance(detail, dict):
            raise TypeError("detail is not an object")
    except (KeyError, ValueError, TypeError) as e:
        return Verdict(Status.SANDBOX_ERROR, error=f"malformed answer from the fork server: {e}"[:300])
    return Verdict(
        status=status,
        exit_code=resp.get("exit_code"),
        duration=float(resp.get("duration") or 0.0),
        stdout_tail=resp.get("stdout_tail", ""),
        stderr_tail=resp.get("stderr_tail", ""),
        error=resp.get("error", ""),
        detail=detail,
    )
