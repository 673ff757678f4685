"""The split judge's trusted process J serves sample after sample (``judge_server.py``): nothing of
one sample reaches the next through it, and a sample it does not finish gets it replaced."""

from __future__ import annotations

import os
import signal


import pytest
from sandbox_helpers import GOOD_INC, assert_clean, prog

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Status


@pytest.fixture(scope="module")
def sb():
    sandbox = LocalSandbox(judge="isolated")
    yield sandbox
    sandbox.close()
    assert_clean()


def _judge_pid(sandbox: LocalSandbox) -> int:
    """The worker's J: the fork server's child that is not the init of a pid namespace (the
    candidate fork server is: its NSpid line has two numbers)."""
    (w,) = [w for w in sandbox._workers if w.alive]
    with open(f"/proc/{w.proc.pid}/task/{w.proc.pid}/children") as f:
        kids = [int(p) for p in f.read().split()]
    (pid,) = [p for p in kids if len(_nspid(p)) == 1]
    return pid


def _nspid(pid: int) -> list[str]:
    with open(f"/proc/{pid}/status") as f:
        return next(line for line in f if line.startswith("NSpid:")).split()[1:]


def test_one_judge_serves_sample_after_sample(sb):
    assert sb.execute(prog(GOOD_INC)).passed
    first = _judge_pid(sb)
    for _ in range(5):
        assert sb.execute(prog(GOOD_INC)).passed
        assert sb.execute(prog("def inc(x):\n    return x\n")).status is Status.FAILED
    assert _judge_pid(sb) == first
    assert_clean(sb)


def test_the_tests_globals_do_not_reach_the_next_sample(sb):
    tests = "\nassert 'planted' not in globals()\nplanted = inc(1)\nassert planted == 2\n"
    assert sb.execute(prog(GOOD_INC, tests=tests)).passed
    assert sb.execute(prog(GOOD_INC, tests=tests)).passed  # same J: a fresh namespace per sample


def test_a_judge_that_does_not_finish_is_replaced(sb):
    """Trusted tests that never end (here a loop after the first call; a hostile value could make
    honest tests loop) are a timeout; the next sample gets a fresh J and passes."""
    before = _judge_pid(sb) if sb.started() else None
    v = sb.execute(prog(GOOD_INC, tests="\nassert inc(1) == 2\nwhile True:\n    pass\n", timeout=0.5))
    assert v.status is Status.TIMEOUT
    assert sb.execute(prog(GOOD_INC)).passed
    assert _judge_pid(sb) != before
    assert_clean(sb)


def test_what_the_tests_change_in_the_judge_is_put_back(sb):
    """Trusted tests may set an alarm, handlers, limits: none of it reaches the next sample (an
    alarm left pending would fire in the next sample's tests)."""
    changes = (
        "\nimport signal, sys, os\n"
        "def boom(*a):\n    raise TimeoutError('alarm from an earlier sample')\n"
        "signal.signal(signal.SIGALRM, boom)\nsignal.setitimer(signal.ITIMER_REAL, 0.3)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nsys.setrecursionlimit(50)\nos.umask(0)\n"
        "import builtins, io\nbuiltins.planted = 1\nbuiltins.abs = len\nsys.stdout = io.StringIO()\n"
        "assert inc(1) == 2\n"
    )
    probe = (
        "\nimport signal, sys, os, time\ntime.sleep(0.5)\n"
        "assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL\n"
        "assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL\n"
        "assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)\n"
        "assert sys.getrecursionlimit() > 50 and os.umask(0o22) != 0\nassert inc(1) == 2\n"
        "import builtins\nassert not hasattr(builtins, 'planted') and abs(-1) == 1\n"
        "assert sys.stdout is sys.__stdout__\n"
    )
    _changes_stay_in_their_sample(sb, changes, probe)


