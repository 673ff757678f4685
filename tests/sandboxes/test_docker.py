"""sandbox=docker against a real engine (no SDK mocks): container security options, isolation
between samples, limits -> statuses, the hostile cases give the local sandbox's verdicts, recycling,
and no container left after close, Ctrl-C, a dead container or a killed run."""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from support import default_sigint, requires
from sandbox_helpers import BAD_INC, GOOD_INC, prog

from aibench.types import Status

REPO = Path(__file__).resolve().parents[2]
HOW = "run .ci/extras.d/20-docker.sh (installs docker.io, starts dockerd, builds the image)"


def engine_ready(base_url: str | None = None, engine: str | None = None) -> bool:
    """An engine answers (``base_url``, else $DOCKER_HOST / the default socket), it is ``engine``
    if given (a name among its version's components, e.g. "podman"), and holds a sandbox image."""
    try:
        import docker

        from aibench.sandboxes._docker_image import default_images

        c = docker.DockerClient(base_url=base_url, timeout=10) if base_url else docker.from_env(timeout=10)
        c.ping()
        if engine and not any(engine in comp.get("Name", "").lower() for comp in c.version().get("Components", [])):
            return False
        for ref in default_images():
            try:
                c.images.get(ref)
                return True
            except docker.errors.ImageNotFound:
                continue
        return False
    except Exception:  # noqa: BLE001 - no SDK, no daemon, no permission: not available
        return False


@functools.lru_cache(maxsize=None)
def docker_ready() -> bool:
    return engine_ready()


pytestmark = requires("docker", docker_ready(), HOW)


def client():
    import docker

    return docker.from_env(timeout=60)


def ulimits() -> list:
    """The sandbox's explicit ulimits, for containers a test makes itself: without them Podman asks
    for limits above its own hard limits here and the container cannot start."""
    import docker

    from aibench.sandboxes.docker import container_ulimits

    return [docker.types.Ulimit(name=n, soft=v, hard=v) for n, v in container_ulimits().items()]


def containers(**labels: str) -> list:
    """aibench sandbox containers (any state) carrying every label given."""
    filters = ["org.aibench.sandbox=1", *(f"{k}={v}" for k, v in labels.items())]
    # ignore_removed: a container recycled between the engine's listing and its inspection is gone
    return client().containers.list(all=True, filters={"label": filters}, ignore_removed=True)


def of_run(sb) -> list:
    return containers(**{"org.aibench.run": sb.run_id})


@pytest.fixture(scope="module")
def dsb():
    from aibench.sandboxes.docker import DockerSandbox

    sb = DockerSandbox()
    yield sb
    sb.close()
    assert of_run(sb) == []


def one(sb, program):
    return sb.execute(program)


# ----------------------------------------------------------------------------- the containers
def test_container_security_options(dsb):
    assert dsb.execute(prog(GOOD_INC)).passed
    [c] = [c for c in of_run(dsb) if c.status == "running"][:1]
    hc = c.attrs["HostConfig"]
    assert hc["NetworkMode"] == "none"
    assert hc["ReadonlyRootfs"] is True
    # Docker keeps ["ALL"]; Podman lists each capability it drops (all of its defaults). The
    # effect (no capability at all inside) is test_runs_as_nobody_without_capabilities.
    assert hc["CapDrop"] == ["ALL"] or {"CHOWN", "KILL", "SETUID", "SETGID", "NET_BIND_SERVICE"} <= set(hc["CapDrop"])
    assert not hc.get("CapAdd")
    assert any(o.startswith("no-new-privileges") for o in hc["SecurityOpt"])
    assert hc["Memory"] == dsb.memory_bytes == hc["MemorySwap"]
    assert hc["PidsLimit"] == dsb.pids and hc["NanoCpus"] == int(dsb.cpus * 1e9)
    # Podman 4 reports "shareable" for the private mode it was given; either way the container has
    # an IPC namespace of its own (the engine runs on this machine: its pids are ours to read)
    assert hc["IpcMode"] in ("private", "shareable") and hc["Privileged"] is False
    assert os.readlink(f"/proc/{c.attrs['State']['Pid']}/ns/ipc") != os.readlink("/proc/self/ns/ipc")
    assert "/tmp" in hc["Tmpfs"] and f"size={dsb.tmpfs_bytes}" in hc["Tmpfs"]["/tmp"]
    assert hc["Tmpfs"]["/var/tmp"].startswith("ro,")
    from aibench.sandboxes.docker import container_ulimits

    # Podman names them RLIMIT_NOFILE, ...
    assert {u["Name"].lower().removeprefix("rlimit_"): u["Hard"] for u in hc["Ulimits"]} == container_ulimits()
    assert c.attrs["Config"]["User"] == "65534:65534"
    mounts = c.attrs["Mounts"]
    assert mounts and all(m["RW"] is False for m in mounts)  # no host path writable
    assert c.labels["org.aibench.run"] == dsb.run_id


