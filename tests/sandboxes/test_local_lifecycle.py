"""Streaming, close and Ctrl-C: lazy consumption, nothing left behind, finished results kept."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from sandbox_helpers import GOOD_INC, assert_clean, prog

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Status


def test_items_consumed_lazily():
    pulled = []

    def gen():
        for i in range(40):
            pulled.append(i)
            yield i, prog(GOOD_INC)

    with LocalSandbox() as sb:
        it = sb.execute_many(gen(), workers=2)
        next(it)
        # lazy: at most 2 requests in flight per worker, plus one refill per worker whose sample
        # finished before the first verdict was handed out
        assert len(pulled) <= 2 * 2 + 2
        rest = list(it)
        assert len(rest) == 39
    assert_clean()


def test_close_mid_run_leaves_nothing_and_keeps_results():
    slow = prog("import time, subprocess\nsubprocess.Popen(['sleep', '77'])\ntime.sleep(0.3)\n" + GOOD_INC)
    sb = LocalSandbox()
    got = []
    gen = sb.execute_many(((i, slow) for i in range(30)), workers=2)
    for tag, v in gen:
        got.append((tag, v))
        if len(got) == 3:
            break
    gen.close()
    assert [v.status for _t, v in got] == [Status.PASSED] * 3
    assert_clean()
    assert sb.execute(prog(GOOD_INC)).passed  # usable again afterwards
    sb.close()
    assert_clean()


def test_keyboard_interrupt_mid_run():
    slow = prog("import time\ntime.sleep(0.2)\n" + GOOD_INC)
    sb = LocalSandbox()
    got = []

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with contextlib.closing(sb.execute_many(((i, slow) for i in range(100)), workers=2)) as gen:
            for item in gen:
                got.append(item)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the run should have been interrupted")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert 0 < len(got) < 100 and all(v.passed for _t, v in got)
    assert_clean()
    sb.close()
    assert_clean()


def test_timeouts_do_not_block_other_samples():
    loop = prog("while True:\n    pass\n", timeout=1.0)
    items = [("loop", loop)] + [(i, prog(GOOD_INC)) for i in range(20)]
    with LocalSandbox() as sb:
        order = [tag for tag, _v in sb.execute_many(items, workers=2)]
    # The quick ones flow through the other worker meanwhile; the one already queued behind the
    # loop on its worker is moved to the free worker once the loop has run for long.
    assert order[-1] == "loop"
    assert sb.stats.get("requeued_behind_timeout", 0) >= 1
    assert_clean()


def test_two_timeouts_in_a_row_cost_one_timeout_each():
    """Two loops queued on one worker would cost two timeouts of wall time in a row; requeued,
    they run side by side while the quick samples wait only for a free worker."""
    loop = prog("while True:\n    pass\n", timeout=1.0)
    items = [("loop1", loop), (0, prog(GOOD_INC)), ("loop2", loop)] + [(i, prog(GOOD_INC)) for i in range(1, 10)]
    with LocalSandbox() as sb:
        got = {}
        for tag, verdict in sb.execute_many(items, workers=2):
            got[tag] = verdict
        order = list(got)
        requeued = sb.stats.get("requeued_behind_timeout", 0)
        skipped = sb.stats.get("skipped_copies", 0)
    assert got["loop1"].status is Status.TIMEOUT and got["loop2"].status is Status.TIMEOUT
    assert all(got[i].passed for i in range(10))
    assert requeued >= 1  # what was queued behind loop1 moved to the free worker ...
    assert skipped == requeued  # ... and its first worker skipped its copy (cancelled, not run twice)
    assert set(order[-2:]) == {"loop1", "loop2"}  # every quick sample finished before either loop
    assert_clean()


def test_fork_server_whose_parent_hangs_up_mid_sample_exits_quietly():
    """A parent that goes away while a sample runs (closed sandbox, killed run) leaves no traceback
    on the terminal: the fork server's answer to nobody is dropped and it exits."""
    import subprocess
    import sys
    import time

    from aibench.sandboxes._local_worker import _BOOT, _PKG_ROOT
    from aibench.sandboxes.protocol import read_msg, write_msg

    sb = LocalSandbox()
    cfg, env = sb._zygote_cfg(), sb.env
    sb.close()
    proc = subprocess.Popen(
        [sys.executable, "-I", "-c", _BOOT.format(root=_PKG_ROOT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd="/",
        start_new_session=True,
    )
    try:
        write_msg(proc.stdin.fileno(), cfg)
        assert read_msg(proc.stdout.fileno())["kind"] == "ready"
        p = prog("import time\ntime.sleep(0.5)\n" + GOOD_INC)
        req = {
            "id": 1,
            "language": "python",
            "code": p.code,
            "tests": p.tests,
            "entry_point": p.entry_point,
            "test_cases": [],
            "prelude": p.prelude,
            "judge": sb.judge,
            "limits": sb.applied(p.timeout),
        }
        write_msg(proc.stdin.fileno(), req)
        time.sleep(0.2)  # the sample is running
        proc.stdout.close()  # the parent hangs up before the answer
        proc.stdin.close()
        proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert b"Traceback" not in err, err.decode(errors="replace")
    assert proc.returncode == 0


def test_worker_killed_between_samples_loses_no_sample():
    """A worker killed from outside just before a request is written to it (its input closed, so
    the write fails with EPIPE before its output's EOF is seen; a container killed from outside does
    this) is replaced and every sample runs on the fresh one: a dead worker never turns a sample
    into a sandbox_error."""
    sb = LocalSandbox()

    def items():
        for i in range(6):
            if i == 3:  # pulled by the feed loop right before it writes sample 3 to the same worker
                [w] = sb._workers
                os.killpg(w.proc.pid, signal.SIGKILL)  # the fork server and its helper process
                w.proc.wait()
                time.sleep(0.2)  # the helper's exit closes its copy of the request pipe too
            yield i, prog(GOOD_INC)

    try:
        got = dict(sb.execute_many(items(), workers=1))
        assert {i: v.status for i, v in got.items()} == dict.fromkeys(range(6), Status.PASSED), got
        assert sb.stats["restarted_workers"] == 1
    finally:
        sb.close()
    assert_clean()
