"""Watching one sample process from the fork server (see ``watch``)."""

from __future__ import annotations

import os
import select
import time

from aibench.sandboxes.protocol import ResultReader
from aibench.sandboxes.verdict import Outcome


def watch(pid: int | None, o: Outcome, out_r: int, err_r: int, res_r: int, setup_r: int, grace: float) -> None:
    """Watch sample process ``pid`` (None: the split judge's sample, which ends when the judge J
    closes the result pipe) until it ends, its wall clock runs out or it breaks the result
    channel's caps; fill ``o``. Output is drained (a flood only burns the sample's own time) and
    only its tail kept; the clock starts when the runner says "start" (with the nonce), so setup is not charged,
    but setup itself gets only ``grace`` seconds; a compiled language's runner says "compile" first,
    which gives its compile step ``limits.compile_timeout_s``. Does not kill: the caller always does."""
    lim = o.limits
    tail = int(lim["tail_bytes"])
    timeout = float(lim["timeout_s"])
    tails = {out_r: bytearray(), err_r: bytearray()}
    reader = ResultReader()
    setup = bytearray()
    try:
        pidfd = os.pidfd_open(pid) if pid is not None else None
    except (AttributeError, OSError):
        pidfd = None
    poller = select.poll()
    open_fds = {out_r, err_r, res_r, setup_r}
    for fd in open_fds:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    deadline = o.started + timeout + grace
    started = False
    compiling = False
    try:
        while open_fds or o.wait_status is None:
            now = time.monotonic()
            if now >= deadline:
                if o.wait_status is None:
                    o.killed = "timeout"
                break
            wait_ms = max(1, int((deadline - now) * 1000) + 1)
            events = poller.poll(wait_ms if pidfd is not None or pid is None else min(wait_ms, 10))
            if pid is not None and o.wait_status is None and (pidfd is None or any(fd == pidfd for fd, _ in events)):
                wpid, st, ru = os.wait4(pid, os.WNOHANG)
                if wpid == pid:
                    o.wait_status, o.rusage = st, ru
                    if pidfd is not None:
                        poller.unregister(pidfd)
                    deadline = min(deadline, time.monotonic() + 0.3)  # strays holding pipes: short grace
            for fd, _ev in events:
                if fd == pidfd or fd not in open_fds:
                    continue
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    if fd == res_r and pid is None:  # J is done with this sample (or gone)
                        o.wait_status = 0
                        deadline = min(deadline, time.monotonic() + 0.3)  # C's strays holding pipes
                elif fd == res_r:
                    reader.feed(data)
                    if (
                        not started
                        and not compiling
                        and any(m["kind"] == "compile" and m.get("nonce") == o.nonce for m in reader.messages)
                    ):
                        compiling = True  # the compile step's own budget (the runner enforces it; +2 s margin)
                        deadline = time.monotonic() + float(lim.get("compile_timeout_s", 15.0)) + 2.0
                    if not started and any(m["kind"] == "start" and m.get("nonce") == o.nonce for m in reader.messages):
                        started = True
                        o.started = time.monotonic()
                        deadline = o.started + timeout
                    if reader.overflow:
                        o.killed = "channel"
                elif fd == setup_r:
                    setup += data[:512]
                else:  # output: drained, only the tail kept; a flood only burns its own time
                    o.total_output += len(data)
                    b = tails[fd]
                    b += data
                    if len(b) > 2 * tail:
                        del b[: len(b) - tail]
            if o.killed:
                break
    finally:
        o.ended = time.monotonic()
        if pidfd is not None:
            os.close(pidfd)
    o.stdout_tail, o.stderr_tail = bytes(tails[out_r][-tail:]), bytes(tails[err_r][-tail:])
    o.messages, o.garbage_lines, o.channel_overflow = reader.messages, reader.garbage, reader.overflow
    if setup != b"ok":
        if setup.startswith(b"error: "):
            o.setup_error = setup[7:].decode("utf-8", "replace")
        elif o.killed != "timeout" or not setup:
            o.setup_error = (
                "the sample process ended before its setup completed" if not setup else "garbled setup report"
            )
