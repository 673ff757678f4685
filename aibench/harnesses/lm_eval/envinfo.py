"""lm-eval's environment record, collected while the run works instead of after it.

``lm_eval.simple_evaluate`` ends with ``add_env_info(results)``: it imports torch and transformers
and runs ``torch.utils.collect_env`` (a dozen subprocesses: pip, conda, nvidia-smi, lscpu...),
~2.5 s here, on the critical path after the last request. :class:`EnvInfo` runs lm-eval's own
``add_env_info`` ahead of time, while the datasets load and the requests go out:

* in a child process (same interpreter, environment and working directory, below this process's
  priority) when torch is not imported here yet: the imports run on another core without taking
  this process's GIL;
* in a thread when this process has torch already (then the call mostly waits on subprocesses).

:meth:`EnvInfo.applied` makes ``simple_evaluate`` take that result: the same keys with the same
values in ``results``. If it failed, lm-eval's own call runs as before. ``python -m aibench
harness=lm_eval ...`` starts it at process start (:func:`prestart`), before Hydra composes the config.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
from typing import Any, Iterator

# The child: lm-eval's own add_env_info from lm-eval's own loggers/utils.py, loaded by itself (the
# package lm_eval.loggers imports the evaluation tracker and with it datasets, ~1.5 s that
# add_env_info never uses; if the file moved, the plain import). It first lowers its own priority:
# the task loading here (CPU) goes first, the child catches up while the requests wait on the server
# (no preexec_fn: not safe with threads running here).
_CHILD = """
import os
os.nice(10)
import importlib.util, json, sys
try:
    spec = importlib.util.find_spec("lm_eval")
    path = os.path.join(os.path.dirname(spec.origin), "loggers", "utils.py")
    loader_spec = importlib.util.spec_from_file_location("aibench_lm_eval_loggers_utils", path)
    utils = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(utils)
    add_env_info = utils.add_env_info
except Exception:
    from lm_eval.loggers.utils import add_env_info
info = {}
add_env_info(info)
json.dump(info, sys.stdout)
"""


class EnvInfo:
    def __init__(self, mode: str | None = None) -> None:
        """``mode``: "process" or "thread"; None picks (see the module docstring)."""
        self._info: dict[str, Any] | None = None
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self.mode = mode or ("thread" if "torch" in sys.modules else "process")
        if self.mode == "thread":
            self._thread = threading.Thread(target=self._in_thread, name="aibench-lm-eval-env-info", daemon=True)
            self._thread.start()
            return
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD],
                cwd=os.getcwd(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            self._proc = None
            return
        atexit.register(self.close)  # a run that ends before taking the record leaves no process behind

    def _in_thread(self) -> None:
        try:
            from lm_eval.loggers.utils import add_env_info

            info: dict[str, Any] = {}
            add_env_info(info)
            self._info = info
        except Exception:  # noqa: BLE001 - lm-eval's own call runs instead
            self._info = None

    def result(self, timeout: float = 120.0) -> dict[str, Any] | None:
        """lm-eval's record, or None (failed, timed out, not started)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return None if self._thread.is_alive() else self._info
        if self._proc is None:
            return None
        try:
            out, _ = self._proc.communicate(timeout=timeout)
            info = json.loads(out) if self._proc.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError):
            self._proc.kill()
            self._proc.wait()
            info = None
        self._proc = None
        return info if isinstance(info, dict) else None

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Within: lm-eval's evaluator takes this record instead of collecting its own."""
        import lm_eval.evaluator as evaluator

        original = evaluator.add_env_info

        def add_env_info(storage: dict[str, Any]) -> None:
            info = self.result()
            if info is None:
                original(storage)
            else:
                storage.update(info)

        original_git = evaluator.get_git_commit_hash
        evaluator.add_env_info = add_env_info
        evaluator.get_git_commit_hash = quiet_git_commit_hash
        try:
            yield
        finally:
            evaluator.add_env_info = original
            evaluator.get_git_commit_hash = original_git
            self.close()


def quiet_git_commit_hash() -> str | None:
    """lm-eval's ``get_git_commit_hash`` (``git describe --always`` in the working directory, else
    the commit of a ``.git`` there) without git's "fatal: not a git repository" on the user's terminal."""
    try:
        return subprocess.check_output(["git", "describe", "--always"], stderr=subprocess.DEVNULL).strip().decode()
    except (subprocess.CalledProcessError, FileNotFoundError):
        from lm_eval.loggers.utils import get_commit_from_path

        return get_commit_from_path(os.getcwd())


_early: EnvInfo | None = None


def prestart(argv: list[str]) -> None:
    """At process start: when the command line picks ``harness=lm_eval`` for a run, start the child
    now (the first run's :func:`take` gets it)."""
    from aibench.config import runs_a_job

    global _early
    if "harness=lm_eval" in argv and runs_a_job(argv):
        _early = EnvInfo()


def take() -> EnvInfo:
    """The record started at process start, else a new one."""
    global _early
    info, _early = _early, None
    return info if info is not None else EnvInfo()
