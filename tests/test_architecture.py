"""Imports flow one way: executor -> runner -> {task suites, models, sandboxes, metrics} -> core
types; the four component packages are peers on one floor and do not import each other (task suites
may use the pass@k estimator); entry points (``__main__`` modules, the module lm-eval loads) sit on top."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "aibench"

# layer of each top-level part; a module may import only from its own part or lower layers
LAYERS = {
    "types": 0,
    "errors": 0,
    "console": 0,
    "outputs": 1,
    "manifest": 1,
    "config": 1,
    "registry": 1,
    "models": 2,
    "sandboxes": 2,
    "metrics": 2,
    "harnesses": 2,
    "tracking": 2,
    "cli": 2,
    "runner": 3,
    "merge": 4,  # joins the run dirs of a sharded run (scores with the runner's code)
    "report": 4,  # the sweep comparison report, over finished run dirs
    "executor": 4,
    "__main__": 5,
    "sweep": 5,  # the Hydra callback of a multirun (tracking's sweep helpers, the comparison report)
}
# the component packages are peers (one layer): they may not import each other, except
PEER_IMPORTS = {("harnesses", "aibench.metrics.pass_at_k")}  # lm-eval's pass@k metric calls the estimator
# modules run by something outside aibench: they may import anything
ENTRY_POINTS = {
    "aibench.__main__",
    "aibench.harnesses.bigcode.__main__",
    "aibench.harnesses.lm_eval.tasks.utils",  # loaded by lm-eval from the task YAMLs
}


def part(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def aibench_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aibench"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("aibench"))
    return found


def modules():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def test_every_part_has_a_layer():
    parts = {part(name) for name, _ in modules()} - {"__init__"}
    assert parts <= set(LAYERS), parts - set(LAYERS)


def test_imports_go_downward_only():
    bad = []
    for name, path in modules():
        src = part(name)
        if src == "__init__" or name in ENTRY_POINTS:
            continue
        for imported in aibench_imports(path):
            dst = part(imported)
            if dst == "__init__" or dst == src:
                continue
            if LAYERS[dst] >= LAYERS[src]:
                if (src, imported) not in PEER_IMPORTS:
                    bad.append(f"{name} imports {imported}")
    assert not bad, bad


def test_task_suites_import_neither_models_nor_sandboxes():
    for name, path in modules():
        if part(name) == "harnesses" and name not in ENTRY_POINTS:
            assert not {i for i in aibench_imports(path) if part(i) in ("models", "sandboxes")}, name


def test_no_import_cycles():
    graph = {name: {i for i in aibench_imports(path) if i != name} for name, path in modules()}
    visiting, done = set(), set()

    def visit(node, trail):
        if node in done:
            return
        assert node not in visiting, "cycle: " + " -> ".join(trail + [node])
        visiting.add(node)
        for nxt in graph.get(node, ()):
            visit(nxt, trail + [node])
        visiting.discard(node)
        done.add(node)

    for node in graph:
        visit(node, [])
