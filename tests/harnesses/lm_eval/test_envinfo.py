"""harness=lm_eval collects lm-eval's environment record ahead of time (aibench.harnesses.lm_eval.envinfo):
it must be exactly what lm-eval's own ``add_env_info`` puts in the results, and fall back to that
call when the early one failed."""

from __future__ import annotations

import importlib.util

import pytest
from support import requires

pytestmark = requires("lm_eval", importlib.util.find_spec("lm_eval") is not None, "pip install -e '.[lm-eval]'")


def lm_evals_own() -> dict:
    from lm_eval.loggers.utils import add_env_info

    own: dict = {}
    add_env_info(own)
    return own


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_the_early_record_is_lm_evals_own(mode):
    from aibench.harnesses.lm_eval.envinfo import EnvInfo

    early = EnvInfo(mode=mode)
    got = early.result()
    assert got is not None and got["pretty_env_info"]
    assert got == lm_evals_own()


def test_simple_evaluate_takes_the_early_record_and_falls_back_when_it_failed(monkeypatch):
    import lm_eval.evaluator as evaluator

    from aibench.harnesses.lm_eval import envinfo

    original = evaluator.add_env_info
    expected = lm_evals_own()
    for child, how in (
        (envinfo._CHILD, "from the child"),
        ("raise SystemExit(3)", "lm-eval's own call after the child failed"),
    ):
        monkeypatch.setattr(envinfo, "_CHILD", child)
        early = envinfo.EnvInfo(mode="process")
        storage: dict = {"results": {}}
        with early.applied():
            assert evaluator.add_env_info is not original
            evaluator.add_env_info(storage)
        assert evaluator.add_env_info is original  # restored
        assert storage == {"results": {}, **expected}, how


def test_the_cli_starts_it_before_the_config_only_for_lm_eval_runs(monkeypatch):
    from aibench.harnesses.lm_eval import envinfo

    monkeypatch.setattr(envinfo, "_early", None)
    envinfo.prestart(["harness=bigcode", "model=reference"])
    assert envinfo._early is None
    envinfo.prestart(["harness=lm_eval", "--cfg", "job"])
    assert envinfo._early is None
    envinfo.prestart(["harness=lm_eval", "harness.tasks=[x]"])
    early = envinfo._early
    assert early is not None
    assert envinfo.take() is early and envinfo._early is None  # the first run takes it
    later = envinfo.take()  # a later run (a sweep's next cell) starts its own
    assert later is not early
    early.close()
    later.close()


def test_a_run_that_fails_before_taking_the_record_leaves_no_process_behind(tmp_path):
    """The CLI starts the record's child process at its start; a run that fails before lm-eval asks
    for it (here: an unknown task) kills it on exit instead of leaving it to run on for ~20 s."""
    import os
    import subprocess
    import sys
    import uuid

    mark = uuid.uuid4().hex
    env = {**os.environ, "AIBENCH_TEST_MARK": mark, "PYTHONPATH": os.getcwd()}
    proc = subprocess.run(
        [sys.executable, "-m", "aibench", "harness=lm_eval", "harness.tasks=[no_such_task]", "tracking.enabled=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "unknown lm-eval task no_such_task" in proc.stderr, proc.stderr
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"AIBENCH_TEST_MARK={mark}".encode() in f.read():
                    left.append(pid)
        except OSError:
            pass
    assert left == [], left
