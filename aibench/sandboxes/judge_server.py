"""The split judge's trusted process J: one per worker, it runs the tests of sample after sample.

With ``judge=isolated`` no program code ever runs in J: the program runs in its own process C
(forked per sample by the candidate fork server, ``candidates.py``), and J calls into it across
the data-only pipe (plain data in, plain data out; ``plaindata``). So J need not be a fresh
process per sample, and is not: a fresh judge per sample cost a fork of the fork server, its
copy-on-write faults and its exit (about a third of a sample's CPU). Per sample J gets the request
and the nonce over its socket, and six pipe ends (``SCM_RIGHTS``): the result and setup pipes to
the fork server, the two ends of the wire to C, C's stdout and stderr (the tests' own output goes
there too). It waits for C's "R", says "setup ok", lets C go ("G"), runs the tests, sends the
verdict and closes every end: the fork server sees the result pipe's EOF as "the judge is done".

What stays per sample holds all the same: C is forked fresh from a process that never held a
program or a test; C's pid namespace (the candidate fork server is its init) is emptied with
``kill(-1)`` after each sample. What J keeps between samples is trusted: its prepared tests and
imports (a standard-library module that a program bound to a name the tests use is J's own import
of it, by name: ``python_judge._stdlib_module``). A hostile value cannot stay in J past its sample
(the tests' globals are per sample) and cannot change what J runs: J never runs code it received.
J is not in the sample's cgroups (a sample's memory and processes are C's and its children's);
its own memory is capped by RLIMIT_AS. When a sample times out, breaks the result channel's caps
or J dies, J is killed and the next sample gets a fresh one.
"""

from __future__ import annotations

import builtins
import gc
import locale
import os
import resource
import select
import signal
import socket
import sys
import warnings
from typing import Any

from aibench.sandboxes import isolation as iso
from aibench.sandboxes.protocol import read_msg, write_msg

# the fds a sample's request carries, in this order
FDS = ("res_w", "setup_w", "to_c_w", "from_c_r", "out_w", "err_w")
MEMORY_BYTES = 4 << 30  # J's own address space: tests on plain values need far less


