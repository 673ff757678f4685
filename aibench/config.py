"""Structured-config schemas: the top level here, each component's in its own module.

The top level (``run``, ``tracking``, ``paths``) is defined here. Each component module under
``aibench/models``, ``aibench/harnesses``, ``aibench/sandboxes`` and ``aibench/metrics`` declares its
own schema dataclass and registers it with ``@aibench.registry.register(group, name, Schema)``;
``aibench/components.py`` imports every such module and :func:`store_schemas` stores the schemas as
``schema/<group>/<name>``, which a group YAML extends with ``defaults: [/schema/<group>/<name>@_here_]``.
A typo or a wrong type in any key therefore fails at compose time, naming the key.
:func:`configure` builds a component's schema object from keyword arguments, checked the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from aibench.errors import AibenchError
from aibench.registry import BY_TARGET, SCHEMAS

GROUPS = ("model", "harness", "sandbox", "metrics")
# Hydra's flags that print the composed config or Hydra's own info instead of running a job
SHOW_ONLY_FLAGS = ("--cfg", "-c", "--info", "-i", "--resolve")


def runs_a_job(argv: list[str]) -> bool:
    """Whether ``python -m aibench ARGV`` runs a job (what may be started before Hydra composes)."""
    return not any(a in SHOW_ONLY_FLAGS for a in argv)


MISSING = "???"  # omegaconf.MISSING: a sandbox used from a bare Python imports this module without it


@dataclass
class RunConfig:
    n_samples: int = 1  # candidates per problem (BigCode --n_samples)
    limit: Optional[int] = None  # first N problems of each task (BigCode --limit)
    workers: int = 2  # programs executed at once
    seed: int = 0  # base seed (BigCode --seed default 0)
    resume: bool = False  # continue an interrupted run found in the run dir
    progress: bool = True  # show a progress bar on the console
    shard: Optional[str] = None  # "I/N": only the I-th of N slices of the problems (python -m aibench.merge joins them)


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: Optional[str] = None  # None: the local store under ${paths.output_root}
    experiment: str = "aibench"
    run_name: Optional[str] = None


@dataclass
class PathsConfig:
    output_root: str = "outputs"  # relative to the directory you run from
    cache_dir: str = "${paths.output_root}/cache"  # generation cache of the model backends


@dataclass
class AibenchConfig:
    model: Any = MISSING
    harness: Any = MISSING
    sandbox: Any = MISSING
    metrics: Any = MISSING
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


# schema class name -> its field names: the valid keys an error message offers
SCHEMA_FIELDS: dict[str, list[str]] = {}
TOP_LEVEL = {"run": RunConfig, "tracking": TrackingConfig, "paths": PathsConfig}


def _fields(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema) if not f.name.startswith("_")]


def store_schemas() -> None:
    """Store the top-level schema and every registered component schema in Hydra's ConfigStore
    (``aibench.components.register_configs`` imports the components first)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="aibench_schema", node=AibenchConfig)
    for schema in TOP_LEVEL.values():
        SCHEMA_FIELDS[schema.__name__] = _fields(schema)
    for group, schemas in SCHEMAS.items():
        for name, schema in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=schema)
            SCHEMA_FIELDS[schema.__name__] = _fields(schema)


def configure(component: Any, cfg: Any = None, settings: Mapping[str, Any] | None = None) -> Any:
    """The schema object ``component`` (a registered class or an instance of one) is built from:
    ``cfg`` (an instance of its schema, or a mapping) with keyword ``settings`` on top, checked
    against the schema by OmegaConf (an unknown key is a TypeError, a wrong type a ValueError).

    ``hydra.utils.instantiate`` passes the composed fields as keyword arguments; code that builds a
    component directly passes a schema object or keywords. Interpolations left in a schema default
    (``seed: ${run.seed}``) resolve against the top level's defaults; outside a composed run there
    is no generation cache unless ``cache_dir`` is given."""
    cls = component if isinstance(component, type) else type(component)
    schema = cls.Schema
    if isinstance(cfg, schema) and not settings:
        return cfg  # already built by configure (a subclass's constructor passing it up)
    if cfg is not None and not (dataclasses.is_dataclass(cfg) or isinstance(cfg, Mapping)):
        raise TypeError(
            f"{cls.__name__} takes its schema object ({schema.__name__}) or keyword arguments, "
            f"not a positional {type(cfg).__name__}"
        )
    try:
        from omegaconf import OmegaConf
        from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError
    except ImportError:  # the sandbox used from a bare Python (stdlib only): the dataclass itself
        return _without_omegaconf(schema, cfg, settings or {})
    node = OmegaConf.structured(schema)
    try:
        for layer in (cfg, settings):
            if layer is None:
                continue
            if dataclasses.is_dataclass(layer):
                layer = OmegaConf.to_container(OmegaConf.structured(layer), resolve=False)
            node = OmegaConf.merge(node, layer)
    except ConfigKeyError as exc:
        raise TypeError(f"{cls.__name__}: unexpected setting {exc.key!r} (not in {schema.__name__})") from None
    except ValidationError as exc:
        raise ValueError(f"{cls.__name__}: {exc.full_key}: {str(exc).splitlines()[0]}") from None
    context = {"run": RunConfig(), "paths": {"output_root": PathsConfig.output_root, "cache_dir": None}}
    root = OmegaConf.create({**context, "component": node})
    try:
        return OmegaConf.to_object(root.component)
    except MissingMandatoryValue as exc:
        key = str(exc.full_key).removeprefix("component.")
        raise AibenchError(f"{cls.config_group}.{key} is not set: pass {key}=...") from None


