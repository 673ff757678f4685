"""The minimal executor: instantiate the four groups, hand them to the harness, write, log.

It holds no benchmark logic. Everything here is a plain function of a composed config, so tests
use ``hydra.compose`` and call :func:`run` directly.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from aibench.errors import AibenchError
from aibench.manifest import build_manifest, config_hash
from aibench.outputs import GENERATIONS, MANIFEST, METRICS, RESULTS, RunDir, read_jsonl

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
    {
        "concurrency",
        "retries",
        "backoff",
        "timeout",
        "host",
        "base_url",
        "cache_dir",
        "stream",
        "keep_alive",
        "check_models",
    }
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
    return {
        k: v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, default=str)
        for k, v in params.items()
    }


def prepare_run_dir(out: RunDir, resolved: dict[str, Any], resume: bool) -> bool:
    """Decide whether to continue records already in the run dir (resume, or a rerun into it)."""
    if not out.has_records():
        if resume:
            raise AibenchError(
                f"nothing to resume in {display(out.path)}: it holds no finished samples "
                "(run without run.resume=true to start afresh)"
            )
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


def display(path: str | Path) -> str:
    from aibench.tracking.mlflow_logger import display_path

    return display_path(path)


def say(message: str, *, warning: bool = False) -> None:
    """One line on stderr for the user, the same line in the run's aibench.log."""
    line = f"{'warning: ' if warning else ''}{message}"
    print(f"aibench: {line}", file=sys.stderr, flush=True)
    log.info("%s", line)  # INFO: the file only (the console handler shows warnings and up)


def _hydra() -> Any:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get() if HydraConfig.initialized() else None
    except ImportError:  # pragma: no cover
        return None


def resume_command(run_dir: str | Path) -> str:
    """The exact command that continues ``run_dir``: this run's overrides, run.resume=true and the dir."""
    hc = _hydra()
    overrides = list(hc.overrides.task) if hc is not None else []
    keep = [o for o in overrides if not o.lstrip("+~").startswith(("run.resume=", "hydra.run.dir="))]
    args = [*keep, "run.resume=true", f"hydra.run.dir={display(run_dir)}"]
    return "python -m aibench " + " ".join(shlex.quote(a) for a in args)


def _run_dir_given() -> bool:
    hc = _hydra()
    if hc is None:
        return True
    from hydra.types import RunMode

    if hc.mode == RunMode.MULTIRUN:  # a sweep job's dir is fixed by the sweep
        return True
    return any(o.lstrip("+~").startswith("hydra.run.dir=") for o in hc.overrides.hydra)


def samples_done(run_dir: Path) -> int:
    return len({(r.get("task"), r.get("task_id"), r.get("sample_index")) for r in read_jsonl(run_dir / RESULTS)})


def unfinished_runs(output_root: str | Path, resolved: dict[str, Any], exclude: Path | None = None) -> list[Path]:
    """Run dirs under ``output_root`` of the same model/harness/sandbox config that hold samples
    but no metrics.json (interrupted or failed), newest first."""
    root = Path(output_root)
    wanted = graph_hash(resolved)
    found: list[tuple[float, Path]] = []
    for manifest in [*root.glob("*/*/" + MANIFEST), *root.glob("multirun/*/*/*/" + MANIFEST)]:
        d = manifest.parent
        if exclude is not None and d.resolve() == exclude.resolve():
            continue
        if (d / METRICS).exists() or not RunDir.peek_records(d):
            continue
        try:
            if json.loads(manifest.read_text(encoding="utf-8")).get("graph_hash") != wanted:
                continue
        except (OSError, json.JSONDecodeError):
            continue
        stamp = max((d / n).stat().st_mtime for n in (GENERATIONS, RESULTS, MANIFEST) if (d / n).exists())
        found.append((stamp, d))
    return [d for _, d in sorted(found, reverse=True)]


