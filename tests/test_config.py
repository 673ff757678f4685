"""Every setting is declared once, in its schema: constructors take the schema object (or keyword
arguments checked against it), and the YAML files under conf/ hold only what differs from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from aibench.components import register_configs
from aibench.config import configure
from aibench.errors import AibenchError
from aibench.metrics.pass_at_k import PassAtK
from aibench.models.ollama import OllamaConfig, OllamaModel
from aibench.registry import SCHEMAS

CONF = Path(__file__).resolve().parent.parent / "conf"
register_configs()


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _schema_of(path: Path) -> type | None:
    """The schema a group YAML extends, directly or through another YAML of its group."""
    doc = yaml.safe_load(path.read_text()) or {}
    for entry in doc.get("defaults", []):
        if not isinstance(entry, str) or "@_here_" not in entry:
            continue
        target = entry.split("@", 1)[0].lstrip("/")
        if target.startswith("schema/"):
            _, group, name = target.split("/", 2)
            return SCHEMAS[group][name]
        return _schema_of(CONF / f"{target}.yaml")
    return None


GROUP_FILES = sorted(p for p in CONF.glob("*/**/*.yaml"))


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: str(p.relative_to(CONF)))
def test_yaml_sets_only_what_differs_from_its_schema_and_base(path):
    schema = _schema_of(path)
    assert schema is not None, f"{path} extends no /schema/<group>/<name>"
    doc = yaml.safe_load(path.read_text()) or {}
    inherited = {f.name: _default(f) for f in dataclasses.fields(schema)}
    for entry in doc.get("defaults", []):  # a model file over its base file: the base's values too
        target = entry.split("@", 1)[0].lstrip("/") if isinstance(entry, str) else ""
        if target and target != "_self_" and not target.startswith("schema/"):
            inherited |= {k: v for k, v in (yaml.safe_load((CONF / f"{target}.yaml").read_text()) or {}).items()}
    repeated = {k: v for k, v in doc.items() if k != "defaults" and k in inherited and inherited[k] == v}
    assert not repeated, f"{path.relative_to(CONF)} repeats defaults: {repeated}"


def test_top_level_config_sets_only_the_groups():
    doc = yaml.safe_load((CONF / "config.yaml").read_text())
    assert set(doc) == {"defaults", "hydra"}


def test_keywords_are_checked_against_the_schema():
    with pytest.raises(TypeError, match="tempreature"):
        OllamaModel(name="m", tempreature=0.5)
    with pytest.raises(ValueError, match="max_tokens"):
        OllamaModel(name="m", max_tokens="many")
    with pytest.raises(AibenchError, match="model.name is not set"):
        OllamaModel()
    with pytest.raises(ValueError, match="k"):
        PassAtK(k="abc")
    with pytest.raises(TypeError, match="schema object"):
        PassAtK([1, 10])  # settings are keywords (or the schema object)


def test_schema_object_keywords_and_hydra_build_the_same_component():
    from hydra.utils import instantiate

    cfg = OllamaConfig(name="m", temperature=0.7, options={"min_p": 0.1})
    by_object = OllamaModel(cfg)
    by_keywords = OllamaModel(name="m", temperature=0.7, options={"min_p": 0.1})
    node = {"_target_": "aibench.models.ollama.OllamaModel", "name": "m", "temperature": 0.7, "options": {"min_p": 0.1}}
    by_hydra = instantiate(node, _convert_="all")
    for m in (by_object, by_keywords, by_hydra):
        assert (m.model, m.temperature, m.extra_options, m.num_ctx) == ("m", 0.7, {"min_p": 0.1}, 4096)
        assert m.params() == by_object.params()
        m.close()


def test_defaults_come_from_the_schema_and_interpolations_resolve_outside_a_run():
    built = configure(OllamaModel, None, {"name": "m"})
    assert isinstance(built, OllamaConfig)
    assert built.temperature == OllamaConfig.temperature and built.seed == 0 and built.cache_dir is None
    assert configure(OllamaModel, built) is built  # a subclass's constructor passing it up
    assert PassAtK().k == [1, 10, 100]
    assert PassAtK(k=[10, 1]).k == [1, 10]


def test_a_sandbox_is_built_without_omegaconf():
    """The sandbox needs only the stdlib (tests/sandboxes/test_local_unprivileged.py runs it with the
    distribution's Python): without OmegaConf, configure falls back to the schema's own constructor."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['omegaconf'] = None\n"
        "from aibench.sandboxes.local import LocalSandbox\n"
        "sb = LocalSandbox(judge='inprocess', limits={'memory_bytes': 1 << 29})\n"
        "print(sb.judge, sb.limits.memory_bytes, sb.limits.max_processes)\n"
        "try:\n    LocalSandbox(jugde='inprocess')\nexcept TypeError as e:\n    print('TypeError')\n"
        "print('omegaconf' in sys.modules and sys.modules['omegaconf'] is not None)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=CONF.parent, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["inprocess", str(1 << 29), "64", "TypeError", "False"]