def test_runs_as_nobody_without_capabilities(dsb):
    code = (
        "import os\nassert os.getuid() == 65534 and os.getgid() == 65534\ncaps = {}\n"
        "for line in open('/proc/self/status'):\n    if line.startswith(('Cap', 'NoNewPrivs')):\n"
        "        k, v = line.split(':')\n        caps[k] = int(v.strip(), 16)\n"
        "assert caps['CapEff'] == caps['CapPrm'] == caps['CapBnd'] == 0, caps\nassert caps['NoNewPrivs'] == 1\n"
        + GOOD_INC
    )
    v = dsb.execute(prog(code))
    assert v.status is Status.PASSED, v.error


def test_no_network_tcp_or_unix_sockets(dsb):
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    try:
        only_lo = (
            "ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]\n"
            "assert ifaces == ['lo'], ifaces\n" + GOOD_INC
        )
        assert dsb.execute(prog(only_lo)).status is Status.PASSED
        for host in ("127.0.0.1", "172.17.0.1", "10.0.2.2", "1.1.1.1"):
            v = dsb.execute(
                prog(f"import socket\nsocket.create_connection(({host!r}, {port}), timeout=1)\n" + GOOD_INC)
            )
            assert v.status is Status.FAILED and ("Error" in v.error or "refused" in v.error), (host, v.error)
        for path in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
            code = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({path!r})\n" + GOOD_INC
            v = dsb.execute(prog(code))
            assert v.status is Status.FAILED and ("Error" in v.error or "denied" in v.error), (path, v.error)
        v = dsb.execute(prog("import socket\nsocket.getaddrinfo('deb.debian.org', 80)\n" + GOOD_INC))
        assert v.status is Status.FAILED
    finally:
        srv.close()


def test_read_only_root_and_private_scratch(dsb):
    name = f"aibench-pwned-{uuid.uuid4().hex}"
    targets = [
        "/" + name,
        "/etc/" + name,
        "/usr/" + name,
        "/opt/aibench/" + name,
        "/opt/aibench/aibench/" + name,
        "/var/tmp/" + name,
        "/root/" + name,
    ]
    code = (
        f"import os\nwritten = []\nfor t in {targets!r}:\n    try:\n        open(t, 'w').write('x')\n"
        "        written.append(t)\n    except OSError:\n        pass\nassert written == [], written\n"
        "open('inside', 'w').write('ok')\nassert open('inside').read() == 'ok'\n" + GOOD_INC
    )
    v = dsb.execute(prog(code))
    assert v.status is Status.PASSED, v.error
    assert not (REPO / "aibench" / name).exists() and not (REPO / name).exists()


def test_samples_do_not_see_each_others_files_or_processes(dsb):
    secs = f"{2000 + uuid.uuid4().int % 1000}.5"
    a = prog(
        "import os, subprocess, uuid\nopen('/tmp/planted', 'w').write('x')\nos.makedirs('/tmp/d/e')\n"
        "open('mine', 'w').write('x')\nos.chmod('/tmp/d', 0)\n"
        f"subprocess.Popen(['sleep', '{secs}'], start_new_session=True)\n" + GOOD_INC
    )
    b = prog(
        "import os\nleft = [n for n in os.listdir('/tmp') if not os.getcwd().startswith('/tmp/' + n)]\n"
        "assert left == [], left\nassert os.listdir('.') == []\n"
        "procs = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "cmds = {p: open(f'/proc/{p}/cmdline', 'rb').read() for p in procs if os.path.exists(f'/proc/{p}/cmdline')}\n"
        f"assert not [p for p, c in cmds.items() if b'{secs}' in c], cmds\n" + GOOD_INC
    )
    got = dict(dsb.execute_many([("a", a), ("b", b), ("b2", b)], workers=1))
    assert got["a"].status is Status.PASSED and got["a"].detail["strays_killed"] >= 1
    assert got["b"].status is Status.PASSED, got["b"].error
    assert got["b2"].status is Status.PASSED, got["b2"].error


