"""Console error reporting: every failure is one line on stderr and a non-zero exit.

Hydra prints composition errors (unknown option, typo'd key, wrong type) over several lines and
other errors with a traceback. ``install()`` swaps Hydra's reporter for one that condenses the
message to a single line; ``HYDRA_FULL_ERROR=1`` still shows the full traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, Callable

from aibench.types import RunReport

PREFIX = "aibench: error: "
USER_ERROR = 2  # exit code of every user error (a bad option, key or value; a run that cannot start)

# routes to a model without a file of its own, offered when a model option is not found
GROUP_HINTS = {
    "model": (
        "any pulled Ollama model: model=ollama/base model.name=<tag>; any OpenAI-compatible server: "
        "model=openai/base model.name=<name> model.base_url=<url>; any Hugging Face model: "
        "model=hf/base model.name=<hub id or path>"
    ),
}


class ConsoleFormatter(logging.Formatter):
    """Console log lines as aibench prints its own: ``aibench: warning: message`` (one line)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().strip().splitlines()
        return f"aibench: {record.levelname.lower()}: {message[0] if message else ''}"


def one_line(message: str) -> str:
    """Condense Hydra/OmegaConf's multi-line messages, keeping every fact that names the fix."""
    parts: list[str] = []
    options: list[str] = []
    lines = message.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        i += 1
        if not stripped or stripped.startswith(
            ("Set the environment variable HYDRA_FULL_ERROR", "object_type=", "reference_type=")
        ):
            continue
        if stripped.startswith("Config search path"):
            break
        if stripped.startswith("Available options in"):
            while i < len(lines) and lines[i].startswith(("\t", "  ")):
                options.append(lines[i].strip())
                i += 1
            parts.append(f"{stripped.rstrip(':').lower()}: {', '.join(options) or 'none'}")
            continue
        if stripped.startswith("full_key:"):
            continue
        parts.append(stripped.rstrip("."))
    return "; ".join(parts) if parts else message.strip()


_OVERRIDE = re.compile(
    r"Could not override '(?P<full>[\w.]+)'; To append to your config use \+\S+; "
    r"Key '(?P<key>[^']+)' not in '(?P<schema>\w+)'"
)
_NOT_FOUND = re.compile(r"Could not find '(?P<option>[^']+)'; available options in '(?P<group>[\w/]+)': [^;]*")


def group_choices(group: str) -> str:
    """Every option of ``group`` in the config tree, nested groups included:
    ``reference, replay, ollama/{base, codellama, ...}, openai/{...}``."""
    tree = _group_options(_config_root())
    parts = list(tree.get(group, []))
    for sub, options in tree.items():
        if sub.startswith(group + "/"):
            parts.append(f"{sub[len(group) + 1 :]}/{{{', '.join(options)}}}")
    return ", ".join(parts) or "none"


def improve(message: str) -> str:
    """Rewrite Hydra's one-line messages whose hint would fail or hide options:
    ``To append to your config use +run.limt=5`` (the + form is rejected too) becomes the valid
    keys; ``available options in 'model': reference, replay`` becomes the whole model tree."""
    from aibench.config import SCHEMA_FIELDS, unknown_key_message

    match = _OVERRIDE.search(message)
    if match and match["schema"] in SCHEMA_FIELDS:
        parent = match["full"].rsplit(".", 1)[0] if "." in match["full"] else match["full"]
        text = unknown_key_message(parent, match["key"], SCHEMA_FIELDS[match["schema"]])
        return message[: match.start()] + text + message[match.end() :]
    match = _NOT_FOUND.search(message)
    if match:
        group = match["group"]
        text = f"Could not find '{match['option']}'; options for {group}: {group_choices(group)}"
        if group in GROUP_HINTS:
            text += f"; {GROUP_HINTS[group]}"
        return message[: match.start()] + text + message[match.end() :]
    return message


def report(exc: BaseException) -> None:
    text = str(exc)
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}\n{cause}"
    if not text.strip():
        text = type(exc).__name__
    line = improve(one_line(text))
    if os.environ.get("HYDRA_FULL_ERROR") != "1":
        line += " (HYDRA_FULL_ERROR=1 shows the traceback)"
    sys.stderr.write(PREFIX + line + "\n")


def _config_root():
    from importlib.resources import files
    from pathlib import Path

    from aibench.config import config_dir

    where = config_dir()
    return files(where[len("pkg://") :]) if where.startswith("pkg://") else Path(where)


