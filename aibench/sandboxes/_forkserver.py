"""The per-worker fork server ("zygote").

``LocalSandbox`` starts one of these per worker (``python -I``, scrubbed env, own session). It
sets up the isolation shared by all its samples once (new network namespace, read-only view of
every mount), pre-imports the language runners, then for each request forks a fresh sample:

    zygote ──fork──▶ sample: init of a new pid namespace; own mount namespace with a fresh
                     tmpfs on /tmp (its temp dir), /dev/shm and a private /proc; joins the
                     worker's pids cgroup; own session; stdin=/dev/null; stdout/stderr pipes;
                     rlimits; every capability dropped; then the language runner.

When the sample exits (or is SIGKILLed on timeout / output flood) the kernel kills every process
of its pid namespace (setsid'd grandchildren included) and frees the tmpfs (the temp dir).
No state survives between samples: each one is a new process forked from the pristine zygote.
Without pid namespaces the zygote is a child subreaper and kills the leftover tree itself.

Protocol on stdin/stdout: 4-byte big-endian length + pickle (trusted, parent <-> zygote only).
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import random
import secrets
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from typing import Any

from aibench.sandboxes import _isolation as iso
from aibench.sandboxes import languages
from aibench.sandboxes._limits import set_rlimits

# Pre-import the runners so forked samples do not pay for it.
_RUNNERS = {name: languages.get_runner(name) for name in languages.supported()}

SIGNAMES = {int(s): s.name for s in signal.Signals}


# ----------------------------------------------------------------------------- framing
def read_msg(fd: int) -> Any:
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    body = _read_exact(fd, n)
    if body is None:
        return None
    return pickle.loads(body)


def write_msg(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    data = struct.pack(">I", len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


# ----------------------------------------------------------------------------- result channel
class _Channel:
    """Sample side of the result pipe. The nonce lives only in this closure-held object."""

    __slots__ = ("_fd", "_nonce", "_cgroup")

    def __init__(self, fd: int, nonce: str, cgroup_dir: str | None = None):
        self._fd = fd
        self._nonce = nonce
        self._cgroup = cgroup_dir

    def _send(self, obj: dict) -> None:
        data = (json.dumps(obj, default=str) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def start(self) -> None:
        self._send({"kind": "start"})

    def verdict(self, ok: bool, status: str = "failed", error: str = "", detail: dict | None = None) -> None:
        _flush_std()
        msg = {"kind": "verdict", "ok": bool(ok), "status": "passed" if ok else status,
               "error": error, "detail": detail or {}}
        if ok:
            msg["nonce"] = self._nonce
        if self._cgroup:  # tasks of this sample besides us: left running, killed when we exit
            try:  # raw os calls: the io stack costs copy-on-write faults in a fresh fork
                fd = os.open(self._cgroup + "/pids.current", os.O_RDONLY)
                try:
                    msg["strays"] = max(0, int(os.read(fd, 32)) - 1)
                finally:
                    os.close(fd)
            except (OSError, ValueError):
                pass
        self._send(msg)

    def extra(self, detail: dict) -> None:
        _flush_std()
        self._send({"kind": "extra", "detail": detail})


def _flush_std() -> None:
    for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            s.flush()
        except BaseException:  # noqa: BLE001 - the program may have replaced them
            pass


# ----------------------------------------------------------------------------- zygote setup
class Zygote:
    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.report: dict[str, Any] = {}
        self.pidns_fd: int | None = None
        self.mountns = False
        self.cgroup_fd: int | None = None
        self.cgroup_dir: str | None = None
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.tmp_base = cfg.get("tmp_base") or "/tmp"
        self.userns = False
        self.fixed_workdir: str | None = None

    def setup(self) -> dict[str, Any]:
        rep = self.report
        rep["zygote_pid"] = os.getpid()
        rep["uid"] = os.getuid()
        iso.set_subreaper()
        # Not root: a user namespace gives the namespaces below to an ordinary user, where the
        # kernel allows unprivileged user namespaces.
        if os.geteuid() != 0:
            try:
                uid, _gid = iso.enter_user_namespace()
                self.userns = True
                rep["user_namespace"] = {"enforced": True, "how": f"uid {uid} mapped to root of a new user namespace"}
            except OSError as e:
                rep["user_namespace"] = {"enforced": False, "why_not": f"unprivileged user namespaces unavailable: {e.strerror or e}"}
        # No network: a fresh network namespace has only a down loopback.
        if not self.cfg.get("network", False):
            try:
                iso.unshare(iso.CLONE_NEWNET)
                rep["network"] = {"enforced": True, "how": "new network namespace (no interfaces up)"}
            except OSError as e:
                rep["network"] = {"enforced": False, "why_not": f"unshare(CLONE_NEWNET) failed: {e.strerror}"}
        else:
            rep["network"] = {"enforced": False, "why_not": "network=true in config"}
        # Process count: a pids cgroup per worker (RLIMIT_NPROC does not apply to uid 0).
        max_pids = int(self.cfg["max_processes"]) + 1  # + C1
        fd, d, why = iso.setup_pids_cgroup(f"aibench-{os.getpid()}", max_pids)
        self.cgroup_fd, self.cgroup_dir = fd, d
        rep["process_limit"] = ({"enforced": True, "how": f"pids cgroup {d} (pids.max={max_pids})"}
                                if fd is not None else {"enforced": False, "why_not": why})
        rep["cgroup_dir"] = d
        # Filesystem: every mount read-only in a private mount namespace; samples get a fresh tmpfs.
        if self.cfg.get("isolate_filesystem", True):
            try:
                iso.unshare(iso.CLONE_NEWNS)
                iso.mount("none", "/", None, iso.MS_REC | iso.MS_PRIVATE)
                failed = self._remount_all_readonly()
                # Scratch space: /tmp and /dev/shm become private tmpfs owned by nobody (mode 0755),
                # so a sample (uid 0 without capabilities) can write only inside its own temp dir.
                scratch = int(self.cfg.get("scratch_bytes", 256 << 20))
                # In a user namespace uid 65534 is not mapped: a root-owned 0555 tmpfs has the same
                # effect on a sample that runs as (namespace) root without capabilities.
                opts = "mode=0555" if self.userns else "uid=65534,gid=65534,mode=0755"
                iso.mount("tmpfs", "/tmp", "tmpfs", iso.MS_NOSUID | iso.MS_NODEV, f"size={scratch},{opts}")
                iso.mount("tmpfs", "/dev/shm", "tmpfs", iso.MS_NOSUID | iso.MS_NODEV, f"size=64k,{opts}")
                self.tmp_base = "/tmp"
                self.mountns = True
                self.fixed_workdir = "/tmp/sample"
                os.environ.update({"HOME": self.fixed_workdir, "TMPDIR": self.fixed_workdir, "PWD": self.fixed_workdir})
                tempfile.tempdir = self.fixed_workdir
                rep["filesystem"] = {
                    "enforced": True,
                    "how": "private mount namespace per worker: every mount read-only; /tmp and "
                           "/dev/shm are private tmpfs not writable by samples except the sample's "
                           "own temp dir (removed after each sample)",
                }
                if failed:
                    rep["filesystem"]["not_readonly"] = failed
            except OSError as e:
                rep["filesystem"] = {"enforced": False, "why_not": f"mount namespace unavailable: {e.strerror}"}
        else:
            rep["filesystem"] = {"enforced": False, "why_not": "isolate_filesystem=false in config"}
        # Process tree: a new pid namespace per sample.
        if self.cfg.get("pid_namespace", True):
            try:
                self.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
                self._new_pidns()
                rep["pid_namespace"] = {"enforced": True, "how": "new pid namespace per sample; its init "
                                        "exits after the program, so the kernel kills every descendant"}
            except OSError as e:
                self.pidns_fd = None
                rep["pid_namespace"] = {"enforced": False, "why_not": f"{e.strerror}; using subreaper + "
                                        "process-tree walk + process group kill instead"}
        else:
            rep["pid_namespace"] = {"enforced": False, "why_not": "pid_namespace=false in config"}
        self.bounding_dropped = False
        if self.cfg.get("drop_capabilities", True):
            self.bounding_dropped = iso.drop_bounding_set()  # once here; samples clear their own sets
        rep["capabilities"] = {"dropped": bool(self.cfg.get("drop_capabilities", True)),
                               "bounding_set_emptied_in_fork_server": self.bounding_dropped}
        return rep

    def _remount_all_readonly(self) -> list[str]:
        failed = []
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        seen = set()
        for p in points:
            p = p.replace("\\040", " ")
            if p in seen:
                continue
            seen.add(p)
            if p.startswith("/proc/"):
                continue
            flags = iso.MS_BIND | iso.MS_REMOUNT | iso.MS_RDONLY
            try:
                st = os.statvfs(p)
                if st.f_flag & os.ST_NOSUID:
                    flags |= iso.MS_NOSUID
                if st.f_flag & os.ST_NODEV:
                    flags |= iso.MS_NODEV
                if st.f_flag & os.ST_NOEXEC:
                    flags |= iso.MS_NOEXEC
                iso.mount("none", p, None, flags)
            except OSError:
                failed.append(p)
        return failed

    def _new_pidns(self) -> None:
        if self.pidns_fd is None:
            return
        iso.setns(self.pidns_fd, iso.CLONE_NEWPID)  # back to our own ns for children ...
        iso.unshare(iso.CLONE_NEWPID)  # ... then a fresh one: the next fork is its init

    # ------------------------------------------------------------------------- one sample
    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        lim = req["limits"]
        timeout = float(lim["timeout_s"])
        nonce = secrets.token_hex(16)
        prepare = getattr(_RUNNERS.get(req["language"]), "prepare", None)
        if prepare is not None:
            prepare(req)  # trusted and cached per task (e.g. compile the tests once), before fork
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        nonce_r, nonce_w = os.pipe()
        os.write(nonce_w, nonce.encode())
        os.close(nonce_w)
        if self.pidns_fd is not None:
            try:
                self._new_pidns()
            except OSError as e:
                for fd in (out_r, out_w, err_r, err_w, res_r, res_w, nonce_r):
                    os.close(fd)
                return _error_result(req, f"cannot create pid namespace: {e}")
        workdir = self._new_workdir()
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.close(out_r), os.close(err_r), os.close(res_r)
            self._child(req, workdir, out_w, err_w, res_w, nonce_r)  # never returns
        for fd in (out_w, err_w, res_w, nonce_r):
            os.close(fd)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        try:
            result = self._monitor(req, nonce, pid, pidfd, t0, timeout, lim, out_r, err_r, res_r)
        finally:
            if pidfd is not None:
                os.close(pidfd)
            try:
                os.rmdir(workdir)  # the common case: the sample left nothing behind
            except OSError:
                shutil.rmtree(workdir, ignore_errors=True)
        result["detail"]["workdir"] = workdir
        result["detail"]["workdir_removed"] = not os.path.lexists(workdir)
        return result

    def _new_workdir(self) -> str:
        """A fresh, empty temp dir for one sample. In the private tmpfs, which samples cannot write
        outside their own dir, it is always the same path (so the environment pointing at it is
        set once); on a shared /tmp a random name, so no sample can plant files for the next."""
        if self.fixed_workdir is None:
            return tempfile.mkdtemp(prefix="s", dir=self.tmp_base)  # mode 0700, ours
        try:
            os.mkdir(self.fixed_workdir, 0o700)
        except FileExistsError:  # left over from a sample whose cleanup failed
            shutil.rmtree(self.fixed_workdir, ignore_errors=True)
            os.mkdir(self.fixed_workdir, 0o700)
        return self.fixed_workdir

    def _child(self, req, workdir, out_w, err_w, res_w, nonce_r) -> None:
        """The sample process: isolation (as root), limits, drop privileges, run the runner.

        With a pid namespace it is the namespace's init: when it exits, the kernel kills every
        process it left behind (setsid'd grandchildren included). Consequence: signals it sends to
        itself with the default action (SIGSTOP, SIGTERM, SIGKILL to its own pid) are ignored;
        that never turns a failing program into a passing one."""
        try:
            os.setsid()
            iso.set_pdeathsig(signal.SIGKILL)
            if self.cgroup_fd is not None:
                os.write(self.cgroup_fd, b"0")
            os.dup2(self.devnull, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            hi = 900 + random.randrange(90)
            os.dup2(res_w, hi)
            os.dup2(nonce_r, hi + 1)
            os.closerange(3, hi)
            os.closerange(hi + 2, 65536)
            os.set_inheritable(hi, False)
            nonce = os.read(hi + 1, 64).decode()
            os.close(hi + 1)
            channel = _Channel(hi, nonce, self.cgroup_dir)
            del nonce
        except BaseException:  # noqa: BLE001
            os._exit(71)
        try:
            # SIGCHLD/SIGTERM/SIGHUP/SIGQUIT are already at their defaults in the fork server
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.chdir(workdir)
            if workdir != self.fixed_workdir:  # else HOME/TMPDIR/PWD were set once in the fork server
                os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PWD": workdir})
                tempfile.tempdir = workdir
            set_rlimits(req["limits"])
            if self.cfg.get("drop_capabilities", True):
                iso.drop_all_capabilities(bounding=not self.bounding_dropped)
            runner = _RUNNERS[req["language"]]
        except BaseException as e:  # noqa: BLE001
            try:
                channel._send({"kind": "sandbox_error", "error": f"{type(e).__name__}: {e}"})
            finally:
                os._exit(72)
        try:
            runner.child_main(req, channel)
        except BaseException:  # noqa: BLE001 - runner bug or hostile program; no verdict = not passed
            pass
        _flush_std()
        os._exit(0)

    def _monitor(self, req, nonce, pid, pidfd, t0, timeout, lim, out_r, err_r, res_r) -> dict[str, Any]:
        cap = int(lim["output_bytes"])
        tail = int(lim["tail_bytes"])
        bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray()}
        total_out = 0
        poller = select.poll()
        for fd in bufs:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        if pidfd is not None:
            poller.register(pidfd, select.POLLIN)
        open_fds = set(bufs)
        deadline = t0 + timeout + float(self.cfg.get("setup_grace_s", 5.0))
        started_at = None
        killed = None  # "timeout" | "output_limit"
        status = ru = None
        msgs: list[dict] = []
        res_pos = 0
        while open_fds or status is None:
            now = time.monotonic()
            if now >= deadline:
                if status is None:
                    killed = "timeout"
                break
            wait_ms = max(1, int((deadline - now) * 1000) + 1)
            if pidfd is None:
                wait_ms = min(wait_ms, 10)
            events = poller.poll(wait_ms)
            if status is None and (pidfd is None or any(fd == pidfd for fd, _ in events)):
                wpid, st, r = os.wait4(pid, os.WNOHANG)
                if wpid == pid:
                    status, ru = st, r
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
                    continue
                b = bufs[fd]
                b += data
                if fd != res_r:
                    total_out += len(data)
                    if len(b) > 2 * tail:
                        del b[: len(b) - tail]
                    if total_out > cap:
                        killed = "output_limit"
                    continue
                while True:
                    nl = b.find(b"\n", res_pos)
                    if nl < 0:
                        break
                    line = bytes(b[res_pos:nl])
                    res_pos = nl + 1
                    try:
                        m = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(m, dict):
                        if m.get("kind") == "start" and started_at is None:
                            started_at = time.monotonic()
                            deadline = started_at + timeout
                        msgs.append(m)
                if res_pos > 1 << 20:
                    del b[:res_pos]
                    res_pos = 0
            if killed:
                break
        end = time.monotonic()
        strays = 0
        if status is None:
            strays += iso.kill_tree(pid)
            _, status, ru = os.wait4(pid, 0)
        if self.pidns_fd is None:
            strays += iso.kill_tree(os.getpid(), include_root=False)  # orphans re-parented to us
        iso.reap_all()
        for fd in bufs:
            try:
                os.close(fd)
            except OSError:
                pass
        return _decide(req, nonce, msgs, killed, status, ru, started_at or t0, end,
                       bytes(bufs[out_r][-tail:]), bytes(bufs[err_r][-tail:]), total_out, strays)


def _error_result(req, error: str) -> dict[str, Any]:
    return {"id": req["id"], "status": "sandbox_error", "exit_code": None, "duration": 0.0,
            "stdout_tail": "", "stderr_tail": "", "error": error[:300], "detail": {}}


def _decide(req, nonce, msgs, killed, status, ru, started, end, out, err, total_out, strays):
    """Status from what the sample proved (nonce), what the zygote saw (kills) and exit status."""
    lim = req["limits"]
    detail: dict[str, Any] = {}
    verdict = None
    setup_error = None
    forged = False
    for m in msgs:
        kind = m.get("kind")
        if kind == "verdict":
            if m.get("ok"):
                if m.get("nonce") == nonce:
                    verdict = m
                else:
                    forged = True
            elif verdict is None or not verdict.get("ok"):
                verdict = m
            if isinstance(m.get("strays"), int):
                strays += m["strays"]
        elif kind == "extra" and isinstance(m.get("detail"), dict):
            detail.update(m["detail"])
        elif kind == "sandbox_error":
            setup_error = str(m.get("error", ""))
    if forged:
        detail["forged_marker"] = True
    exit_code = sig = None
    if os.WIFEXITED(status):
        exit_code = os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        exit_code = -sig
    cpu = round(ru.ru_utime + ru.ru_stime, 4) if ru is not None else None
    detail["strays_killed"] = strays
    if cpu is not None:
        detail["cpu_s"] = cpu
        detail["maxrss_kb"] = ru.ru_maxrss
    if setup_error is not None or exit_code in (71, 72) and verdict is None:
        status_s, error = "sandbox_error", "sample setup failed: " + (setup_error or f"exit {exit_code}")
    elif verdict is not None and verdict.get("ok"):
        status_s, error = "passed", ""
        detail.update(verdict.get("detail") or {})
        if killed:
            detail["killed_after_verdict"] = killed  # per-case extras ran over; the verdict stands
    elif verdict is not None and not killed:
        status_s, error = verdict.get("status", "failed"), verdict.get("error", "")
        detail.update(verdict.get("detail") or {})
    elif killed == "timeout":
        status_s, error = "timeout", f"wall-clock timeout after {lim['timeout_s']:g}s"
    elif killed == "output_limit":
        status_s, error = "output_limit", f"output exceeded {lim['output_bytes']} bytes"
    elif verdict is not None:
        status_s, error = verdict.get("status", "failed"), verdict.get("error", "")
        detail.update(verdict.get("detail") or {})
    elif sig is not None:
        name = SIGNAMES.get(sig, str(sig))
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu is not None and cpu >= lim["cpu_seconds"] - 0.1):
            status_s, error = "timeout", f"CPU time limit ({name})"
        else:
            status_s, error = "crashed", f"killed by {name}"
    else:
        status_s = "failed"
        error = f"exited with code {exit_code} before the tests completed"
    return {
        "id": req["id"], "status": status_s, "exit_code": exit_code,
        "duration": round(end - started, 4),
        "stdout_tail": out.decode("utf-8", "replace"), "stderr_tail": err.decode("utf-8", "replace"),
        "error": error, "detail": detail, "total_output_bytes": total_out,
    }


_OUT = [1]  # the protocol's output fd (set in main)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and tears us down
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    inp, outp = 0, 1
    # Keep the protocol off fds 0/1 so samples never inherit them by accident.
    inp = os.dup(0)
    outp = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    _OUT[0] = outp
    cfg = read_msg(inp)
    if cfg is None:
        return
    z = Zygote(cfg)
    report = z.setup()
    gc.collect()
    gc.freeze()  # keep the zygote's objects out of the samples' GC: fewer copy-on-write faults
    write_msg(outp, {"kind": "ready", "isolation": report})
    for req in _requests(inp):
        try:
            resp = z.run(req)
        except Exception as e:  # noqa: BLE001 - never die on one request
            resp = _error_result(req, f"fork server error: {type(e).__name__}: {e}")
        write_msg(outp, resp)


def _requests(inp: int):
    """Requests in order, minus cancelled ones. The parent cancels a request that waited behind a
    long-running sample and was sent to another worker instead; the cancel arrives after the
    request, so everything already in the pipe is read before the next sample starts. A skipped
    request is answered ``{"id", "cancelled": True}``."""
    queue: list[dict] = []
    cancelled: set[int] = set()
    eof = False
    while True:
        if not queue and not eof:
            msg = read_msg(inp)
            if msg is None:
                eof = True
            else:
                queue.append(msg)
        while not eof and select.select([inp], [], [], 0)[0]:
            msg = read_msg(inp)
            if msg is None:
                eof = True
            else:
                queue.append(msg)
        cancelled.update(m["id"] for m in queue if m.get("kind") == "cancel")
        queue = [m for m in queue if m.get("kind") != "cancel"]
        if not queue:
            if eof:
                return
            continue
        msg = queue.pop(0)
        if msg["id"] in cancelled:
            cancelled.discard(msg["id"])
            write_msg(_OUT[0], {"id": msg["id"], "cancelled": True})
            continue
        yield msg


if __name__ == "__main__":
    main()