def test_nothing_a_sample_leaves_reaches_the_next_in_the_same_container(dsb):
    """/tmp, /dev/shm and POSIX message queues (/dev/mqueue lives as long as the container's IPC
    namespace) are the writable places in a container; what one sample leaves there is gone before
    the next sample in that container starts (no stray process here, so no recycle in between)."""
    where = "import socket\nprint('container', socket.gethostname())\n"
    a = prog(
        where + "import os\nopen('/tmp/planted', 'w').write('x')\nopen('/dev/shm/planted', 'w').write('x')\n"
        "os.close(os.open('/dev/mqueue/planted', os.O_CREAT | os.O_RDWR, 0o666))\n"
        "assert os.listdir('/dev/mqueue') == ['planted']\n" + GOOD_INC
    )
    b = prog(
        where + "import os\nleft = [n for n in os.listdir('/tmp') if not os.getcwd().startswith('/tmp/' + n)]\n"
        "left += os.listdir('/dev/shm') + os.listdir('/dev/mqueue')\nassert left == [], left\n" + GOOD_INC
    )
    got = dict(dsb.execute_many([("a", a), ("b", b)], workers=1))
    assert got["a"].status is Status.PASSED, got["a"].error
    assert got["b"].status is Status.PASSED, got["b"].error
    assert got["a"].stdout_tail.split() == got["b"].stdout_tail.split()  # the same container


def _processes(c) -> list[str] | None:
    """Command lines running in container ``c`` (None: it is gone). Docker's top takes ps options,
    Podman's takes ps descriptors (and answers ps options with an empty body)."""
    import docker.errors

    for args in ("-eo pid,args", "pid,args"):
        try:
            return [" ".join(p) for p in c.top(ps_args=args)["Processes"]]
        except docker.errors.NotFound:  # recycled meanwhile: nothing runs in it
            return None
        except ValueError:
            continue
    raise AssertionError(f"cannot list the processes of container {c.id}")


def test_timeout_kills_the_samples_processes_inside_the_container(dsb):
    secs = f"{3000 + uuid.uuid4().int % 1000}.5"
    loop = prog(f"import subprocess\nsubprocess.Popen(['sleep', '{secs}'])\nwhile True:\n    pass\n", timeout=1.0)
    v = dsb.execute(loop)
    assert v.status is Status.TIMEOUT
    for c in of_run(dsb):
        if c.status == "running":
            procs = _processes(c) or []
            assert not [p for p in procs if secs in p], procs
    check = prog(
        f"import os\nfor p in filter(str.isdigit, os.listdir('/proc')):\n    try:\n"
        f"        assert b'{secs}' not in open(f'/proc/{{p}}/cmdline', 'rb').read()\n"
        "    except FileNotFoundError:\n        pass\n" + GOOD_INC
    )
    assert dsb.execute(check).status is Status.PASSED


def test_memory_limit_gives_memory_status():
    from aibench.sandboxes.docker import DockerSandbox

    with DockerSandbox(memory_bytes=512 << 20) as sb:
        assert sb.applied(3.0)["memory_bytes"] <= (512 - 192) << 20
        v = sb.execute(prog("x = bytearray(600 << 20)\n" + GOOD_INC))
        assert v.status is Status.MEMORY and v.error.startswith("MemoryError")
        v = sb.execute(prog("x = bytearray(100 << 20)\n" + GOOD_INC))
        assert v.status is Status.PASSED
    assert of_run(sb) == []