class Judge:
    """The fork server's handle on J."""

    def __init__(self, pid: int, sock: socket.socket):
        self.pid, self.sock = pid, sock
        self.pidfd = os.pidfd_open(pid)

    def send(self, req: dict[str, Any], fds: list[int]) -> None:
        """Hand J one sample; raises OSError if J is gone."""
        socket.send_fds(self.sock, [b"S"], fds)
        write_msg(self.sock.fileno(), req)

    def ended(self, wait: float = 0.0) -> int | None:
        """J's wait status if it has ended (waiting up to ``wait`` seconds for that), else None.
        An ended J is reaped and its fds closed: the caller starts a fresh one."""
        if wait > 0:
            select.select([self.pidfd], [], [], wait)
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped already (a reap_all of the fork server's)
            pid, status = self.pid, 0
        if pid != self.pid:
            return None
        self._close()
        return status

    def kill(self) -> int:
        """Kill and reap J; its wait status."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            status = os.waitpid(self.pid, 0)[1]
        except ChildProcessError:
            status = 0
        self._close()
        return status

    def retiring(self) -> bool:
        """J said, after its sample, that it exits (the tests left state it cannot undo)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def _close(self) -> None:
        self.sock.close()
        os.close(self.pidfd)


def start(z) -> Judge:
    """Fork J from the fork server ``z`` (in the fork server's own pid namespace, never a sample's).
    J closes every fd but its socket, /dev/null and the pids cgroup's counter: nothing of the fork
    server's protocol, the candidate fork server's socket or any sample's pipes."""
    if z.pidns_fd is not None:
        iso.setns(z.pidns_fd, iso.CLONE_NEWPID)
    return Judge(*iso.fork_helper(lambda sock: _serve(z, sock), socket.SOCK_STREAM))


def _serve(z, sock: socket.socket) -> None:
    from aibench.sandboxes.sample import Channel, flush_std

    iso.set_pdeathsig(signal.SIGKILL)  # dies with the fork server
    pids_fd = z.pids_stat_fd()
    keep = sorted({sock.fileno(), z.devnull, *((pids_fd,) if pids_fd is not None else ())})
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if z.drop_capabilities:
        iso.drop_all_capabilities(bounding=not z.bounding_dropped)
    iso.set_nondumpable()
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    except (OSError, ValueError):
        pass
    os.dup2(z.devnull, 0)
    os.dup2(z.devnull, 1)
    os.dup2(z.devnull, 2)
    os.chdir(z.scratch if z.per_sample_mounts else "/")
    clean = _ProcessState()
    while True:
        try:
            _data, fds, _flags, _addr = socket.recv_fds(sock, 1, len(FDS))
            req = read_msg(sock.fileno()) if len(fds) == len(FDS) else None
        except (OSError, ValueError):
            return
        if req is None:
            return
        got = dict(zip(FDS, fds))
        clean.fresh_randomness()
        try:
            os.dup2(got["out_w"], 1)
            os.dup2(got["err_w"], 2)
            os.close(got.pop("out_w"))
            os.close(got.pop("err_w"))
            channel = Channel(got["res_w"], req.pop("nonce"), pids_fd)
            _one(z.judges[req["language"]], req, got, channel)
        except BaseException:  # noqa: BLE001 - no verdict = not passed; J goes on
            pass
        flush_std()
        os.dup2(z.devnull, 1)
        os.dup2(z.devnull, 2)
        try:
            retire = not clean.restore()
        except BaseException:  # noqa: BLE001 - what could not be put back: a fresh J next
            retire = True
        if retire:  # said before "done": the fork server replaces us before the next sample
            sock.send(b"X")
        for key in sorted(got, key=lambda k: k == "res_w"):  # the result pipe last: its EOF says "done"
            try:
                os.close(got[key])
            except OSError:
                pass
        if retire:
            return


class _ProcessState:
    """What trusted tests may change in J's process for longer than their sample, as J had it; put
    back after every sample: timers, signal handlers, trace and profile hooks, the recursion and
    int-digit limits, the switch interval, the working directory, the umask, the ``sys`` standard
    streams and hooks, ``sys.path``/``meta_path``/``path_hooks``, modules replaced in
    ``sys.modules``, names in ``builtins``, the environment, warning filters, the garbage
    collector's state, the decimal context, the locale and the default socket timeout. Threads
    cannot be undone: J then exits and the next sample gets a fresh one. Each sample's ``random``
    is seeded afresh, as a fork's is."""

    _HOOKS = ("excepthook", "displayhook", "unraisablehook", "breakpointhook")
    _LISTS = ("path", "meta_path", "path_hooks")

    def __init__(self):
        self.builtins = vars(builtins)
        self.builtins_then = dict(self.builtins)
        self.streams = (sys.stdin, sys.stdout, sys.stderr)
        self.hooks = {name: getattr(sys, name) for name in self._HOOKS}
        self.lists = {name: list(getattr(sys, name)) for name in self._LISTS}
        self.modules = dict(sys.modules)
        self.environ = dict(os.environ)
        self.filters = list(warnings.filters)
        self.gc_state = (gc.isenabled(), gc.get_threshold())
        self.handlers = {s: signal.getsignal(s) for s in signal.valid_signals() if s not in _UNCATCHABLE}
        self.recursion = sys.getrecursionlimit()
        self.digits = getattr(sys, "get_int_max_str_digits", lambda: None)()  # Python >= 3.11
        self.switch = sys.getswitchinterval()
        self.cwd = os.getcwd()
        self.umask = os.umask(0o077)
        os.umask(self.umask)
        self.locale = locale.setlocale(locale.LC_ALL)  # a query

    def fresh_randomness(self) -> None:
        random = sys.modules.get("random")
        if random is not None:
            random.seed()

    def restore(self) -> bool:
        """Puts everything back; False if J must not serve another sample."""
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(timer, 0)
        for s, handler in self.handlers.items():
            if signal.getsignal(s) is not handler:
                try:
                    signal.signal(s, handler)
                except (OSError, TypeError, ValueError):  # one that was not Python's to set
                    return False
        sys.settrace(None)
        sys.setprofile(None)
        sys.stdin, sys.stdout, sys.stderr = self.streams
        for name, hook in self.hooks.items():
            setattr(sys, name, hook)
        for name, then in self.lists.items():
            if getattr(sys, name) != then:
                getattr(sys, name)[:] = then
        modules = sys.modules
        for name, module in self.modules.items():  # replaced or removed; new imports stay
            if modules.get(name) is not module:
                modules[name] = module
        now, then = self.builtins, self.builtins_then
        if len(now) != len(then) or any(now.get(k, now) is not v for k, v in then.items()):
            now.clear()
            now.update(then)
        if os.environ != self.environ:
            tz = os.environ.get("TZ")
            os.environ.clear()
            os.environ.update(self.environ)
            if tz != os.environ.get("TZ"):
                import time

                time.tzset()
        if warnings.filters != self.filters:
            warnings.filters[:] = self.filters
            warnings._filters_mutated()
        enabled, threshold = self.gc_state
        gc.enable() if enabled else gc.disable()
        gc.set_threshold(*threshold)
        sys.setrecursionlimit(self.recursion)
        if self.digits is not None:
            sys.set_int_max_str_digits(self.digits)
        sys.setswitchinterval(self.switch)
        os.umask(self.umask)
        if "decimal" in modules:  # what a fresh process's first getcontext() gives
            modules["decimal"].setcontext(modules["decimal"].Context())
        if "socket" in modules:
            modules["socket"].setdefaulttimeout(None)
        if locale.setlocale(locale.LC_ALL) != self.locale:
            try:
                locale.setlocale(locale.LC_ALL, self.locale)
            except locale.Error:
                return False
        try:
            os.chdir(self.cwd)
        except OSError:
            return False
        threading = modules.get("threading")
        return threading is None or threading.active_count() == 1


_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}


def _one(runner, req: dict[str, Any], got: dict[str, int], channel) -> None:
    """One sample: C's "R", "setup ok", "G", the tests. Closes what it takes out of ``got``."""
    setup_w = got.pop("setup_w")
    try:
        try:
            if os.read(got["from_c_r"], 1) != b"R":
                raise OSError("candidate process setup failed")
        except OSError as e:
            os.write(setup_w, f"error: {type(e).__name__}: {e}"[:300].encode())
            return
        os.write(setup_w, b"ok")
    finally:
        os.close(setup_w)
    try:
        os.write(got["to_c_w"], b"G")
    except OSError:
        pass  # C is gone: the judge's first call says so
    runner.judge_main(req, got["from_c_r"], got.pop("to_c_w"), channel)  # always closes to_c_w (the hang-up)
