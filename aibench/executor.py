"""The minimal executor: instantiate the four groups, hand them to the harness, write, log.

It holds no benchmark logic. Everything here is a plain function of a composed config, so tests
use ``hydra.compose`` and call :func:`run` directly.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from aibench.errors import AibenchError
from aibench.manifest import build_manifest, config_hash
from aibench.outputs import MANIFEST, METRICS, RunDir

log = logging.getLogger("aibench")

GROUPS = ("model", "harness", "sandbox", "metrics")


def instantiate_group(cfg: DictConfig, group: str) -> Any:
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    node = cfg[group]
    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, AibenchError) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, AibenchError):
            raise cause from None
        reason = str(cause or exc).splitlines()[0]
        raise AibenchError(f"cannot create {group} ({node.get('_target_')}): {reason}") from None


def hydra_run_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


# model keys that change how samples are fetched, not what they are: a run may resume with others
TRANSPORT_KEYS = frozenset(
    {"concurrency", "retries", "backoff", "timeout", "host", "base_url", "cache_dir", "stream", "keep_alive", "check_models"}
)


def graph_hash(resolved: dict[str, Any]) -> str:
    """Hash of what determines a sample's outcome (not run size, tracking or transport)."""
    model = {k: v for k, v in (resolved.get("model") or {}).items() if k not in TRANSPORT_KEYS}
    return config_hash({"model": model, "harness": resolved.get("harness"), "sandbox": resolved.get("sandbox")})


def flat_params(model: Any, harness: Any, sandbox: Any, cfg: DictConfig, cfg_hash: str) -> dict[str, str]:
    """MLflow params: scalars as they are, lists/dicts as JSON; ``model`` is the backend/model name."""
    params: dict[str, Any] = {
        **harness.params(),
        "sandbox": sandbox.name,
        "n_samples": cfg.run.n_samples,
        "limit": cfg.run.limit,
        "run_seed": cfg.run.seed,
        "workers": cfg.run.workers,
        "config_hash": cfg_hash,
    }
    params.update({k: v for k, v in model.params().items() if k != "model"})
    params["model"] = model.name
    return {k: v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, default=str) for k, v in params.items()}


def prepare_run_dir(out: RunDir, resolved: dict[str, Any], resume: bool) -> bool:
    """Decide whether to continue records already in the run dir (resume, or a rerun into it)."""
    if not out.has_records():
        return False
    manifest = out.file(MANIFEST)
    if manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8")).get("graph_hash")
        if old and old != graph_hash(resolved):  # never overwrite another config's finished work
            verb = "resume" if resume else "reuse"
            raise AibenchError(
                f"cannot {verb} {out.path}: it holds results of a different model/harness/sandbox config; "
                "use a new hydra.run.dir"
            )
    return True


def run(cfg: DictConfig, run_dir: str | None = None) -> dict[str, Any]:
    """Execute one composed run; returns the metrics report (also written to metrics.json)."""
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(resolved, dict)
    out = RunDir(run_dir or hydra_run_dir())
    resume = prepare_run_dir(out, resolved, bool(cfg.run.resume))

    components: dict[str, Any] = {}
    try:
        for group in GROUPS:
            components[group] = instantiate_group(cfg, group)
        model, harness, sandbox, metrics = (components[g] for g in GROUPS)
        harness.validate(model, metrics, cfg.run)

        (out.file("config.yaml")).write_text(OmegaConf.to_yaml(resolved), encoding="utf-8")
        manifest = build_manifest(resolved, model=model, harness=harness, sandbox=sandbox)
        manifest["graph_hash"] = graph_hash(resolved)
        out.write_json(MANIFEST, manifest)

        run_cfg = OmegaConf.merge(cfg.run, {"resume": resume})
        report = harness.evaluate(model, sandbox, metrics, run_cfg, out)
        # backends learn facts while running (server version, model digest, limits applied)
        manifest.update(model=model.describe(), sandbox=sandbox.describe())
        out.write_json(MANIFEST, manifest)
    finally:
        for group in ("sandbox", "model"):
            comp = components.get(group)
            if comp is not None:
                try:
                    comp.close()
                except Exception as exc:  # pragma: no cover - best effort
                    log.warning("closing %s failed: %s", group, exc)
        out.close()

    report["run_dir"] = str(out.path.resolve())
    report["config_hash"] = manifest["config_hash"]
    out.write_json(METRICS, report)

    if cfg.tracking.enabled:
        from aibench.tracking.mlflow_logger import default_uri, log_run

        root = Path(cfg.paths.output_root)
        params = flat_params(model, harness, sandbox, cfg, manifest["config_hash"])
        uri = cfg.tracking.uri or default_uri(root)
        report["mlflow"] = {
            "uri": uri,
            "run_id": log_run(
                uri=uri,
                experiment=cfg.tracking.experiment,
                run_name=cfg.tracking.run_name or default_run_name(params),
                params=params,
                report=report,
                run_dir=out.path,
                artifact_root=root / "mlartifacts",
            ),
        }
        out.write_json(METRICS, report)
    return report


