"""The minimal executor: instantiate the four groups, hand them to the runner, write the run's
files, hand the report to the tracker. It also picks the run dir (resume policy).

It holds no benchmark logic. Everything here is a plain function of a composed config, so tests
use ``hydra.compose`` and call :func:`run` directly.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from aibench.console import say
from aibench.errors import AibenchError
from aibench.manifest import build_manifest, config_hash, describe_sandbox
from aibench.outputs import GENERATIONS, MANIFEST, METRICS, RESULTS, RunDir, read_jsonl
from aibench.registry import transport_keys
from aibench.runner import Runner
from aibench.tracking.sweep import finished_cell, fresh_cell
from aibench.tracking.tracker import Tracking, default_run_name, flat_params
from aibench.types import RunReport

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


def graph_hash(resolved: dict[str, Any]) -> str:
    """Hash of what determines a sample's outcome (not run size, tracking, or the model's
    transport fields: how samples are fetched, not what they are)."""
    node = resolved.get("model") or {}
    skip = transport_keys(node.get("_target_"))
    model = {k: v for k, v in node.items() if k not in skip}
    return config_hash({"model": model, "harness": resolved.get("harness"), "sandbox": resolved.get("sandbox")})


def shard_label(resolved: dict[str, Any]) -> str | None:
    """``run.shard`` as ``I/N`` (None: not sharded): a run dir holds one shard's samples only."""
    from aibench.config import parse_shard

    parsed = parse_shard((resolved.get("run") or {}).get("shard"))
    return None if parsed is None else f"{parsed[0]}/{parsed[1]}"


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
        old_manifest = json.loads(manifest.read_text(encoding="utf-8"))
        old = old_manifest.get("graph_hash")
        verb = "resume" if resume else "reuse"
        if old and old != graph_hash(resolved):  # never overwrite another config's finished work
            raise AibenchError(
                f"cannot {verb} {out.path}: it holds results of a different model/harness/sandbox config; "
                "use a new hydra.run.dir"
            )
        if old and old_manifest.get("shard") != shard_label(resolved):
            raise AibenchError(
                f"cannot {verb} {out.path}: it holds shard {old_manifest.get('shard') or 'none (all problems)'}, "
                f"not run.shard={shard_label(resolved)}; use a new hydra.run.dir"
            )
    return True


def display(path: str | Path) -> str:
    from aibench.tracking.mlflow_logger import display_path

    return display_path(path)


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
            found_manifest = json.loads(manifest.read_text(encoding="utf-8"))
            if found_manifest.get("graph_hash") != wanted or found_manifest.get("shard") != shard_label(resolved):
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


def _warm(fn: Any) -> None:
    """Call ``fn`` ahead of time for what it caches; its errors surface from the real call later."""
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass


def run(cfg: DictConfig, run_dir: str | None = None, context: dict[str, Any] | None = None) -> RunReport:
    """Execute one composed run; returns its report (also written to metrics.json).

    ``context`` (optional) receives ``run_dir`` as soon as it is known, for the caller's messages."""
    from aibench.config import validate

    started = time.time()
    context = context if context is not None else {}
    validate(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert isinstance(resolved, dict)
    out = choose_run_dir(cfg, resolved, run_dir)
    context["run_dir"] = out.path
    done = finished_cell(out.path, resolved, graph_hash(resolved), bool(cfg.run.resume))
    if done is not None:  # a resumed sweep: this cell finished before, it is not redone
        say(f"sweep cell {display(out.path)} finished before: not redone")
        return done
    # a resumed sweep's cell that never started starts afresh
    resume = prepare_run_dir(out, resolved, bool(cfg.run.resume) and not fresh_cell(out.path))
    tracking = Tracking(cfg, started)  # before the components: MLflow starts up while they load

    components: dict[str, Any] = {}
    status = "FAILED"
    try:
        for group in GROUPS:
            components[group] = instantiate_group(cfg, group)
        model, suite, sandbox, metrics = (components[g] for g in GROUPS)
        for note in getattr(model, "notes", ()):
            say(f"note: {note}")
        runner = Runner(suite, model, sandbox, metrics, cfg.run)
        if (languages := suite.languages()) is not None:
            getattr(sandbox, "expect_languages", lambda _names: None)(languages)
        # what programs must not read even where it lies in their tree: the answer keys, and other
        # samples' programs and verdicts (this run's dir, earlier runs, the generation cache)
        hidden = [*suite.data_files(), out.path, cfg.paths.output_root, cfg.paths.cache_dir]
        hidden = [os.path.abspath(str(p)) for p in hidden]  # the sandbox's workers run from /
        getattr(sandbox, "hide_paths", lambda _paths: None)(hidden)
        # the sandbox's description (its first worker, each toolchain's version: subprocesses) is
        # made while the checks load the tasks; build_manifest below then finds it ready. A run
        # that executes no code (e.g. an lm-eval task without unsafe_code) never starts the sandbox.
        describing = None
        if suite.executes_code():  # None: known only once the check has loaded the tasks
            describing = threading.Thread(target=_warm, args=(sandbox.describe,), name="aibench-describe", daemon=True)
            describing.start()
        try:
            runner.check()
        finally:
            if describing is not None:
                describing.join()  # also on a failed check: the sandbox is closed below, after it
        sandbox_used = describing is not None or bool(suite.executes_code())

        (out.file("config.yaml")).write_text(OmegaConf.to_yaml(resolved), encoding="utf-8")
        manifest = build_manifest(resolved, model=model, harness=suite, sandbox=sandbox, sandbox_used=sandbox_used)
        manifest["graph_hash"] = graph_hash(resolved)
        manifest["shard"] = shard_label(resolved)
        params = flat_params(model, suite, sandbox, cfg.run, manifest["config_hash"], cfg=resolved)
        if tracking.enabled:
            manifest["tracking"] = tracking.settings(cfg.tracking.run_name or default_run_name(params), params)
            tracking.start(out.path)
        out.write_json(MANIFEST, manifest)
        log.info("run dir %s; model %s; %s", out.path, model.name, "resuming" if resume else "new run")

        report = runner.run(out, resume)
        # backends learn facts while running (server version, model digest, limits applied)
        manifest.update(model=model.describe(), sandbox=describe_sandbox(sandbox, sandbox_used))
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
    report.run_dir = str(out.path.resolve())
    report.config_hash = manifest["config_hash"]
    report.started_ms, report.finished_ms = int(started * 1000), int(finished * 1000)
    report.elapsed_s = round(finished - started, 3)
    out.write_json(METRICS, report.to_dict())

    tracking.finish(report, out)
    log.info("finished in %.1f s", report.elapsed_s)
    return report


def main_entry(cfg: DictConfig) -> RunReport:
    """The Hydra task function body: one-line errors, non-zero exit, no traceback."""
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    from aibench.cli import PREFIX, USER_ERROR, one_line, print_summary

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
        sys.exit(USER_ERROR)
    except MissingMandatoryValue as exc:
        print(f"{PREFIX}{exc.full_key} is not set: pass {exc.full_key}=...", file=sys.stderr)
        sys.exit(USER_ERROR)
    except OmegaConfBaseException as exc:  # e.g. a broken interpolation in an override
        print(f"{PREFIX}{one_line(str(exc))}", file=sys.stderr)
        sys.exit(USER_ERROR)
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