def test_pids_limit_contains_fork_bombs_and_threads(dsb):
    v = dsb.execute(
        prog(
            "import threading, time\nts = []\nfor _ in range(500):\n"
            "    t = threading.Thread(target=time.sleep, args=(5,), daemon=True)\n    t.start()\n"
            "    ts.append(t)\n" + GOOD_INC
        )
    )
    assert v.status is Status.FAILED and ("thread" in v.error or "Resource" in v.error), v.error
    dsb.execute(prog("import os\nwhile True:\n    os.fork()\n" + GOOD_INC, timeout=2.0))  # verdict: see xfail below
    assert dsb.execute(prog(GOOD_INC)).passed  # the pool still works


def test_incidents_and_every_n_samples_recycle_containers():
    from aibench.sandboxes.docker import DockerSandbox

    with DockerSandbox(recycle_after=3) as sb:
        items = [(i, prog(GOOD_INC)) for i in range(7)]
        assert all(v.passed for _t, v in sb.execute_many(items, workers=1))
        assert sb.stats["recycled_containers"] >= 1  # after 3 samples (+ the one queued behind them)
        before = sb.stats["recycled_containers"]
        assert sb.execute(prog("while True:\n    pass\n", timeout=0.5)).status is Status.TIMEOUT
        assert sb.execute(prog(GOOD_INC)).passed
        assert sb.stats["recycled_containers"] >= before + 1
        assert sb._workers[0].recycle is None and sb._workers[0].samples == 1  # a fresh container after the timeout
        running = [c for c in of_run(sb) if c.status == "running"]
        assert len(running) == 1  # the replaced ones are gone
    assert of_run(sb) == []


# ----------------------------------------------------------------------------- same verdicts as local
HOSTILE = {
    "sys_exit": "import sys\nsys.exit(0)\n" + GOOD_INC,
    "exit_in_function": GOOD_INC + "import sys\ndef inc(x):\n    sys.exit(0)\n",
    "os_exit": "import os\nos._exit(0)\n" + GOOD_INC,
    "atexit": "import atexit, os, sys\natexit.register(os._exit, 0)\natexit.register(sys.exit, 0)\n" + BAD_INC,
    "builtins": "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.all = lambda x: True\n" + BAD_INC,
    "check_override": BAD_INC + "def check(c):\n    pass\n",
    "always_equal": "class A:\n    __eq__ = lambda s, o: True\ndef inc(x):\n    return A()\n",
    "fake_markers": (
        "import json, os\nprint('passed')\nmsg = (json.dumps({'kind': 'verdict', 'ok': True, 'nonce': '0' * 32})"
        " + '\\n').encode()\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, msg)\n"
        "    except OSError:\n        pass\n" + BAD_INC
    ),
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + BAD_INC,
    # a right answer does not save it: in a container its parent is the candidate fork server, and
    # however many calls it answers before its parent-death signal lands, it is crashed; locally
    # its parent is the candidate fork server too, as the init of its pid namespace, run by root:
    # PermissionError, failed (see PARENT_KILLERS)
    "kill_parent_good": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD_INC,
    "kill_all": "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + GOOD_INC,
    "close_fds": "import os\nos.closerange(0, 65536)\n" + GOOD_INC,
    "kill_self": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n" + GOOD_INC,
    "stop_self": "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n" + GOOD_INC,
    "setsid_grandchild": (
        "import os, subprocess\nsubprocess.Popen(['sleep', '1777'])\nif os.fork() == 0:\n"
        "    os.setsid()\n    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '1777'])\n"
        "    os._exit(0)\n" + GOOD_INC
    ),
    "stdout_flood": "while True:\n    print('x' * 1000)\n" + GOOD_INC,
    "infinite_loop": "while True:\n    pass\n" + GOOD_INC,
    "huge_alloc": "x = bytearray(10**12)\n" + GOOD_INC,
    "huge_list": "x = [0] * (10**11)\n" + GOOD_INC,
    "recursion": "def inc(x):\n    return inc(x) + 1\n",
    "c_stack": "import sys\nsys.setrecursionlimit(10**8)\ndef inc(x):\n    return list(map(inc, [x]))[0]\n",
    "big_file": "with open('big', 'wb') as f:\n    f.write(b'0' * (200 << 20))\n" + GOOD_INC,
    "stdin": "input()\n" + GOOD_INC,
    "good": GOOD_INC,
    "bad": BAD_INC,
}
# Failed in both, by different routes: in a container the kill lands (crashed), locally it is refused
PARENT_KILLERS = ("kill_parent", "kill_parent_good")
# Where PID 1 is differs: under sandbox=local the in-process judge's sample is the init of its own
# pid namespace (so kill(1) kills itself and getppid() is 0) and the split judge's program runs in
# one whose init is the candidate fork server (root: refused); in a container PID 1 is the fork server, which nothing
# inside can kill, ptrace or inspect (non-dumpable). These must pass there: the attack changes nothing.
DOCKER_ONLY = {
    "kill_init": "import os, signal\ntry:\n    os.kill(1, signal.SIGKILL)\nexcept OSError:\n    pass\n" + GOOD_INC,
    "ptrace_parent": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.ptrace(16, os.getppid(), 0, 0) != 0\n" + GOOD_INC
    ),
    "parent_proc_fds": (
        "import os\nfor n in ('fd', 'mem', 'environ'):\n    try:\n"
        "        os.listdir(f'/proc/{os.getppid()}/{n}') if n == 'fd' else open(f'/proc/{os.getppid()}/{n}',"
        " 'rb').read(1)\n        raise SystemExit('opened ' + n)\n    except PermissionError:\n"
        "        pass\n" + GOOD_INC
    ),
}


