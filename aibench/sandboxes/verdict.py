"""The verdict decision: from what the fork server observed to one status per sample.

``passed`` comes only from a verdict message carrying the sample's per-run nonce with ``ok`` true
(the first such message counts), and only when the sample did not break the result channel's
caps. Everything else a sample says is mapped onto a fixed set of failure statuses - a sample
can make itself fail in many ways, but never pass, never look like a sandbox fault
(``sandbox_error`` comes only from the fork server's own setup pipe, which is closed before any
program code runs) and never crash the parent with a status it made up.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Any

SIGNAMES = {int(s): s.name for s in signal.Signals}
# what a runner may report for a failing sample; "compile_error": a compiled language's compiler
# rejected the program (MultiPL-E's "SyntaxError"), with the compiler's output tail in the detail
RUNNER_STATUSES = ("failed", "memory", "compile_error")


@dataclass
class Outcome:
    """Everything the fork server saw of one sample."""

    limits: dict[str, Any]
    nonce: str
    judge: str = "inprocess"  # "isolated": the sample process is the trusted judge, not the program
    messages: list[dict] = field(default_factory=list)
    garbage_lines: int = 0
    channel_overflow: str | None = None
    killed: str | None = None  # "timeout" | "channel" (result channel over its caps)
    wait_status: int | None = None
    rusage: Any = None
    started: float = 0.0
    ended: float = 0.0
    stdout_tail: bytes = b""
    stderr_tail: bytes = b""
    total_output: int = 0
    setup_error: str | None = None
    strays: int = 0
    oom_kills: int = 0
    memory_peak: int | None = None
    candidate: dict[str, Any] | None = None  # split judge: how C ended, from the candidate fork server


def decide(req_id: Any, o: Outcome) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    verdict = None
    forged = 0
    for m in o.messages:
        if m.get("nonce") != o.nonce:
            forged += 1
            continue
        if m["kind"] == "verdict" and verdict is None:
            verdict = m
            if isinstance(m.get("strays"), int):
                o.strays += max(0, m["strays"])
        elif m["kind"] == "extra":
            detail.update(m["detail"])
    if forged:
        detail["forged_messages"] = forged
    if o.garbage_lines:
        detail["garbage_lines"] = o.garbage_lines
    exit_code = sig = None
    if o.wait_status is not None:
        if os.WIFEXITED(o.wait_status):
            exit_code = os.WEXITSTATUS(o.wait_status)
        elif os.WIFSIGNALED(o.wait_status):
            sig = os.WTERMSIG(o.wait_status)
            exit_code = -sig
    cpu = round(o.rusage.ru_utime + o.rusage.ru_stime, 4) if o.rusage is not None else None
    if o.candidate:
        if "candidate_cpu_s" in o.candidate:
            detail["candidate_cpu_s"] = o.candidate["candidate_cpu_s"]
        o.strays += int(o.candidate.get("candidate_strays_killed") or 0)
    detail["strays_killed"] = o.strays
    if cpu is not None:
        detail["cpu_s"] = cpu
        detail["maxrss_kb"] = o.rusage.ru_maxrss
    if o.memory_peak is not None:
        detail["memory_peak_bytes"] = o.memory_peak
    cap = int(o.limits.get("output_bytes", 0))
    if cap and o.total_output > cap:
        detail["output_truncated"] = f"{o.total_output} bytes of output, only the tail was kept"
    status, error = _status(o, verdict, sig, exit_code, cpu, detail)
    return {
        "id": req_id,
        "status": status,
        "exit_code": exit_code,
        "duration": round(o.ended - o.started, 4),
        "stdout_tail": o.stdout_tail.decode("utf-8", "replace"),
        "stderr_tail": o.stderr_tail.decode("utf-8", "replace"),
        "error": error[:500],
        "detail": detail,
        "total_output_bytes": o.total_output,
    }


def _candidate_end(detail: dict) -> tuple[str, str] | None:
    """Status of a split-judge sample whose program process died during the tests, named like the
    in-process judge names its own death: a CPU-limit kill is a timeout, another signal a crash,
    an exit 'exited with code N before the tests completed'."""
    if not detail.get("candidate_gone"):
        return None
    sig = detail.get("candidate_signal")
    if sig == "SIGXCPU":
        return "timeout", "CPU time limit (SIGXCPU)"
    if isinstance(sig, str):
        return "crashed", f"killed by {sig}"
    code = detail.get("candidate_exit_code")
    if isinstance(code, int) and not isinstance(code, bool):
        return "failed", f"exited with code {code} before the tests completed"
    return None


def _status(o: Outcome, verdict, sig, exit_code, cpu, detail) -> tuple[str, str]:
    lim = o.limits
    if o.setup_error is not None:
        return "sandbox_error", "sample setup failed: " + o.setup_error
    if o.channel_overflow:
        detail["hostile"] = o.channel_overflow
        return "failed", o.channel_overflow
    if verdict is not None and o.candidate and o.candidate.get("candidate_server_killed"):
        # only a program sharing the candidate fork server's uid (containers) can kill it: its
        # process dies with it; crashed however far the judge's calls got (a race otherwise
        # decides). A judge killed too (kill(-1)) gives no verdict: the rules below say failed
        detail["candidate_server_killed"] = True
        return "crashed", "killed by SIGKILL (with its parent, the candidate fork server, which it killed)"
    if verdict is not None and verdict["ok"]:
        detail.update(verdict.get("detail") or {})
        if o.killed:
            detail["killed_after_verdict"] = o.killed  # per-case extras ran over; the verdict stands
        return "passed", ""
    if o.oom_kills:  # a failure that the memory cgroup caused (killed one of the sample's processes)
        detail["oom_kills"] = o.oom_kills
        if verdict is not None:
            detail.update(verdict.get("detail") or {})
        return "memory", f"memory limit: the sample's processes together exceeded {lim.get('memory_bytes')} bytes"
    if verdict is not None and not o.killed:
        detail.update(verdict.get("detail") or {})
        if detail.get("candidate_eof") and o.candidate:  # the program's pipe closed: how it ended
            for key in ("candidate_signal", "candidate_exit_code"):
                if key in o.candidate:
                    detail[key] = o.candidate[key]
        gone = _candidate_end(detail)  # the split judge's program process ended under it
        if gone is not None:
            return gone
        status = verdict.get("status")
        return (status if status in RUNNER_STATUSES else "failed"), str(verdict.get("error", ""))
    if o.killed == "timeout":
        return "timeout", f"wall-clock timeout after {lim['timeout_s']:g}s"
    if verdict is not None:
        detail.update(verdict.get("detail") or {})
        status = verdict.get("status")
        return (status if status in RUNNER_STATUSES else "failed"), str(verdict.get("error", ""))
    if sig is not None and o.judge == "isolated" and sig not in (signal.SIGXCPU,):
        # the judge runs only trusted code: it dies by a signal only when the program (sharing its
        # uid, e.g. in a container) or a limit ends it; either way the program failed
        return "failed", f"the judge process was killed by {SIGNAMES.get(sig, str(sig))} before a verdict"
    if sig is not None:
        name = SIGNAMES.get(sig, str(sig))
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu is not None and cpu >= lim["cpu_seconds"] - 0.1):
            return "timeout", f"CPU time limit ({name})"
        return "crashed", f"killed by {name}"
    return "failed", f"exited with code {exit_code} before the tests completed"
