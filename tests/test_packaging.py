"""A non-editable install (wheel) into a venv outside the checkout still runs ``python -m aibench``:
the Hydra config tree conf/ ships inside the wheel as ``aibench.conf``."""

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_in_fresh_venv_runs_outside_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (wheel,) = wheels.glob("aibench-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies come from this interpreter's site-packages (plain path entries, so the
    # editable install of the checkout is NOT visible); aibench itself only from the wheel
    deps = [p for p in site.getsitepackages() if Path(p).exists()]
    (Path(purelib) / "_aibench_test_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", purelib, str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([py, "-c", "import aibench, aibench.conf, os; print(aibench.__file__); "
                            "print(os.path.exists(os.path.join(os.path.dirname(aibench.conf.__file__), 'model', 'reference.yaml')))"],
                           cwd=work, check=True, capture_output=True, text=True).stdout.split()
    assert where[0].startswith(purelib) and where[1] == "True", where

    proc = subprocess.run([py, "-m", "aibench", "run.limit=2", "tracking.enabled=false", "run.progress=false"],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (metrics,) = work.glob("outputs/*/*/metrics.json")
    assert json.loads(metrics.read_text())["tasks"]["humaneval"]["pass@k"] == {"pass@1": 1.0}
