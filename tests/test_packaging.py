"""A non-editable install (wheel) into a venv outside the checkout still runs ``python -m aibench``:
the Hydra config tree conf/ ships inside the wheel as ``aibench.conf``.

The wheel is built the way pip builds it for a user: with build isolation, so the build backend
declared in pyproject.toml is fetched as needed. A venv made by ``python3 -m venv`` on Python 3.11
has setuptools 65.5 and no ``wheel`` package; the build must not depend on either."""

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from support import check_run

REPO = Path(__file__).resolve().parent.parent


def test_check_run_shows_the_failing_commands_output():
    with pytest.raises(AssertionError) as info:
        check_run([sys.executable, "-c", "import sys; print('to-stdout'); sys.exit('to-stderr')"])
    message = str(info.value)
    assert "exit 1" in message and "to-stdout" in message and "to-stderr" in message


@pytest.mark.slow
def test_wheel_in_fresh_venv_runs_outside_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    check_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, REPO], timeout=600)
    (wheel,) = wheels.glob("aibench-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = check_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # the dependencies come from this interpreter's site-packages (plain path entries, so the
    # editable install of the checkout is NOT visible); aibench itself only from the wheel
    deps = [p for p in site.getsitepackages() if Path(p).exists()]
    (Path(purelib) / "_aibench_test_deps.pth").write_text("\n".join(deps) + "\n")
    check_run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib, wheel], timeout=300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = (
        "import aibench, aibench.conf, os; print(aibench.__file__); "
        "print(os.path.exists(os.path.join(os.path.dirname(aibench.conf.__file__), 'model', 'reference.yaml')))"
    )
    where = check_run([py, "-c", probe], cwd=work).stdout.split()
    assert where[0].startswith(purelib) and where[1] == "True", where

    check_run(
        [py, "-m", "aibench", "run.limit=2", "tracking.enabled=false", "run.progress=false"], cwd=work, timeout=300
    )
    (metrics,) = work.glob("outputs/*/*/metrics.json")
    assert json.loads(metrics.read_text())["tasks"]["humaneval"]["pass@k"] == {"pass@1": 1.0}


@pytest.mark.slow
def test_wheel_builds_with_the_setuptools_a_fresh_venv_has(tmp_path):
    """The exact failure of a fresh clone: ``python3 -m venv`` (setuptools 65.5, no wheel)."""
    env_dir = tmp_path / "fresh"
    check_run([sys.executable, "-m", "venv", env_dir], timeout=300)
    py = env_dir / "bin" / "python"
    has_wheel = subprocess.run([py, "-c", "import wheel"], capture_output=True).returncode == 0
    print("fresh venv has the wheel package:", has_wheel)
    check_run([py, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "w", REPO], timeout=600)
    assert list((tmp_path / "w").glob("aibench-*.whl"))