def default_run_name(params: dict[str, Any]) -> str:
    """e.g. ``ollama/llama3 humaneval n=10 T=0.2``: readable in the MLflow UI's run list."""
    name = f"{params['model']} {params.get('task', params.get('harness', ''))} n={params['n_samples']}"
    if params.get("temperature") is not None:
        name += f" T={params['temperature']}"
    return name


def print_summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, Console().width))
    ks = sorted({k for res in report["tasks"].values() for k in res["pass@k"]}, key=lambda k: int(k.split("@")[1]))
    table = Table(title="aibench results", title_justify="left")
    for col in ("task", "problems", "samples/problem", *ks, "status counts"):
        table.add_column(col, justify="left" if col in ("task", "status counts") else "right")
    for task, res in report["tasks"].items():
        spp = res["samples_per_problem"]
        table.add_row(
            task,
            str(res["n_problems"]),
            f"{spp['min']}" if spp["min"] == spp["max"] else f"{spp['min']}-{spp['max']}",
            *(f"{res['pass@k'][k]:.4f}" if k in res["pass@k"] else "-" for k in ks),
            ", ".join(f"{s}={n}" for s, n in sorted(res["status_counts"].items())),
        )
    console.print(table)
    for task, res in report["tasks"].items():
        if res["k_omitted"]:
            omitted = ", ".join(f"pass@{k}" for k in res["k_omitted"])
            console.print(
                f"{task}: {omitted} not reported (needs at least k samples for every problem; raise run.n_samples)",
                soft_wrap=True,
            )
    security = report.get("security")
    if security:
        console.print("sandbox: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in security.items()), soft_wrap=True)
    samples = report.get("samples", {})
    console.print(
        f"samples: generated {samples.get('generated', 0)}, executed {samples.get('executed', 0)}, "
        f"resumed {samples.get('resumed', 0)}"
    )
    console.print(f"run dir: {report['run_dir']}", soft_wrap=True)
    if "mlflow" in report:
        console.print(f"mlflow run id: {report['mlflow']['run_id']} ({report['mlflow']['uri']})", soft_wrap=True)


def main_entry(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task function body: one-line errors, non-zero exit, no traceback."""
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from aibench.cli import PREFIX, one_line

    try:
        report = run(cfg)
    except AibenchError as exc:
        print(f"{PREFIX}{exc}", file=sys.stderr)
        sys.exit(2)
    except MissingMandatoryValue as exc:
        print(f"{PREFIX}{exc.full_key} is not set: pass {exc.full_key}=...", file=sys.stderr)
        sys.exit(2)
    except OmegaConfBaseException as exc:  # e.g. a broken interpolation in an override
        print(f"{PREFIX}{one_line(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("aibench: interrupted; finished samples are kept in the run dir (rerun with run.resume=true)", file=sys.stderr)
        sys.exit(130)
    print_summary(report)
    return report
