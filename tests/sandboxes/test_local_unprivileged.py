"""The sandbox run by an ordinary user (most users are not root): verdicts stay right and, where
the kernel allows unprivileged user namespaces, network and filesystem isolation still hold."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USER = "aibench-test"
PYTHON = "/usr/bin/python3"  # the distribution's interpreter: the sandbox itself needs only the stdlib

SCRIPT = r"""
import json, os
import aibench
from aibench.sandboxes.local import LocalSandbox
from aibench.types import Program
tasks = os.path.join(os.path.dirname(aibench.__file__), "harnesses", "lm_eval", "tasks")  # visible: masked
sb = LocalSandbox(hidden_paths=[tasks])
progs = {
    "good": Program("python", "def inc(x):\n    return x + 1\n", "assert inc(1) == 2", 3.0, entry_point="inc"),
    "exit0": Program("python", "import sys\nsys.exit(0)\ndef inc(x):\n    return x + 1\n", "assert inc(1) == 2", 3.0),
    "loop": Program("python", "while True:\n    pass\n", "", 1.0),
    "stray": Program("python", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\n", "", 3.0),
    "net": Program("python", "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\n", "", 3.0),
    "write": Program("python", "open(%r, 'w').write('x')\n", "", 3.0),
    "hidden": Program("python", f"import os\nassert os.listdir({tasks!r}) == []\n", "", 3.0),
}
out = {name: sb.execute(p).to_dict() for name, p in progs.items()}
out["isolation"] = sb.describe()["isolation"]
sb.close()
print(json.dumps(out))
"""


def _userns_allowed(user: str) -> bool:
    r = subprocess.run(["runuser", "-u", user, "--", "unshare", "-U", "-r", "-n", "true"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the unprivileged test user")
@pytest.mark.skipif(not os.path.exists(PYTHON), reason=f"{PYTHON} not installed")
def test_sandbox_as_ordinary_user():
    # pytest's tmp_path lives under a 0700 directory of root's: use a fresh world-traversable one
    tmp_path = Path(tempfile.mkdtemp(prefix="aibench-unpriv-", dir="/tmp"))
    try:
        _run_as_user(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _run_as_user(tmp_path: Path) -> None:
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", USER], check=True)
    work = tmp_path / "work"
    shutil.copytree(REPO / "aibench", work / "aibench", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "outside.txt"  # a path the user could write without the sandbox
    tmp_path.chmod(0o777)
    (work / "t.py").write_text(SCRIPT.replace("%r", repr(str(target))))
    for p in [tmp_path, *tmp_path.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o644)
    proc = subprocess.run(
        ["runuser", "-u", USER, "--", PYTHON, "t.py"], cwd=work, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["good"]["status"] == "passed"
    assert out["exit0"]["status"] == "failed"
    assert out["loop"]["status"] == "timeout"
    assert out["stray"]["detail"]["strays_killed"] >= 1
    assert not out["net"]["passed"] and not out["write"]["passed"] or not _userns_allowed(USER)
    iso = out["isolation"]
    assert iso["uid"] != 0
    if _userns_allowed(USER):
        assert iso["user_namespace"]["enforced"] and iso["network"]["enforced"] and iso["filesystem"]["enforced"]
        assert out["hidden"]["status"] == "passed" and iso["hidden_paths"][0].endswith("/lm_eval/tasks")
        assert not target.exists()
    left = subprocess.run(["pgrep", "-u", USER], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes of {USER} left running: {left}"
