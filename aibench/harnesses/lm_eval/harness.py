"""``harness=lm_eval``: EleutherAI lm-evaluation-harness (``lm_eval.simple_evaluate``) through
aibench's model backends, its code tasks executed in aibench's sandbox.

The tasks are lm-eval's (its registry, aibench's ``tasks/`` directory and ``harness.include_path``);
the model is lm-eval's ``AibenchLM`` over the run's aibench model (:mod:`.adapter`). Code tasks
shipped here (``aibench_humaneval``, ``aibench_humaneval_64``, ``aibench_mbpp``) score through the
run's sandbox (:mod:`.scoring`). lm-eval, torch and datasets are imported only when a run starts.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from aibench.errors import AibenchError
from aibench.harnesses.hub import unreachable
from aibench.harnesses.base import RunContext, TaskSuite
from aibench.outputs import RunDir
from aibench.registry import register
from aibench.types import RunReport

log = logging.getLogger("aibench")

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
LOGLIKELIHOOD_TYPES = ("loglikelihood", "loglikelihood_rolling", "multiple_choice")
INSTALL = "pip install -e '.[lm-eval]'"


@dataclass
class LmEvalHarnessConfig:
    tasks: list[str] = field(default_factory=lambda: ["aibench_humaneval"])  # lm-eval task/group/tag names
    num_fewshot: Optional[int] = None  # None: each task's own
    limit: Optional[float] = None  # documents per task (< 1: a fraction); None: run.limit
    batch_size: int = 1  # lm-eval's batch_size (recorded; batching is the backend's: model.batch_size)
    gen_kwargs: dict[str, Any] = field(default_factory=dict)  # merged into generate_until tasks' kwargs
    include_path: list[str] = field(default_factory=list)  # directories of local task YAMLs
    apply_chat_template: Optional[bool] = None  # None: when model.chat is true
    fewshot_as_multiturn: bool = True
    system_instruction: Optional[str] = None
    log_samples: bool = False  # per-sample logs lm_eval_samples_<task>.jsonl (an MLflow artifact)
    bootstrap_iters: int = 100000  # lm-eval's stderr bootstrap (0: no stderr)


# lm-eval log lines that speak to its own CLI's users, not to ours: dropped
_LM_EVAL_NOISE = ("Custom kwargs can be passed to `--metadata`",)  # every task with a custom_dataset function


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(n in message for n in _LM_EVAL_NOISE)


@contextlib.contextmanager
def _lm_eval_bars(enabled: bool) -> Iterator[None]:
    """``run.progress=false`` silences lm-eval's own progress bar too (building each task's requests;
    it offers no switch)."""
    if enabled:
        yield
        return
    import lm_eval.api.task as task_module

    original = task_module.tqdm
    task_module.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        task_module.tqdm = original


def _quiet_lm_eval_notes() -> None:
    task_log = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, _DropNoise) for f in task_log.filters):
        task_log.addFilter(_DropNoise())


# dataset_path values that name a local loader (with data_files), not a Hub dataset
LOCAL_LOADERS = ("json", "csv", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder")


def _hub_dataset(tm: Any, name: str) -> str | None:
    """The Hub dataset a task (not a group) loads, if it names one (no custom_dataset, no local loader)."""
    entry = getattr(tm, "_entry", lambda n: None)(name)
    cfg = getattr(entry, "cfg", None) or {}
    path = cfg.get("dataset_path")
    if not isinstance(path, str) or cfg.get("custom_dataset") or path in LOCAL_LOADERS or os.path.exists(path):
        return None
    return path


def ensure_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("lm_eval") is None:
        raise AibenchError(f"harness=lm_eval needs the lm-evaluation-harness package: {INSTALL}")


@register("harness", "lm_eval", LmEvalHarnessConfig)
class LmEvalHarness(TaskSuite):
    name = "lm_eval"
    own_engine = True  # lm_eval.simple_evaluate drives the model
    scored_by_metrics = False  # each task's own metrics

    def __init__(self, cfg: LmEvalHarnessConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        names = list(cfg.tasks)
        if not names:
            raise AibenchError("harness.tasks is empty: name at least one lm-eval task, e.g. harness.tasks=[arc_easy]")
        ensure_installed()
        self.task_names = names
        self.num_fewshot = cfg.num_fewshot
        limit = cfg.limit
        if limit is not None and limit <= 0:
            raise AibenchError(f"harness.limit must be > 0 (got {limit}): documents per task, or a fraction below 1")
        self.limit = None if limit is None else (int(limit) if limit >= 1 else limit)
        self.batch_size = cfg.batch_size
        self.gen_kwargs = dict(cfg.gen_kwargs)
        paths = list(cfg.include_path)
        self.include_path = [str(Path(p).expanduser().resolve()) for p in paths]
        for given, p in zip(paths, self.include_path):
            if not Path(p).is_dir():
                raise AibenchError(f"harness.include_path: {given} is not a directory (give directories of task YAMLs)")
        self.apply_chat_template = cfg.apply_chat_template
        self.fewshot_as_multiturn = cfg.fewshot_as_multiturn
        self.system_instruction = cfg.system_instruction
        self.log_samples = cfg.log_samples
        self.bootstrap_iters = cfg.bootstrap_iters
        self._loaded: dict[str, Any] | None = None  # TaskManager, top-level objects, leaf tasks

    # -- tasks ----------------------------------------------------------------------------------
    def load_tasks(self) -> dict[str, Any]:
        """Build the tasks once (this loads their datasets): lm-eval's full registry is indexed only
        when a name is not among aibench's and the include paths' tasks."""
        if self._loaded is not None:
            return self._loaded
        from aibench.harnesses.lm_eval import envinfo

        self._env_info = envinfo.take()  # lm-eval's environment record, collected meanwhile (see envinfo)
        from lm_eval.tasks import TaskManager

        _quiet_lm_eval_notes()

        paths = [str(TASKS_DIR), *self.include_path]
        tm = TaskManager(include_path=paths, include_defaults=False)
        if any(name not in tm.all_tasks for name in self.task_names):
            tm = TaskManager(include_path=paths)
        unknown = [n for n in self.task_names if n not in tm.all_tasks and not Path(n).is_file()]
        if unknown:
            close = difflib.get_close_matches(unknown[0], tm.all_tasks, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise AibenchError(
                f"unknown lm-eval task {', '.join(unknown)}{hint}: name a task, group or tag of lm-eval's registry "
                "(`lm-eval ls tasks`), of aibench's (aibench_humaneval, aibench_humaneval_64, aibench_mbpp), or of "
                "a directory given with harness.include_path=[<dir>]"
            )
        objects = []
        for name in self.task_names:
            if (dataset := _hub_dataset(tm, name)) and (why := unreachable(dataset)):
                # datasets would retry the Hub for ~25 s before failing
                offline = ConnectionError(f"the Hugging Face Hub is out of reach ({why}) and no copy is cached")
                raise AibenchError(self._load_error(tm, name, offline))
            try:
                objects.append(tm._load_spec(name))
            except Exception as exc:  # datasets, hub, YAML errors: one line naming the task and the way out
                raise AibenchError(self._load_error(tm, name, exc)) from None
        flat: list[Any] = []
        for obj in objects:
            flat.extend(obj if isinstance(obj, list) else [obj])
        loaded = tm.load(flat)
        self._loaded = {"manager": tm, "objects": flat, "tasks": loaded["tasks"], "groups": loaded.get("groups", {})}
        return self._loaded

    @staticmethod
    def _load_error(tm: Any, name: str, exc: Exception) -> str:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        entry = getattr(tm, "_entry", lambda n: None)(name)
        cfg = getattr(entry, "cfg", None) or {}
        dataset = cfg.get("dataset_path")
        datasetish = isinstance(exc, (OSError, ConnectionError)) or type(exc).__module__.split(".")[0] in (
            "datasets",
            "huggingface_hub",
            "requests",
        )
        if datasetish:
            where = f" {dataset}" + (f" ({cfg['dataset_name']})" if cfg.get("dataset_name") else "") if dataset else ""
            return (
                f"lm-eval task {name}: cannot load its dataset{where}: {type(exc).__name__}: {reason}; without hub "
                "access, write a task YAML that reads local files (dataset_path: json, dataset_kwargs: {data_files: "
                "{test: /abs/path.jsonl}}, or include: the task's YAML and override those keys) and pass its "
                "directory with harness.include_path=[<dir>]"
            )
        return f"cannot load lm-eval task {name}: {type(exc).__name__}: {reason}"

    def executes_code(self) -> bool | None:
        """lm-eval's own mark of a task that executes model output (``unsafe_code: true``): aibench's
        code tasks have it, and score in the sandbox; other tasks never start it."""
        if self._loaded is None:
            return None
        return any(bool(task.get_config("unsafe_code")) for task in self._loaded["tasks"].values())

    def output_types(self) -> dict[str, str]:
        return {name: task.get_config("output_type") for name, task in self.load_tasks()["tasks"].items()}

    # -- TaskSuite contract -----------------------------------------------------------------------
    def validate(self, model: Any, run: Any) -> None:
        types = self.output_types()
        needs = {n: t for n, t in types.items() if t in LOGLIKELIHOOD_TYPES}
        if needs and not model.supports_loglikelihood:
            listed = ", ".join(f"{n} ({t})" for n, t in sorted(needs.items()))
            raise AibenchError(
                f"{model.name} cannot run {listed}: these output types score prompt log-probabilities, which this "
                "backend does not give; use model=hf/<model> or model=openai/<server> with a completion model "
                "(chat=false) on a server that answers /v1/completions with echo+logprobs (vLLM, llama.cpp server)"
            )
        if run.n_samples != 1:
            log.info("harness=lm_eval: run.n_samples=%s is not used; a task's repeats set its samples", run.n_samples)

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "harness": self.name,
            "task": ",".join(self.task_names),
            "num_fewshot": self.num_fewshot,
            "lm_eval_limit": self.limit,
            "gen_kwargs": self.gen_kwargs or None,
            "apply_chat_template": self.apply_chat_template,
            "system_instruction": self.system_instruction,
        }
        if self._loaded is not None:
            import lm_eval

            params["lm_eval_version"] = getattr(lm_eval, "__version__", "?")
            for name, task in self._loaded["tasks"].items():
                version = (task.get_config("metadata") or {}).get("version")
                params[f"task_version/{name}"] = version
                params[f"task_output_type/{name}"] = task.get_config("output_type")
        return params

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "tasks": self.task_names,
            "include_path": self.include_path,
            "shipped_tasks": str(TASKS_DIR),
        }
        if self._loaded is not None:
            d["output_types"] = {n: t.get_config("output_type") for n, t in self._loaded["tasks"].items()}
        return d

    def evaluate(self, ctx: RunContext) -> RunReport:
        import lm_eval

        from aibench.harnesses.lm_eval import scoring
        from aibench.harnesses.lm_eval.adapter import adapter_class

        loaded = self.load_tasks()
        model, sandbox, out = ctx.model, ctx.sandbox, ctx.out
        lm = adapter_class()(model=model, out=out, progress=ctx.progress, resume=ctx.resume)
        chat = bool(getattr(model, "chat", False)) if self.apply_chat_template is None else self.apply_chat_template
        limit = self.limit if self.limit is not None else ctx.limit
        with (
            self._env_info.applied(),
            _lm_eval_bars(ctx.progress),
            scoring.sandbox_context(sandbox, workers=ctx.workers, out=out, progress=ctx.progress) as sandboxed,
        ):
            for name, task in loaded["tasks"].items():
                _announce_filters(task, name, sandboxed)
            try:
                results = lm_eval.simple_evaluate(
                    model=lm,
                    tasks=loaded["objects"],
                    num_fewshot=self.num_fewshot,
                    batch_size=self.batch_size,
                    limit=limit,
                    bootstrap_iters=self.bootstrap_iters,
                    log_samples=self.log_samples,
                    system_instruction=self.system_instruction,
                    apply_chat_template=chat,
                    fewshot_as_multiturn=self.fewshot_as_multiturn if chat else False,
                    gen_kwargs=self.gen_kwargs or None,
                    task_manager=loaded["manager"],
                    random_seed=ctx.seed,
                    # lm-eval seeds torch (importing it) by default; only the hf backend uses it
                    torch_random_seed=1234 if getattr(model, "backend", None) == "hf" else None,
                    confirm_run_unsafe_code=True,  # code runs in aibench's sandbox, never in this process
                )
            except AibenchError:
                raise
            except ValueError as exc:  # lm-eval's own checks (e.g. a multimodal task)
                raise AibenchError(f"lm-eval refused the run: {str(exc).splitlines()[0]}") from None
        return self._report(results, lm, sandboxed, out)

    # -- results --------------------------------------------------------------------------------
    def _report(self, results: dict[str, Any], lm: Any, ctx: Any, out: RunDir) -> RunReport:
        samples = results.pop("samples", None) or {}
        tasks: dict[str, Any] = {}
        rows: list[list[str]] = []
        flat: dict[str, float] = {}
        for section in ("results", "groups"):
            for name, res in (results.get(section) or {}).items():
                if section == "results" and name in (results.get("groups") or {}):
                    continue
                values: dict[str, dict[str, Any]] = {}
                for key, value in res.items():
                    if "," not in key or key.split(",")[0].endswith("_stderr"):
                        continue
                    metric, filt = key.split(",", 1)
                    stderr = res.get(f"{metric}_stderr,{filt}")
                    stderr = stderr if isinstance(stderr, (int, float)) and not _nan(stderr) else None
                    values.setdefault(filt, {})[metric] = value
                    if stderr is not None:
                        values[filt][f"{metric}_stderr"] = stderr
                    rows.append([name, filt, metric, _fmt(value), "" if stderr is None else _fmt(stderr)])
                    if isinstance(value, (int, float)) and not _nan(value):
                        flat[f"lm_eval/{_mlflow_key(name)}/{_mlflow_key(metric)}/{_mlflow_key(filt)}"] = float(value)
                        if stderr is not None:
                            flat[f"lm_eval/{_mlflow_key(name)}/{_mlflow_key(metric)}_stderr/{_mlflow_key(filt)}"] = (
                                float(stderr)
                            )
                tasks[name] = {
                    "kind": "group" if section == "groups" else "task",
                    "alias": res.get("alias", name),
                    "metrics": values,
                    "version": (results.get("versions") or {}).get(name),
                    "n-shot": (results.get("n-shot") or {}).get(name),
                    "n-samples": (results.get("n-samples") or {}).get(name),
                    "higher_is_better": (results.get("higher_is_better") or {}).get(name),
                    "output_type": (results.get("configs") or {}).get(name, {}).get("output_type"),
                }
        artifacts = ["lm_eval_results.json"]
        out.write_json("lm_eval_results.json", results)
        for name, task_samples in samples.items():
            file = f"lm_eval_samples_{name}.jsonl"
            with open(out.file(file), "w", encoding="utf-8") as fh:
                for sample in task_samples:
                    fh.write(json.dumps(sample, ensure_ascii=False, default=str) + "\n")
            artifacts.append(file)
        stats = lm.bridge.stats
        return RunReport(
            harness=self.name,
            tasks=tasks,
            samples={
                "generated": int(stats["requested"]),
                "errors": int(stats["errors"]),
                "resumed": int(stats["resumed"]),
                "loglikelihood": int(stats["loglikelihood"] + stats["loglikelihood_rolling"]),
                "executed": ctx.executed,
            },
            status_counts=dict(ctx.status_counts) if ctx.status_counts else None,
            sections={
                "lm_eval": {
                    "version": getattr(__import__("lm_eval"), "__version__", None),
                    "config": results.get("config"),
                    "versions": results.get("versions"),
                    "n-shot": results.get("n-shot"),
                },
                "table": {"columns": ["task", "filter", "metric", "value", "stderr"], "rows": rows},
                "extra_metrics": flat,
                "artifacts": artifacts,
            },
        )


def _announce_filters(task: Any, name: str, ctx: Any) -> None:
    """Tell the sandbox context which task's filters run (lm-eval applies them task by task)."""
    original = task.apply_filters

    def apply_filters(*args: Any, **kwargs: Any) -> Any:
        ctx.task, ctx.instances = name, list(getattr(task, "_instances", None) or [])
        try:
            return original(*args, **kwargs)
        finally:
            ctx.task, ctx.instances = None, []

    task.apply_filters = apply_filters


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def _mlflow_key(s: str) -> str:
    """MLflow metric keys allow [A-Za-z0-9_-./ ]."""
    s = s.replace("@", "_at_")
    return "".join(c if c.isalnum() or c in "_-. " else "_" for c in s)
