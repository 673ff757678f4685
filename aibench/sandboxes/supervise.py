"""One sample under the fork server: from its request to its result.

``run_sample`` forks the sample process P (``sample.py``) - or, for the split judge, has the
candidate fork server (``candidates.py``) fork the program process C and hands the sample to the
worker's judge process J (``judge_server.py``) - watches it (``monitor.py``: wall clock, output, the
untrusted result pipe, the setup pipe), always kills and reaps what is left, collects what the
cgroups saw, and decides the status (``verdict.py``).
"""

from __future__ import annotations

import gc
import os
import signal
import time
from typing import Any

from aibench.sandboxes import candidates, cgroups, judge_server, sample
from aibench.sandboxes import isolation as iso
from aibench.sandboxes.monitor import watch
from aibench.sandboxes.verdict import Outcome, decide

SETUP_GRACE_S = 5.0


def run_sample(z, req: dict[str, Any]) -> dict[str, Any]:
    """One sample, from request to result: fork P (or, for the split judge, have C forked and hand
    the sample to the judge J), watch it, always kill and reap, decide."""
    isolated = req.get("judge") == "isolated"
    runner = (z.judges if isolated else z.runners).get(req["language"])
    if runner is None:
        return error_result(req, f"no {'isolated judge' if isolated else 'runner'} for language {req['language']!r}")
    if isolated:
        return _run_isolated(z, req)
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
    try:
        if z.pidns_fd is not None:
            z.new_pidns()
        fds["workdir"] = z.scratch if z.per_sample_mounts else z.new_workdir()
    except OSError as e:
        for fd in (*mine, *(fds[k] for k in theirs)):
            os.close(fd)
        return error_result(req, f"cannot prepare the sample: {e}")
    ooms = _reset_memory(z)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        for fd in mine:
            os.close(fd)
        sample.main(z, runner, req, fds)  # never returns
    for key in theirs:
        os.close(fds[key])
    nonce = os.urandom(16).hex()  # made after the fork: no sample process inherits it
    try:
        os.write(nonce_w, nonce.encode())
    except OSError:  # the sample already died: its setup pipe says why
        pass
    o = Outcome(limits=req["limits"], nonce=nonce, started=started, judge="inprocess")
    try:
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
        if z.pidns_fd is None:
            o.strays += iso.kill_tree(os.getpid(), include_root=False, spare=z.helper_pids())
        iso.reap_all()
        for fd in mine:
            os.close(fd)
        if not z.per_sample_mounts:
            iso.remove_tree(fds["workdir"])
    return _finish(z, req, runner, o, ooms)


def _run_isolated(z, req: dict[str, Any]) -> dict[str, Any]:
    """The split judge: C forked by the candidate fork server, the tests run by the worker's judge
    process J (``judge_server.py``; started by ``_hand_to_judge`` when there is none)."""
    fds: dict[str, Any] = {}
    out_r, fds["out_w"] = os.pipe()
    err_r, fds["err_w"] = os.pipe()
    res_r, fds["res_w"] = os.pipe()
    setup_r, fds["setup_w"] = os.pipe()
    to_c_r, fds["to_c_w"] = os.pipe()
    fds["from_c_r"], from_c_w = os.pipe()
    mine = [out_r, err_r, res_r, setup_r]
    theirs = list(judge_server.FDS)
    workdir = None
    try:
        if z.candidates is None or z.candidates_gone:
            raise OSError("no candidate fork server")
        workdir = z.scratch if z.per_sample_mounts else z.new_workdir()
    except OSError as e:
        for fd in (*mine, to_c_r, from_c_w, *(fds[k] for k in theirs)):
            os.close(fd)
        return error_result(req, f"cannot prepare the sample: {e}")
    ooms = _reset_memory(z)
    nonce = os.urandom(16).hex()  # only J gets it, over its own socket; C never holds the result pipe
    o = Outcome(limits=req["limits"], nonce=nonce, started=time.monotonic(), judge="isolated")
    sent = False
    try:
        o.setup_error = _fork_candidate(z, req, fds, workdir, [to_c_r, from_c_w])
        if o.setup_error is None:
            o.setup_error = _hand_to_judge(z, req, nonce, [fds[k] for k in theirs])
            sent = o.setup_error is None
        for key in theirs:
            os.close(fds[key])
        if sent:
            watch(None, o, out_r, err_r, res_r, setup_r, float(z.cfg.get("setup_grace_s", SETUP_GRACE_S)))
    finally:
        if sent and (o.wait_status is None or o.killed):  # J did not finish (timeout, channel caps)
            o.wait_status, z.judge = z.judge.kill(), None  # a fresh J for the next sample
        elif sent:  # J died during the sample? Without a verdict, give its exit a moment to show
            verdict = any(m["kind"] == "verdict" and m.get("nonce") == nonce for m in o.messages)
            if (status := z.judge.ended(0.0 if verdict else 0.2)) is not None:
                o.wait_status, z.judge = status, None
            elif z.judge.retiring():  # the tests left what J cannot undo (a thread): a fresh J next
                z.judge.kill()
                z.judge = None
        o.candidate = _end_candidate(z)
        iso.reap_all()
        for fd in mine:
            os.close(fd)
        if workdir is not None and not z.per_sample_mounts:
            iso.remove_tree(workdir)
    return _finish(z, req, z.judges[req["language"]], o, ooms)


def _hand_to_judge(z, req: dict[str, Any], nonce: str, fds: list[int]) -> str | None:
    """Send the sample to J, starting one if there is none; a J that died since its last sample
    is replaced once (this sample is not to blame for it). None, or why not."""
    error = None
    for _attempt in range(2):
        try:
            if z.judge is None:
                z.judge = judge_server.start(z)  # it closes every fd but its own: none of these pipes
            z.judge.send({**req, "nonce": nonce}, fds)
            return None
        except OSError as e:
            if z.judge is not None:
                z.judge.kill()
                z.judge = None
            error = f"the judge process is gone: {e}"
    return error


def _reset_memory(z) -> int:
    """Before a sample: the memory cgroup's peak reset; its OOM-kill count so far."""
    if z.memory is None:
        return 0
    cgroups.memory_reset_peak(z.memory)
    return cgroups.memory_oom_kills(z.memory)


def _finish(z, req: dict[str, Any], runner, o: Outcome, ooms: int) -> dict[str, Any]:
    if z.memory is not None:
        o.memory_peak = cgroups.memory_peak(z.memory)
        o.oom_kills = cgroups.memory_oom_kills(z.memory) - ooms
    store = getattr(runner, "store", None)  # compiled languages: cache what an identical program compiles to
    if store is not None:
        for m in o.messages:
            if m["kind"] == "artifact" and m.get("nonce") == o.nonce:
                try:
                    store(req, m["detail"])
                except Exception:  # noqa: BLE001 - a cache miss next time, never a failed sample
                    pass
                break
    return decide(req["id"], o)


def _fork_candidate(z, req: dict[str, Any], fds: dict[str, Any], workdir: str, ends: list[int]) -> str | None:
    """The split judge's program process C, forked by the candidate fork server (into its pid
    namespace, whose init it is); None, or why not. Closes ``ends``."""
    try:
        z.candidates.fork(req["language"], req["limits"], workdir, [*ends, fds["out_w"], fds["err_w"]])
        return None
    except candidates.CandidateServerGone as e:
        z.candidates_gone = True
        return str(e)
    except OSError as e:
        return f"the program process could not be started: {e}"
    finally:
        for fd in ends:
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
