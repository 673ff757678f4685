"""Structured-config schemas, registered in Hydra's ConfigStore.

The top level (``run``, ``tracking``, ``paths``) is defined here. Each component module under
``aibench/models``, ``aibench/harnesses``, ``aibench/sandboxes`` and ``aibench/metrics`` declares its
own schema dataclass(es) in a module-level ``SCHEMAS = {"name": Dataclass}``; they are registered as
``schema/<group>/<name>`` and a group YAML extends one with
``defaults: [/schema/<group>/<name>@_here_]``. A typo or a wrong type in any key therefore fails at
compose time, naming the key. Component modules keep heavy imports inside functions, so importing
them all here stays cheap.
"""

from __future__ import annotations

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


def register_configs() -> None:
    """Register the top-level schema and every component's ``SCHEMAS`` (idempotent)."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="aibench_schema", node=AibenchConfig)
    for group, package in GROUP_PACKAGES.items():
        for module in _component_modules(package):
            for name, schema in getattr(module, "SCHEMAS", {}).items():
                cs.store(group=f"schema/{group}", name=name, node=schema)
    _registered = True


def initialize_config():
    """A Hydra initialize context on :func:`config_dir` (for ``compose()`` outside ``hydra.main``)."""
    from hydra import initialize_config_dir, initialize_config_module

    where = config_dir()
    if where.startswith("pkg://"):
        return initialize_config_module(config_module=where[len("pkg://"):], version_base=None)
    return initialize_config_dir(config_dir=where, version_base=None)


def config_dir() -> str:
    """Where the ``conf/`` tree is: packaged as ``aibench.conf`` in a wheel, else the checkout's."""
    if importlib.util.find_spec("aibench.conf") is not None:
        return "pkg://aibench.conf"
    return str(Path(__file__).resolve().parent.parent / "conf")