def test_hostile_cases_give_the_local_verdicts(dsb):
    from aibench.sandboxes.local import LocalSandbox

    def timeout(name):
        return 1.0 if name in ("stop_self", "infinite_loop") else 2.0 if name == "fork_bomb" else 3.0

    items = [(n, prog(code, timeout=timeout(n))) for n, code in HOSTILE.items()]
    with LocalSandbox() as lsb:
        local = dict(lsb.execute_many(items, workers=2))
    docker = dict(dsb.execute_many(items, workers=2))
    diff = {
        n: (local[n].status.value, docker[n].status.value, docker[n].error)
        for n in HOSTILE
        if local[n].status is not docker[n].status and n not in PARENT_KILLERS
    }
    assert diff == {}
    assert not any(local[n].passed or docker[n].passed for n in PARENT_KILLERS)
    assert docker["good"].passed and not any(
        docker[n].passed for n in HOSTILE if n not in ("good", "setsid_grandchild")
    )
    only = dict(dsb.execute_many([(n, prog(c)) for n, c in DOCKER_ONLY.items()], workers=2))
    assert {n: (v.status.value, v.error) for n, v in only.items() if not v.passed} == {}
    assert docker["fake_markers"].status is Status.FAILED
    assert docker["huge_alloc"].status is Status.MEMORY
    assert dsb.execute(prog(GOOD_INC)).passed  # still usable


def test_fork_bomb_verdict_is_not_a_sandbox_error(dsb):
    """Without a pid namespace the fork server kills and reaps the sample before it sweeps what the
    sample left (a sweep that reaped the sample first once made this a sandbox_error)."""
    for _ in range(3):
        v = dsb.execute(prog("import os\nwhile True:\n    os.fork()\n" + GOOD_INC, timeout=2.0))
        assert v.status in (Status.FAILED, Status.TIMEOUT), v.error
    assert dsb.execute(prog(GOOD_INC)).passed


# ----------------------------------------------------------------------------- nothing left behind
def test_dead_container_is_replaced_and_removed():
    """The in-container init cannot be killed from inside (kill_init above); kill it from outside
    mid-run: the samples in flight are requeued on a fresh container, nothing is left."""
    from aibench.sandboxes.docker import DockerSandbox

    sb = DockerSandbox()
    slow = prog("import time\ntime.sleep(0.5)\n" + GOOD_INC)
    got = {}
    killed = False
    for tag, v in sb.execute_many(((i, slow) for i in range(6)), workers=1):
        got[tag] = v
        if not killed:
            [c] = [c for c in of_run(sb) if c.status == "running"]
            c.kill()
            killed = True
    assert len(got) == 6 and all(v.passed for v in got.values())
    assert sb.stats["restarted_workers"] >= 1
    sb.close()
    assert of_run(sb) == []


