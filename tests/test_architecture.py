"""Imports flow one way: executor -> runner -> {task suites, models, sandboxes, metrics} -> core
types; the four component packages are peers on one floor and do not import each other (task suites
may use the pass@k estimator); entry points (``__main__`` modules, the module lm-eval loads) sit on top.
Every registered component is imported by name in ``aibench/components.py``; a private module
(``_name``) is imported only from inside its own package."""

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "aibench"

# layer of each top-level part; a module may import only from its own part or lower layers
LAYERS = {
    "types": 0,
    "errors": 0,
    "console": 0,
    "registry": 0,
    "outputs": 1,
    "manifest": 1,
    "config": 1,
    "models": 2,
    "sandboxes": 2,
    "metrics": 2,
    "harnesses": 2,
    "tracking": 2,
    "cli": 2,
    "runner": 3,
    "components": 3,  # the list of registered modules: imports every component package
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
    """Every aibench module ``path`` imports, at any depth (``from aibench.x import y`` counts as
    ``aibench.x.y`` when ``y`` is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aibench"):
            submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULE_NAMES
            found.update(submodules or {node.module})
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("aibench"))
    return found


def modules():
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


MODULE_NAMES = {name for name, _ in modules()}


def registering_modules() -> set[str]:
    """Modules with a class decorated ``@register(...)``."""
    found = set()
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                for dec in node.decorator_list:
                    if (
                        isinstance(dec, ast.Call)
                        and getattr(dec.func, "id", getattr(dec.func, "attr", "")) == "register"
                    ):
                        found.add(name)
    return found


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


def test_components_lists_exactly_the_registered_modules():
    registered = registering_modules()
    assert {"aibench.models.ollama", "aibench.sandboxes.local", "aibench.metrics.pass_at_k"} <= registered
    listed = aibench_imports(PKG / "components.py") - {"aibench.config"}
    assert listed == registered, (
        f"not in aibench/components.py: {sorted(registered - listed)}; listed but registering nothing: "
        f"{sorted(listed - registered)}"
    )


def test_component_packages_are_imported_only_by_name():
    """No module finds components by walking a package or importing a name held in a string."""
    for name, path in modules():
        if part(name) in ("config", "components", "registry", "executor", "runner", "__main__"):
            tree = ast.parse(path.read_text(), str(path))
            calls = {
                f"{n.func.value.id}.{n.func.attr}"
                for n in ast.walk(tree)
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
            }
            assert not calls & {"importlib.import_module", "pkgutil.walk_packages", "pkgutil.iter_modules"}, name


def test_registry_import_registers_every_component_and_stays_light():
    code = (
        "import sys; from aibench.components import register_configs; register_configs()\n"
        "from aibench.registry import BY_TARGET\n"
        "print(sorted({t.rsplit('.', 1)[0] for t in BY_TARGET}))\n"
        "heavy = ('torch', 'transformers', 'mlflow', 'docker', 'lm_eval', 'datasets', 'requests')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PKG.parent, timeout=120)
    assert proc.returncode == 0, proc.stderr
    targets, heavy = proc.stdout.strip().splitlines()
    assert set(ast.literal_eval(targets)) == registering_modules()
    assert heavy == "[]"


def test_private_modules_are_imported_only_inside_their_package():
    bad = []
    for name, path in modules():
        for imported in aibench_imports(path):
            parts = imported.split(".")
            private = [i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")]
            if not private:
                continue
            package = ".".join(parts[: private[0]])
            if not (name == package or name.startswith(package + ".")):
                bad.append(f"{name} imports {imported}")
    assert not bad, bad
