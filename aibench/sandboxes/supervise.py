"""One sample under the fork server: from its request to its result.

``run_sample`` forks the sample process P (``sample.py``) - and, for the split judge, has the
candidate fork server (``candidates.py``) fork the program process C into P's pid namespace -
watches P (``monitor.py``: wall clock, output, the untrusted result pipe, the setup pipe), always
kills and reaps it, collects what the cgroups saw, and decides the status (``verdict.py``).
"""

from __future__ import annotations

import gc
import os
import signal
import time
from typing import Any

from aibench.sandboxes import candidates, cgroups, sample
from aibench.sandboxes import isolation as iso
from aibench.sandboxes.monitor import watch
from aibench.sandboxes.verdict import Outcome, decide

SETUP_GRACE_S = 5.0


def run_sample(z, req: dict[str, Any]) -> dict[str, Any]:
    """One sample, from request to result: fork P (and, for the split judge, have C forked), watch
    P, always kill and reap, decide."""
    isolated = req.get("judge") == "isolated"
    runner = (z.judges if isolated else z.runners).get(req["language"])
    if runner is None:
        return error_result(req, f"no {'isolated judge' if isolated else 'runner'} for language {req['language']!r}")
    getattr(runner, "prepare", lambda r: None)(req)  # trusted, cached per task, before fork
    gc.freeze()  # what prepare cached stays out of the samples' GC (fewer copy-on-write faults)
    fds: dict[str, Any] = {}
    out_r, fds["out_w"] = os.pipe()
    err_r, fds["err_w"] = os.pipe()
    res_r, fds["res_w"] = os.pipe()
    setup_r, fds["setup_w"] = os.pipe()
    fds["nonce_r"], nonce_w = os.pipe()
    mine = (out_r, err_r, res_r, setup_r, nonce_w)
    theirs = ["out_w", "err_w", "res_w", "setup_w", "nonce_r"]
    c_ends: list[int] = []  # the program process's pipe ends (split judge), for the candidate fork server
    try:
        if z.pidns_fd is not None:
            z.new_pidns()
        fds["workdir"] = z.scratch if z.per_sample_mounts else z.new_workdir()
        if isolated:
            if z.candidates is None or z.candidates_gone:
                raise OSError("no candidate fork server")
            to_c_r, fds["to_c_w"] = os.pipe()
            fds["from_c_r"], from_c_w = os.pipe()
            c_ends = [to_c_r, from_c_w]
            theirs += ["to_c_w", "from_c_r"]
    except OSError as e:
        for fd in (*mine, *c_ends, *(fds[k] for k in theirs if k in fds)):
            os.close(fd)
        return error_result(req, f"cannot prepare the sample: {e}")
    if z.memory is not None:
        cgroups.memory_reset_peak(z.memory)
    ooms = cgroups.memory_oom_kills(z.memory) if z.memory is not None else 0
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        for fd in mine:
            os.close(fd)
        sample.main(z, runner, req, fds)  # never returns
    no_candidate = _fork_candidate(z, req, fds, pid, c_ends) if isolated else None
    for key in theirs:
        os.close(fds[key])
    nonce = os.urandom(16).hex()  # made after the fork: no sample process inherits it
    try:
        os.write(nonce_w, nonce.encode())
    except OSError:  # the sample already died: its setup pipe says why
        pass
    o = Outcome(limits=req["limits"], nonce=nonce, started=started, judge=req.get("judge") or "inprocess")
    try:
        if no_candidate is not None:
            o.setup_error = no_candidate
        else:
            watch(pid, o, out_r, err_r, res_r, setup_r, float(z.cfg.get("setup_grace_s", SETUP_GRACE_S)))
    finally:
        if o.wait_status is None:  # always killed and reaped, whatever happened above
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, o.wait_status, o.rusage = os.wait4(pid, 0)
        # what the sample left: with a pid namespace the kernel killed it with the sample's init;
        # without one its orphans re-parented to us (a subreaper) and are killed here
        if isolated:
            o.candidate = _end_candidate(z)
        if z.pidns_fd is None:
            o.strays += iso.kill_tree(os.getpid(), include_root=False, spare=z.candidates_pid())
        iso.reap_all()
        for fd in mine:
            os.close(fd)
        if not z.per_sample_mounts:
            iso.remove_tree(fds["workdir"])
    if z.memory is not None:
        o.memory_peak = cgroups.memory_peak(z.memory)
        o.oom_kills = cgroups.memory_oom_kills(z.memory) - ooms
    store = getattr(runner, "store", None)  # compiled languages: cache what an identical program compiles to
    if store is not None:
        for m in o.messages:
            if m["kind"] == "artifact" and m.get("nonce") == nonce:
                try:
                    store(req, m["detail"])
                except Exception:  # noqa: BLE001 - a cache miss next time, never a failed sample
                    pass
                break
    return decide(req["id"], o)


def _fork_candidate(z, req: dict[str, Any], fds: dict[str, Any], judge_pid: int, ends: list[int]) -> str | None:
    """The split judge's program process C, forked by the candidate fork server into the
    judge's pid namespace (the judge is its init: C dies with it); None, or why not."""
    ns = None
    try:
        if z.pidns_fd is not None:
            ns = os.open(f"/proc/{judge_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        send = [*ends, fds["out_w"], fds["err_w"], *(() if ns is None else (ns,))]
        z.candidates.fork(req["language"], req["limits"], fds["workdir"], send)
        return None
    except candidates.CandidateServerGone as e:
        z.candidates_gone = True
        return str(e)
    except OSError as e:
        return f"the program process could not be started: {e}"
    finally:
        for fd in (*ends, *(() if ns is None else (ns,))):
            os.close(fd)


def _end_candidate(z) -> dict[str, Any]:
    try:
        return z.candidates.end() if z.candidates is not None else {}
    except candidates.CandidateServerGone:  # killed mid-sample: by a program sharing its uid (containers)
        z.candidates_gone = True
        # the program's process died with it (its parent-death signal), whatever it answered first
        return {"candidate_signal": "SIGKILL", "candidate_server_killed": True}


def error_result(req, error: str) -> dict[str, Any]:
    return {
        "id": req["id"],
        "status": "sandbox_error",
        "exit_code": None,
        "duration": 0.0,
        "stdout_tail": "",
        "stderr_tail": "",
        "error": error[:300],
        "detail": {},
    }