def _run_and_report(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        report(exc)
        sys.exit(USER_ERROR)


def install() -> None:
    import hydra._internal.utils as hydra_utils

    hydra_utils.run_and_report = _run_and_report


def _group_options(root) -> dict[str, list[str]]:
    """``group -> options`` from the config tree (a Traversable: a directory or package files)."""
    groups: dict[str, list[str]] = {}

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and not child.name.startswith(("_", ".")):
                group = f"{prefix}/{child.name}" if prefix else child.name
                options = sorted(c.name[:-5] for c in child.iterdir() if c.is_file() and c.name.endswith(".yaml"))
                if options:
                    groups[group] = options
                walk(child, group)

    walk(root, "")
    return groups


def fast_help(argv: list[str]) -> bool:
    """``--help`` without Hydra's group scan (which deep-copies the config store once per group and
    takes over a second): the same content, composed once. Returns False if argv is not a help call."""
    if "--help" not in argv and "-h" not in argv:
        return False
    from hydra import compose
    from omegaconf import OmegaConf

    from aibench.config import initialize_config

    root = _config_root()
    ctx = initialize_config()
    overrides = [a for a in argv if a not in ("--help", "-h") and not a.startswith("-")]
    try:
        with ctx:
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        report(exc)
        sys.exit(USER_ERROR)
    help_cfg = cfg.hydra.help
    job = OmegaConf.to_container(cfg)
    job.pop("hydra")
    groups = "\n".join(f"{g}: {', '.join(opts)}" for g, opts in _group_options(root).items())
    print(help_cfg.header)
    print("== Configuration groups ==\nCompose your configuration from those groups (group=option)\n")
    print(groups + "\n")
    print("== Config ==\nOverride anything in the config (foo.bar=value)\n")
    print(OmegaConf.to_yaml(job))
    print(help_cfg.footer)
    return True


def print_summary(run_report: RunReport) -> None:
    """The console summary of a finished run."""
    from rich.console import Console
    from rich.table import Table

    report = run_report.to_dict()

    console = Console(width=max(100, Console().width))
    if "table" in report:  # a harness with its own columns (harness=lm_eval: task, filter, metric, value, stderr)
        table = Table(title="aibench results", title_justify="left")
        for col in report["table"]["columns"]:
            table.add_column(col, justify="right" if col in ("value", "stderr") else "left")
        for row in report["table"]["rows"]:
            table.add_row(*(str(c) for c in row))
        console.print(table)
    pass_at_k = {} if "table" in report else report["tasks"]
    ks = sorted({k for res in pass_at_k.values() for k in res["pass@k"]}, key=lambda k: int(k.split("@")[1]))
    table = Table(title="aibench results", title_justify="left")
    for col in ("task", "problems", "samples/problem", *ks, "status counts"):
        table.add_column(col, justify="left" if col in ("task", "status counts") else "right")
    for task, res in pass_at_k.items():
        spp = res["samples_per_problem"]
        table.add_row(
            task,
            str(res["n_problems"]),
            f"{spp['min']}" if spp["min"] == spp["max"] else f"{spp['min']}-{spp['max']}",
            *(f"{res['pass@k'][k]:.4f}" if k in res["pass@k"] else "-" for k in ks),
            ", ".join(f"{s}={n}" for s, n in sorted(res["status_counts"].items())),
        )
    if pass_at_k:
        console.print(table)
    for task, res in pass_at_k.items():
        if res["k_omitted"]:
            omitted = ", ".join(f"pass@{k}" for k in res["k_omitted"])
            console.print(
                f"{task}: {omitted} not reported (needs at least k samples for every problem; raise run.n_samples)",
                soft_wrap=True,
            )
    for task, res in pass_at_k.items():
        if res.get("pass@k_exit0_rule"):  # MultiPL-E's rule beside the honest figures
            figures = ", ".join(f"{k} {v:.4f}" for k, v in res["pass@k_exit0_rule"].items())
            console.print(
                f"{task}: MultiPL-E's exit-0 rule: {figures} "
                f"({res.get('exit0_rule_only', 0)} samples pass only by exiting 0 before their tests completed)",
                soft_wrap=True,
            )
    languages = {} if "table" in report else report.get("languages") or {}
    if len(languages) > 1 or any(len(lang["tasks"]) > 1 for lang in languages.values()):
        console.print(
            "per language: "
            + "; ".join(
                f"{name} ({lang['n_problems']} problems) "
                + ", ".join(f"{k} {v:.4f}" for k, v in {**lang["pass@k"], **lang.get("pass@k_exit0_rule", {})}.items())
                for name, lang in languages.items()
            ),
            soft_wrap=True,
        )
    security = report.get("security")
    if security:
        console.print(
            "sandbox: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in security.items()), soft_wrap=True
        )
    samples = report.get("samples", {})
    elapsed = report.get("elapsed_s")
    console.print(
        f"model {report.get('model', '?')}"
        + (f", finished in {format_duration(elapsed)}" if elapsed is not None else "")
        + f"; samples: generated {samples.get('generated', 0)}, cached {samples.get('cached', 0)}, "
        f"resumed {samples.get('resumed', 0)}, executed {samples.get('executed', 0)}",
        soft_wrap=True,
    )
    console.print(f"run dir: {report['run_dir']}", soft_wrap=True)
    mlflow = report.get("mlflow") or {}
    if mlflow.get("run_id"):
        console.print(f"mlflow run id: {mlflow['run_id']} ({mlflow['uri']})", soft_wrap=True)
    elif mlflow.get("status"):
        console.print(f"mlflow: {mlflow['status']} ({mlflow['uri']}); the run id lands in metrics.json", soft_wrap=True)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes} min {sec} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
