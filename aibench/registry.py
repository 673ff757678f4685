"""One registration decorator for every component (model backends, task suites, sandboxes, metrics).

    @register("model", "ollama", OllamaConfig)
    class OllamaModel(SamplingModel):
        def __init__(self, cfg: OllamaConfig | None = None, /, **settings):
            cfg = configure(self, cfg, settings)   # aibench.config.configure
            ...

sets the schema's ``_target_`` to the class, keeps the schema (``cls.Schema``; ``aibench.config``
stores it as ``schema/<group>/<name>`` in Hydra's ConfigStore, which a group YAML extends with
``defaults: [/schema/<group>/<name>@_here_]``) and registers the name. Every setting is declared
once, in the schema: the constructor takes the schema object (``hydra.utils.instantiate`` passes
the fields as keyword arguments, which :func:`aibench.config.configure` turns back into one).
A schema field marked with :func:`transport` changes how samples are fetched, not what they are:
the resume hash leaves it out.

The registered modules are listed in ``aibench/components.py``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# group -> name -> the registered schema (with its ``_target_``)
SCHEMAS: dict[str, dict[str, type]] = {}
# ``_target_`` -> registered schema
BY_TARGET: dict[str, type] = {}


def register(group: str, name: str, schema: type) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        target = f"{cls.__module__}.{cls.__qualname__}"  # type: ignore[attr-defined]
        registered = dataclasses.make_dataclass(
            schema.__name__,
            [("_target_", str, dataclasses.field(default=target))],
            bases=(schema,),
            namespace={"__module__": schema.__module__, "__doc__": schema.__doc__},
        )
        SCHEMAS.setdefault(group, {})[name] = registered
        BY_TARGET[target] = registered
        cls.Schema = registered  # type: ignore[attr-defined]
        cls.config_group = group  # type: ignore[attr-defined]
        return cls

    return decorate


def transport(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A schema field that changes how samples are fetched (connections, retries, caching), not
    what they are: a run may resume with another value."""
    return dataclasses.field(default=default, metadata={"transport": True}, **kwargs)


def transport_keys(target: str | None) -> set[str]:
    schema = BY_TARGET.get(target or "")
    if schema is None:
        return set()
    return {f.name for f in dataclasses.fields(schema) if f.metadata.get("transport")}