def test_samples_queued_behind_a_retiring_container_are_not_blamed():
    """A program that kills the candidate fork server (its parent, same uid in a container) gets its
    own verdict (crashed) and the container's fork server retires after answering it: what was
    queued behind never started, so it is requeued as it was. Here the sample behind is queued
    behind two such programs in turn; counted as deaths, it came out sandbox_error ("fork server
    died twice on this program")."""
    from aibench.sandboxes.docker import DockerSandbox

    killer = prog("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GOOD_INC)
    sb = DockerSandbox()
    try:
        sb.inflight_per_worker = 3  # k1 runs, k2 and good wait in the same container
        got = dict(sb.execute_many([("k1", killer), ("k2", killer), ("good", prog(GOOD_INC))], workers=1))
        assert got["good"].status is Status.PASSED, got["good"].error
        assert got["k1"].status is Status.CRASHED and got["k2"].status is Status.CRASHED, got
        assert sb.stats["restarted_workers"] >= 2
    finally:
        sb.close()
    assert of_run(sb) == []


def test_generator_closed_and_ctrl_c_leave_no_container():
    from aibench.sandboxes.docker import DockerSandbox

    sb = DockerSandbox()
    slow = prog("import time\ntime.sleep(0.3)\n" + GOOD_INC)
    gen = sb.execute_many(((i, slow) for i in range(20)), workers=2)
    next(gen)
    gen.close()
    assert sb.execute(prog(GOOD_INC)).passed
    sb.close()
    assert of_run(sb) == []


def _cli(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aibench",
            "sandbox=docker",
            "tracking.enabled=false",
            "run.progress=false",
            f"hydra.run.dir={tmp_path / 'run'}",
            *args,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # the test sends it Ctrl-C
    )


def _wait_for_containers(pid: int, timeout: float = 120.0) -> None:
    from aibench.sandboxes.docker import owner_id

    owner = owner_id(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if [c for c in containers(**{"org.aibench.owner": owner}) if c.status == "running"]:
            return
        time.sleep(0.2)
    raise AssertionError("the run started no container")


def test_cli_run_with_sigint_leaves_no_container(tmp_path):
    from aibench.sandboxes.docker import owner_id

    p = _cli(tmp_path, "run.n_samples=20")
    owner = None
    try:
        _wait_for_containers(p.pid)
        owner = owner_id(p.pid)
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert containers(**{"org.aibench.owner": owner}) == []


def test_killed_run_leaves_no_container_and_stale_ones_are_removed(tmp_path):
    """SIGKILL: the engine removes the containers when their stdin closes; a container a killed
    run could not clean up (here: created by hand with such a run's labels) is removed by the
    next sandbox."""
    from aibench.sandboxes.docker import DockerSandbox, owner_id

    p = _cli(tmp_path, "run.n_samples=20")
    try:
        _wait_for_containers(p.pid)
        owner = owner_id(p.pid)
    finally:
        p.kill()
        p.wait()
    deadline = time.monotonic() + 60
    while containers(**{"org.aibench.owner": owner}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert containers(**{"org.aibench.owner": owner}) == []

    from aibench.sandboxes._docker_image import default_images

    image = next(ref for ref in default_images() if _has(ref))
    stale = client().containers.create(
        image,
        ["sleep", "600"],
        labels={"org.aibench.sandbox": "1", "org.aibench.run": "dead", "org.aibench.owner": owner},
        network_mode="none",
        ulimits=ulimits(),
    )
    stale.start()
    with DockerSandbox() as sb:
        assert sb.stats["stale_containers_removed"] >= 1
    assert containers(**{"org.aibench.owner": owner}) == []


def _has(ref: str) -> bool:
    import docker

    try:
        client().images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def test_describe_records_image_and_engine(dsb):
    d = dsb.describe()
    assert d["name"] == "docker"
    assert d["docker"]["image_id"].startswith("sha256:") and d["docker"]["engine"]["Version"]
    assert d["isolation"]["network"]["enforced"] is True
    assert "fork_server_inside_container" in d["isolation"]


def test_user_errors_are_one_line(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), DOCKER_HOST=f"unix://{tmp_path}/nothing.sock")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "aibench",
            "sandbox=docker",
            "run.limit=1",
            "tracking.enabled=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "no Docker daemon answers" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "run" / "run_manifest.json").exists()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "aibench",
            "sandbox=docker",
            "sandbox.image=aibench-sandbox:nope",
            "run.limit=1",
            "tracking.enabled=false",
            f"hydra.run.dir={tmp_path / 'run2'}",
        ],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "python -m aibench.sandboxes.docker build" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_headline_command_end_to_end(tmp_path):
    """`python -m aibench harness=bigcode sandbox=docker model=ollama/llama3 model.host=...` against
    the local Ollama-protocol test server."""
    import json

    from aibench.models.fakes import FakeOllama

    with FakeOllama(models={"llama3:latest": "a" * 64}) as srv:
        srv.answers.wrong.add("HumanEval/1")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop("OLLAMA_HOST", None)
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "aibench",
                "harness=bigcode",
                "sandbox=docker",
                "model=ollama/llama3",
                f"model.host={srv.url}",
                "run.limit=3",
                "run.n_samples=2",
                "tracking.enabled=false",
                "run.progress=false",
                f"hydra.run.dir={tmp_path / 'run'}",
                f"paths.cache_dir={tmp_path / 'cache'}",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())["tasks"]["humaneval"]
    assert m["pass@k"]["pass@1"] == pytest.approx(2 / 3)
    manifest = json.loads((tmp_path / "run" / "run_manifest.json").read_text())
    assert manifest["sandbox"]["name"] == "docker"
    assert manifest["sandbox"]["docker"]["image_id"].startswith("sha256:")
    assert manifest["sandbox"]["docker"]["engine"]["Version"]


