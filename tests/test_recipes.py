"""The README's "Extending aibench" recipes, each followed with a tiny component from the test tree
(``tests/recipes/``: one module, and one YAML in a config dir put on Hydra's search path) and run
end to end through the executor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose

from aibench.components import register_configs
from aibench.config import initialize_config
from aibench.executor import run

RECIPES = Path(__file__).resolve().parent / "recipes"


def run_with(tmp_path: Path, *overrides: str):
    """One composed run, as ``python -m aibench hydra.searchpath=[file://tests/recipes/conf] ...``."""
    register_configs()  # stores the schemas registered so far, the recipe's too
    with initialize_config():
        cfg = compose(
            "config",
            overrides=[
                f"hydra.searchpath=[file://{RECIPES / 'conf'}]",
                "tracking.enabled=false",
                "run.progress=false",
                f"paths.output_root={tmp_path}",
                f"paths.cache_dir={tmp_path / 'cache'}",
                *overrides,
            ],
        )
    report = run(cfg, run_dir=str(tmp_path / "run"))
    manifest = json.loads((tmp_path / "run" / "run_manifest.json").read_text())
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    return report, manifest, results


def test_a_model_backend_is_one_module_and_one_yaml(tmp_path):
    from recipes.tiny_model import TinyModel  # noqa: F401  # importing the module registers it

    report, manifest, results = run_with(tmp_path, "model=tiny/base", "run.limit=3")
    assert report.model == "tiny/tiny-1"  # name from the YAML
    assert manifest["model"]["params"]["temperature"] == 0.2  # the shared sampling schema's default
    passed = {r["task_id"]: r["passed"] for r in results}
    assert passed == {"HumanEval/0": True, "HumanEval/1": False, "HumanEval/2": True}  # wrong: from the YAML
    assert report.tasks["humaneval"]["pass@k"]["pass@1"] == pytest.approx(2 / 3)


def test_a_sandbox_is_one_module_and_one_yaml(tmp_path):
    from recipes.tiny_sandbox import TinySandbox  # noqa: F401

    report, manifest, results = run_with(tmp_path, "sandbox=tiny", "run.limit=3")
    assert manifest["sandbox"] == {"name": "tiny", "timeout_scale": 2.0}  # the YAML's value
    assert [r["detail"].get("ran_in") for r in results] == ["tiny"] * 3
    assert report.tasks["humaneval"]["pass@k"]["pass@1"] == 1.0


def test_a_task_is_one_module(tmp_path, monkeypatch):
    import aibench.harnesses.bigcode as package
    from aibench.harnesses.bigcode.harness import task_registry

    monkeypatch.setattr(package, "__path__", [*package.__path__, str(RECIPES / "tasks")])
    task_registry.cache_clear()
    try:
        report, _, results = run_with(tmp_path, "harness.tasks=[tiny_arith]")
    finally:
        task_registry.cache_clear()
    assert sorted(r["task_id"] for r in results) == ["TinyArith/0", "TinyArith/1", "TinyArith/2"]
    assert all(r["passed"] for r in results)  # model=reference: the task's canonical solutions
    assert report.tasks["tiny_arith"]["pass@k"]["pass@1"] == 1.0


def test_a_language_is_one_module_and_its_table_line(tmp_path):
    """In a copy of the package (the fork server imports runners from the package itself): the
    recipe's module in ``aibench/sandboxes/languages/`` and its line in ``_MODULES``; the task that
    uses it dropped into ``aibench/harnesses/bigcode/``; then ``python -m aibench`` from the copy."""
    import os
    import re
    import shutil
    import subprocess
    import sys

    work = tmp_path / "work"
    shutil.copytree(RECIPES.parent.parent / "aibench", work / "aibench", ignore=shutil.ignore_patterns("__pycache__"))
    languages = work / "aibench" / "sandboxes" / "languages"
    shutil.copy(RECIPES / "languages" / "shell.py", languages / "shell.py")
    table = languages / "__init__.py"
    text, n = re.subn(
        r"^_MODULES = \{\n", '\\g<0>    "shell": "aibench.sandboxes.languages.shell",\n', table.read_text(), flags=re.M
    )
    assert n == 1, "the languages table (_MODULES) moved: update the README recipe and this test"
    table.write_text(text)
    shutil.copy(RECIPES / "tasks" / "tiny_shell.py", work / "aibench" / "harnesses" / "bigcode" / "tiny_shell.py")

    env = dict(os.environ, PYTHONPATH=str(work))
    cmd = [sys.executable, "-m", "aibench", "harness.tasks=[tiny_shell]", "tracking.enabled=false"]
    cmd += ["run.progress=false", f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "run" / "run_manifest.json").read_text())
    assert manifest["sandbox"]["per_language"]["shell"]["runner"]["semantics"].startswith("sh program.sh")
    assert list(manifest["sandbox"]["per_language"]) == ["shell"]  # the task's language, the only one described
    results = {r["task_id"]: r for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())}
    assert {k: r["status"] for k, r in results.items()} == {
        "TinyShell/0": "passed",
        "TinyShell/1": "passed",
        "TinyShell/2": "failed",  # exit 0 before the tests
    }
    assert results["TinyShell/2"]["detail"]["exit0_rule_passed"] is True