def _without_omegaconf(schema: type, cfg: Any, settings: Mapping[str, Any]) -> Any:
    """``configure`` where OmegaConf is not installed: the schema's own constructor (an unknown key is
    a TypeError), nested schemas given as mappings built from them; no type checks."""
    values = {} if cfg is None else dict(cfg) if isinstance(cfg, Mapping) else dict(vars(cfg))
    values.update(settings)
    for f in dataclasses.fields(schema):
        nested = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(nested) and isinstance(values.get(f.name), Mapping):
            values[f.name] = type(nested)(**values[f.name])
    return schema(**values)


def unknown_key_message(parent: str, key: str, valid: list[str]) -> str:
    """``unknown key run.limt (did you mean run.limit?); valid keys under run: ...``"""
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {parent}.{close[0]}?)" if close else ""
    return f"unknown key {parent}.{key}{hint}; valid keys under {parent}: {', '.join(valid)}"


def validate(cfg: Any) -> None:
    """What compose-time schemas let through: keys added with ``+`` (Hydra adds them even to a
    structured node) and out-of-range values. Raises AibenchError naming the key."""
    for section, schema in TOP_LEVEL.items():
        node = cfg.get(section)
        if node is None:
            continue
        valid = _fields(schema)
        for key in node.keys():
            if key not in valid:
                raise AibenchError(unknown_key_message(section, str(key), valid))
    for group in GROUPS:
        node = cfg.get(group)
        target = node.get("_target_") if node is not None and hasattr(node, "get") else None
        schema = BY_TARGET.get(target) if isinstance(target, str) else None
        if schema is None:
            continue
        valid = _fields(schema)
        for key in node.keys():
            if key != "_target_" and key not in valid:
                raise AibenchError(unknown_key_message(group, str(key), valid))
    run = cfg.run
    if run.limit is not None and run.limit < 1:
        raise AibenchError(
            f"run.limit must be at least 1 (got {run.limit}): the first N problems of each task, "
            "or run.limit=null for all"
        )
    if run.workers < 1:
        raise AibenchError(f"run.workers must be at least 1 (got {run.workers}): programs executed at once")
    if run.n_samples < 1:
        raise AibenchError(f"run.n_samples must be at least 1 (got {run.n_samples}): samples per problem")
    parse_shard(run.get("shard"))


def parse_shard(value: Any) -> tuple[int, int] | None:
    """``run.shard`` as ``(I, N)`` (1-based), or None when the run is not sharded; AibenchError otherwise."""
    from aibench.errors import AibenchError

    if value is None:
        return None
    text = str(value).strip()
    i, sep, n = text.partition("/")
    if sep and i.strip().isdigit() and n.strip().isdigit():
        index, count = int(i), int(n)
        if count >= 1 and 1 <= index <= count:
            return index, count
    raise AibenchError(
        f"run.shard must be I/N with 1 <= I <= N (got {text!r}): e.g. run.shard=2/4 evaluates the second of "
        "four slices of the problems, or run.shard=null for all"
    )


def shard_rank(task: str, task_id: str) -> str:
    """A problem's place in the shard order: a hash of its identity (task, task_id), the same on
    every machine and in every run, whatever the dataset order."""
    import hashlib

    return hashlib.sha256(f"{task}\0{task_id}".encode()).hexdigest()


def shard_of(items: list[Any], index: int, count: int) -> list[Any]:
    """The ``index``-th (1-based) of ``count`` slices of ``items`` (objects with ``task`` and
    ``task_id``), in their original order: items are ranked by :func:`shard_rank` and dealt out
    round-robin, so every item lands in exactly one slice and slice sizes differ by at most one."""
    ranked = sorted(range(len(items)), key=lambda j: shard_rank(items[j].task, items[j].task_id))
    chosen = {j for pos, j in enumerate(ranked) if pos % count == index - 1}
    return [item for j, item in enumerate(items) if j in chosen]


def initialize_config():
    """A Hydra initialize context on :func:`config_dir` (for ``compose()`` outside ``hydra.main``)."""
    from hydra import initialize_config_dir, initialize_config_module

    where = config_dir()
    if where.startswith("pkg://"):
        return initialize_config_module(config_module=where[len("pkg://") :], version_base=None)
    return initialize_config_dir(config_dir=where, version_base=None)


def config_dir() -> str:
    """Where the ``conf/`` tree is: packaged as ``aibench.conf`` in a wheel, else the checkout's."""
    if importlib.util.find_spec("aibench.conf") is not None:
        return "pkg://aibench.conf"
    return str(Path(__file__).resolve().parent.parent / "conf")