def choose_run_dir(cfg: DictConfig, resolved: dict[str, Any], run_dir: str | None) -> RunDir:
    """The run dir: the one given, Hydra's new one, or with run.resume=true and no dir named, the
    latest unfinished run of this config."""
    if run_dir is not None or not cfg.run.resume or _run_dir_given():
        return RunDir(run_dir or hydra_run_dir())
    fresh = Path(hydra_run_dir())
    candidates = unfinished_runs(cfg.paths.output_root, resolved, exclude=fresh)
    if not candidates:
        raise AibenchError(
            f"run.resume=true: no unfinished run of this model/harness/sandbox config under "
            f"{cfg.paths.output_root}/; name one with hydra.run.dir=<run dir>, or drop run.resume=true"
        )
    chosen = candidates[0]
    others = (
        f" ({len(candidates) - 1} older unfinished run(s) of this config left alone)" if len(candidates) > 1 else ""
    )
    say(
        f"resuming the latest unfinished run of this config: {display(chosen)}, {samples_done(chosen)} samples done{others}"
    )
    return RunDir(chosen)


class Tracking:
    """MLflow for one run: preflight at run start, a background worker logging while samples
    execute, and at the end one line if logging failed, with the upload command."""

    def __init__(self, cfg: DictConfig, started: float):
        from aibench.tracking.mlflow_logger import default_uri, preflight

        self.enabled = bool(cfg.tracking.enabled)
        self.started = started
        self.bg = None
        self.error: str | None = None
        if not self.enabled:
            return
        root = Path(cfg.paths.output_root)
        self.uri = cfg.tracking.uri or default_uri(root)
        self.experiment = cfg.tracking.experiment
        self.artifact_root = str((root / "mlartifacts").resolve())
        self.error = preflight(self.uri)
        if self.error:
            say(
                f"MLflow at {self.uri} is unreachable ({self.error}): the run goes on, results stay in the run dir "
                "(the command to log it later follows at the end)",
                warning=True,
            )
            return
        from aibench.tracking.background import BackgroundRun

        self.bg = BackgroundRun(self.uri, self.experiment, self.artifact_root)

    def settings(self, run_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """What the upload command needs later (kept in run_manifest.json)."""
        self.run_name, self.params = run_name, params
        return {
            "uri": self.uri,
            "experiment": self.experiment,
            "run_name": run_name,
            "artifact_root": self.artifact_root,
            "params": params,
        }

    def start(self, run_dir: Path) -> None:
        if self.bg is not None:
            self.bg.start(self.run_name, int(self.started * 1000), {"aibench.run_dir": str(run_dir.resolve())})

    def finish(self, report: dict[str, Any] | None, out: RunDir, status: str = "FINISHED") -> None:
        """Hand the end of the run to the worker; the report's ``mlflow`` entry says how it went.

        The run waits for MLflow only briefly: longer logging finishes in the background and the
        worker records the outcome in metrics.json and aibench.log."""
        if not self.enabled:
            return
        from aibench.tracking.mlflow_logger import is_remote, upload_command

        if report is not None:
            report["mlflow"] = {"uri": self.uri, "status": "logging"}
            out.write_json(METRICS, report)
        reply: dict[str, Any] = {"error": self.error}
        if self.bg is not None:
            reply = self.bg.finish(
                params=getattr(self, "params", {}),
                report=report,
                run_dir=str(out.path.resolve()),
                end_ms=int(time.time() * 1000),
                status=status,
                timeout=None if status == "FINISHED" else 2.0,
            )
        if report is None:
            return
        if "run_id" in reply:
            report["mlflow"] = {"uri": self.uri, "run_id": reply["run_id"]}
            return
        if reply.get("pending"):
            report["mlflow"] = {"uri": self.uri, "status": "logging in the background"}
            return
        self.error = reply.get("error") or "unknown error"
        command = upload_command(out.path, self.uri if is_remote(self.uri) else None)
        say(f"not logged to MLflow at {self.uri} ({self.error}); when it is reachable: {command}", warning=True)
        report["mlflow"] = {"uri": self.uri, "error": self.error, "upload": command}
        out.write_json(METRICS, report)


def run(cfg: DictConfig, run_dir: str | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute one composed run; returns the metrics report (also written to metrics.json).

    ``context`` (optional) receives ``run_dir`` as soon as it is known, for the caller's messages."""
    from aibench.config import validate

    started = time.time()
    context = context if context is not None else {}
    validate(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(resolved, dict)
    out = choose_run_dir(cfg, resolved, run_dir)
    context["run_dir"] = out.path
    resume = prepare_run_dir(out, resolved, bool(cfg.run.resume))
    tracking = Tracking(cfg, started)  # before the components: MLflow starts up while they load

    components: dict[str, Any] = {}
    status = "FAILED"
    try:
        for group in GROUPS:
            components[group] = instantiate_group(cfg, group)
        model, harness, sandbox, metrics = (components[g] for g in GROUPS)
        for note in getattr(model, "notes", ()):
            say(f"note: {note}")
        harness.validate(model, metrics, cfg.run)

        (out.file("config.yaml")).write_text(OmegaConf.to_yaml(resolved), encoding="utf-8")
        manifest = build_manifest(resolved, model=model, harness=harness, sandbox=sandbox)
        manifest["graph_hash"] = graph_hash(resolved)
        params = flat_params(model, harness, sandbox, cfg, manifest["config_hash"])
        if tracking.enabled:
            manifest["tracking"] = tracking.settings(cfg.tracking.run_name or default_run_name(params), params)
            tracking.start(out.path)
        out.write_json(MANIFEST, manifest)
        log.info("run dir %s; model %s; %s", out.path, model.name, "resuming" if resume else "new run")

        run_cfg = OmegaConf.merge(cfg.run, {"resume": resume})
        report = harness.evaluate(model, sandbox, metrics, run_cfg, out)
        # backends learn facts while running (server version, model digest, limits applied)
        manifest.update(model=model.describe(), sandbox=sandbox.describe())
        out.write_json(MANIFEST, manifest)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        for group in ("sandbox", "model"):
            comp = components.get(group)
            if comp is not None:
                try:
                    comp.close()
                except Exception as exc:  # pragma: no cover - best effort
                    log.warning("closing %s failed: %s", group, exc)
        out.close()
        if status != "FINISHED":
            tracking.finish(None, out, status=status)

    finished = time.time()
    report["model"] = model.name
    report["run_dir"] = str(out.path.resolve())
    report["config_hash"] = manifest["config_hash"]
    report["started_ms"], report["finished_ms"] = int(started * 1000), int(finished * 1000)
    report["elapsed_s"] = round(finished - started, 3)
    samples = report.setdefault("samples", {})
    cached = int((getattr(model, "stats", None) or {}).get("cached", 0))
    requested = int(samples.get("generated", 0))
    samples.update(requested=requested, generated=max(0, requested - cached), cached=cached)
    out.write_json(METRICS, report)

    tracking.finish(report, out)
    log.info("finished in %.1f s", report["elapsed_s"])
    return report


def default_run_name(params: dict[str, Any]) -> str:
    """e.g. ``ollama/llama3 humaneval n=10 T=0.2`` (``limit=5`` for a partial run): readable in
    the MLflow UI's run list."""
    name = f"{params['model']} {params.get('task', params.get('harness', ''))} n={params['n_samples']}"
    if params.get("limit") is not None:
        name += f" limit={params['limit']}"
    if params.get("temperature") is not None:
        name += f" T={params['temperature']}"
    return name


def print_summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

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


def main_entry(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task function body: one-line errors, non-zero exit, no traceback."""
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from aibench.cli import PREFIX, one_line

    context: dict[str, Any] = {}

    def keep_note() -> str:
        """``; finished samples are kept: resume with ...`` when the run dir holds some."""
        run_dir = context.get("run_dir")
        if run_dir is None or not RunDir.peek_records(Path(run_dir)):
            return ""
        return f"; {samples_done(Path(run_dir))} finished samples kept, resume with: {resume_command(run_dir)}"

    try:
        report = run(cfg, context=context)
    except AibenchError as exc:
        print(f"{PREFIX}{exc}{keep_note()}", file=sys.stderr)
        log.info("error: %s", exc)
        sys.exit(2)
    except MissingMandatoryValue as exc:
        print(f"{PREFIX}{exc.full_key} is not set: pass {exc.full_key}=...", file=sys.stderr)
        sys.exit(2)
    except OmegaConfBaseException as exc:  # e.g. a broken interpolation in an override
        print(f"{PREFIX}{one_line(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        run_dir = context.get("run_dir")
        if run_dir is not None and RunDir.peek_records(Path(run_dir)):
            message = (
                f"interrupted; {samples_done(Path(run_dir))} finished samples are kept in {display(run_dir)}; "
                f"resume with: {resume_command(run_dir)}"
            )
        else:
            message = "interrupted before any sample finished; nothing to resume (rerun the same command)"
        print(f"aibench: {message}", file=sys.stderr)
        log.info("%s", message)
        sys.exit(130)
    print_summary(report)
    return report