def test_deep_tree_left_in_scratch_does_not_spoil_the_next_sample(dsb):
    """1500 nested dirs (and one chmod'ed to 0) left in the container's /tmp: the next sample
    still starts clean (the wipe between samples is iterative, any depth or mode)."""
    nest = (
        "import os\nos.chdir('/tmp')\nos.mkdir('deep')\nos.chdir('deep')\nfor _ in range(1500):\n"
        "    os.mkdir('a')\n    os.chdir('a')\nos.chdir('/tmp')\nos.mkdir('/tmp/locked')\nos.chmod('/tmp/locked', 0)\n"
    )
    check = "import os\nassert [n for n in os.listdir('/tmp') if not os.getcwd().startswith('/tmp/' + n)] == []\n"
    got = dict(
        dsb.execute_many([("nest", prog(nest + GOOD_INC, timeout=15.0)), ("next", prog(check + GOOD_INC))], workers=1)
    )
    assert got["nest"].status is Status.PASSED, got["nest"].error
    assert got["next"].status is Status.PASSED, got["next"].error


def test_toolchain_preflight_runs_inside_the_image(dsb):
    """The runner's preflight asks the sandbox: the sandbox image has every toolchain; an image
    without node is reported in one line naming the fix, before any generation."""
    assert dsb.preflight(["python", "javascript", "java", "cpp"]) == []
    from aibench.errors import AibenchError
    from aibench.runner import preflight
    from aibench.sandboxes.docker import DockerSandbox

    api = client().api
    tag = f"aibench-test-nonode:{uuid.uuid4().hex[:8]}"
    # the sandbox image minus node: a copy of it with the node binary removed
    cid = api.create_container(
        dsb.image_ref,
        command=["sh", "-c", "rm -f $(command -v node) /usr/bin/nodejs"],
        user="0:0",
        host_config=api.create_host_config(ulimits=ulimits()),
    )["Id"]
    try:
        api.start(cid)
        assert api.wait(cid)["StatusCode"] == 0
        api.commit(cid, repository=tag.split(":")[0], tag=tag.split(":")[1])
        with DockerSandbox(image=tag) as sb:
            missing = sb.preflight(["javascript", "cpp"])
            assert len(missing) == 1 and missing[0].startswith("node not found"), missing
            assert "rebuild it with python -m aibench.sandboxes.docker build" in missing[0]
            with pytest.raises(AibenchError, match="toolchain missing for javascript"):
                preflight(sb, ["javascript"])
            assert not of_run(sb), "the preflight container was not removed"
    finally:
        api.remove_container(cid, force=True)
        try:
            api.remove_image(tag, force=True)
        except Exception:  # noqa: BLE001
            pass