def test_module_level_state_the_tests_change_is_put_back(sb):
    """The environment, import machinery, replaced modules, warning filters, the decimal context,
    the garbage collector, the sys hooks, the locale and the socket timeout: a test that changes
    them (``warnings.simplefilter("error")`` would turn a later sample's warning into a failure)
    changes nothing for the next sample in the same J."""
    changes = (
        "\nimport os, sys, warnings, decimal, gc, json, socket, locale\n"
        "os.environ['AIBENCH_PLANTED'] = '1'\nos.environ.pop('PATH', None)\n"
        "sys.path.insert(0, '/planted')\nsys.meta_path.insert(0, object())\n"
        "sys.modules['json'] = 'planted'\nwarnings.simplefilter('error')\n"
        "decimal.getcontext().prec = 3\ngc.disable()\nsys.excepthook = print\n"
        "sys.setswitchinterval(0.5)\nsocket.setdefaulttimeout(7)\nlocale.setlocale(locale.LC_ALL, 'C')\n"
        "assert inc(1) == 2\n"
    )
    probe = (
        "\nimport os, sys, warnings, decimal, gc, json, socket\n"
        "assert 'AIBENCH_PLANTED' not in os.environ and 'PATH' in os.environ\n"
        "assert '/planted' not in sys.path and all(type(f) is not object for f in sys.meta_path)\n"
        "assert json.dumps([1]) == '[1]'\n"
        "warnings.warn('only a warning')\n"
        "assert str(decimal.Decimal(1) / decimal.Decimal(7)).startswith('0.142857142857')\n"
        "assert gc.isenabled() and sys.excepthook is sys.__excepthook__\n"
        "assert sys.getswitchinterval() < 0.1 and socket.getdefaulttimeout() is None\n"
        "assert inc(1) == 2\n"
    )
    _changes_stay_in_their_sample(sb, changes, probe)


def _changes_stay_in_their_sample(sb: LocalSandbox, changes: str, probe: str) -> None:
    """Tests ``changes`` pass, then tests ``probe`` (which check that nothing of it is left) pass
    in the same J: it was put back, not replaced."""
    first = _judge_pid(sb)
    assert sb.execute(prog(GOOD_INC, tests=changes)).passed
    v = sb.execute(prog(GOOD_INC, tests=probe))
    assert v.passed, (v.error, v.detail.get("traceback_tail"))
    assert _judge_pid(sb) == first


def test_a_thread_left_by_the_tests_retires_the_judge(sb):
    tests = "\nimport threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()\nassert inc(1) == 2\n"
    assert sb.execute(prog(GOOD_INC)).passed
    first = _judge_pid(sb)
    assert sb.execute(prog(GOOD_INC, tests=tests)).passed
    assert sb.execute(prog(GOOD_INC)).passed
    assert _judge_pid(sb) != first
    assert_clean(sb)


def test_a_judge_killed_between_samples_costs_no_sample(sb):
    assert sb.execute(prog(GOOD_INC)).passed
    os.kill(_judge_pid(sb), signal.SIGKILL)
    assert sb.execute(prog(GOOD_INC)).passed
    assert_clean(sb)


@pytest.mark.parametrize(
    "tests, error",
    [
        ("\nimport os\nos._exit(3)\n", "exited with code 3 before the tests completed"),
        ("\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "the judge process was killed by SIGKILL"),
    ],
)
def test_a_judge_that_dies_fails_its_sample_and_the_next_passes(sb, tests, error):
    v = sb.execute(prog(GOOD_INC, tests=tests))
    assert v.status is Status.FAILED and error in v.error
    assert sb.execute(prog(GOOD_INC)).passed
    assert_clean(sb)


def test_the_program_sees_only_itself_and_its_namespace_init(sb):
    """C's pid namespace (the candidate fork server is its init) is emptied after every sample: a
    daemon left by one sample is gone before the next starts, and J is not in it at all."""
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.1)\n" + GOOD_INC
    )
    assert sb.execute(prog(daemon)).passed
    probe = "import os\ndef inc(x):\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
    v = sb.execute(prog(probe, tests="\nseen = inc(0)\nassert len(seen) == 2 and seen[0] == 1, seen\n"))
    assert v.passed, v.error
    assert_clean(sb)
