"""BigCode's own task methods, compiled from the installed ``bigcode_eval`` sources without importing
``bigcode_eval.tasks`` (whose ``__init__`` imports every task, datasets, numpy, ...: ~10-30 s).

``bigcode_class(module, cls)`` returns a class with the task's ``get_prompt``, ``get_reference``,
``get_dataset``, ``postprocess_generation`` and the base ``Task._stop_at_stop_token``, exactly as
written upstream; set ``dataset`` and ``stop_words`` on an instance. ``init_stop_words(module, cls)``
is the source of the stop-words expression in the task's ``__init__``."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

from support import requires

# BigCode's own task code (the wheel in ../shared/wheels) and the hub client (datasets, which the
# bigcode and lm-eval extras bring): tests comparing with them run where those are installed
BIGCODE = requires(
    "bigcode",
    importlib.util.find_spec("bigcode_eval") is not None,
    "pip install ../shared/wheels/bigcode_eval-0.0.0-py3-none-any.whl (see README)",
)
DATASETS = requires(
    "bigcode", importlib.util.find_spec("datasets") is not None, "pip install datasets (the bigcode and lm-eval extras)"
)


METHODS = ("get_prompt", "get_reference", "get_dataset", "postprocess_generation", "remove_last_block")


def _root() -> Path:
    spec = importlib.util.find_spec("bigcode_eval")
    assert spec is not None and spec.origin, "bigcode_eval is not installed"
    return Path(spec.origin).parent


def _class(module: str, cls: str) -> ast.ClassDef:
    tree = ast.parse((_root() / "tasks" / f"{module}.py").read_text())
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)


def bigcode_class(module: str, cls: str) -> type:
    body = [n for n in _class(module, cls).body if isinstance(n, ast.FunctionDef) and n.name in METHODS]
    base = next(
        n for n in ast.parse((_root() / "base.py").read_text()).body if isinstance(n, ast.ClassDef) and n.name == "Task"
    )
    body += [n for n in base.body if isinstance(n, ast.FunctionDef) and n.name == "_stop_at_stop_token"]
    new = ast.ClassDef(name=cls, bases=[], keywords=[], body=body, decorator_list=[], type_params=[])
    module_ast = ast.fix_missing_locations(ast.Module(body=[new], type_ignores=[]))
    namespace: dict = {"re": re}
    exec(compile(module_ast, f"<bigcode_eval {module}.{cls}>", "exec"), namespace)  # noqa: S102 - the installed package's source
    return namespace[cls]


def init_stop_words(module: str, cls: str) -> str:
    """The stop-words expression of the task's ``__init__`` (an ``stop_words=`` argument or assignment)."""
    init = next(n for n in _class(module, cls).body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    for node in ast.walk(init):
        if isinstance(node, ast.keyword) and node.arg == "stop_words" and not isinstance(node.value, ast.Name):
            return ast.unparse(node.value)
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "stop_words"
        ):
            return ast.unparse(node.value)
    raise AssertionError(f"no stop_words in {module}.{cls}.__init__")


def multiple_e_evaluator(language: str):
    """MultiPL-E's ``eval_<language>.eval_script`` from the installed package's
    ``multiple_metrics`` directory, imported as a private package (not through
    ``bigcode_eval.tasks``)."""
    import importlib
    import sys
    import types

    name = "_aibench_multiple_metrics"
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(_root() / "tasks" / "custom_metrics" / "multiple_metrics")]
        sys.modules[name] = pkg
    return importlib.import_module(f"{name}.eval_{language}").eval_script
