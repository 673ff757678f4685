"""Structured-config schemas, registered in Hydra's ConfigStore.

The top level (``run``, ``tracking``, ``paths``) is defined here. Each component module under
``aibench/models``, ``aibench/harnesses``, ``aibench/sandboxes`` and ``aibench/metrics`` declares its
own schema dataclass and registers it with ``@aibench.registry.register(group, name, Schema)``; they
are stored as ``schema/<group>/<name>`` and a group YAML extends one with
``defaults: [/schema/<group>/<name>@_here_]``. A typo or a wrong type in any key therefore fails at
compose time, naming the key. Component modules keep heavy imports inside functions, so importing
them all here stays cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import MISSING

# config group -> package holding its components
GROUP_PACKAGES = {
    "model": "aibench.models",
    "harness": "aibench.harnesses",
    "sandbox": "aibench.sandboxes",
    "metrics": "aibench.metrics",
}


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
    cache_dir: str = "outputs/cache"  # generation cache of the model backends


@dataclass
class AibenchConfig:
    model: Any = MISSING
    harness: Any = MISSING
    sandbox: Any = MISSING
    metrics: Any = MISSING
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def _component_modules(package: str):
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf == "base":
            continue
        yield importlib.import_module(info.name)


_registered = False
# schema class name -> its field names, and component ``_target_`` -> (schema name, field names):
# the valid keys an error message offers
SCHEMA_FIELDS: dict[str, list[str]] = {}
TARGET_FIELDS: dict[str, list[str]] = {}
TOP_LEVEL = {"run": RunConfig, "tracking": TrackingConfig, "paths": PathsConfig}


def _fields(schema: type) -> list[str]:
    return [f.name for f in dataclasses.fields(schema) if not f.name.startswith("_")]


def register_configs() -> None:
    """Register the top-level schema and every component's ``SCHEMAS`` (idempotent)."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="aibench_schema", node=AibenchConfig)
    for schema in TOP_LEVEL.values():
        SCHEMA_FIELDS[schema.__name__] = _fields(schema)
    from aibench import registry

    for package in GROUP_PACKAGES.values():
        for _ in _component_modules(package):  # importing a module runs its @register
            pass
    for group, schemas in registry.SCHEMAS.items():
        for name, schema in schemas.items():
            cs.store(group=f"schema/{group}", name=name, node=schema)
            SCHEMA_FIELDS[schema.__name__] = _fields(schema)
    for target, schema in registry.BY_TARGET.items():
        TARGET_FIELDS[target] = _fields(schema)
    _registered = True


def unknown_key_message(parent: str, key: str, valid: list[str]) -> str:
    """``unknown key run.limt (did you mean run.limit?); valid keys under run: ...``"""
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {parent}.{close[0]}?)" if close else ""
    return f"unknown key {parent}.{key}{hint}; valid keys under {parent}: {', '.join(valid)}"


def validate(cfg: Any) -> None:
    """What compose-time schemas let through: keys added with ``+`` (Hydra adds them even to a
    structured node) and out-of-range values. Raises AibenchError naming the key."""
    from aibench.errors import AibenchError

    register_configs()
    for section, schema in TOP_LEVEL.items():
        node = cfg.get(section)
        if node is None:
            continue
        valid = _fields(schema)
        for key in node.keys():
            if key not in valid:
                raise AibenchError(unknown_key_message(section, str(key), valid))
    for group in GROUP_PACKAGES:
        node = cfg.get(group)
        target = node.get("_target_") if node is not None and hasattr(node, "get") else None
        valid = TARGET_FIELDS.get(target) if isinstance(target, str) else None
        if valid is None:
            continue
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
