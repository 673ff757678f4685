"""Verdicts do not depend on timing (issue 8): a live run against a local Ollama-protocol server
(streamed chat replies, concurrency > 1, a worker pool, some samples timing out) and the replay of
that run's own generations.jsonl give the same verdict for every sample."""

from __future__ import annotations

from pathlib import Path

from aibench.models.fakes import FakeOllama
from support import aibench_cli

from aibench.outputs import read_jsonl

REPO = Path(__file__).resolve().parents[2]
BODIES = [
    None,  # canonical
    "    return None\n",
    "    while True:\n        pass\n",
    "    import time\n    time.sleep(0.05)\n    return None\n",
    "    raise ValueError('nope')\n",
]


def _cli(tmp: Path, run: str, *args: str):
    common = ("run.limit=12", "run.n_samples=3", "run.workers=2", "sandbox.timeout_scale=0.34")
    return aibench_cli(tmp, *args, *common, run=run)


def test_live_run_and_its_replay_give_identical_verdicts(tmp_path):
    with FakeOllama(latency=0.02) as server:
        answers = server.answers

        def body_of(p, body):
            seed = int(body.get("options", {}).get("seed", 0))
            chosen = BODIES[(int(p["task_id"].split("/")[1]) + seed) % len(BODIES)]
            return p["canonical_solution"] if chosen is None else chosen

        answers.body_of = body_of
        live = _cli(tmp_path, "live", "model=ollama/llama3", f"model.host={server.url}", "model.concurrency=6")
    assert live.returncode == 0, live.stderr[-2000:]
    replay = _cli(tmp_path, "replay", "model=replay", f"model.path={tmp_path / 'live' / 'generations.jsonl'}")
    assert replay.returncode == 0, replay.stderr[-2000:]

    def verdicts(run: str) -> dict:
        return {(r["task_id"], r["sample_index"]): r["status"] for r in read_jsonl(tmp_path / run / "results.jsonl")}

    a, b = verdicts("live"), verdicts("replay")
    assert len(a) == 36 and a == b
    assert {"passed", "failed", "timeout"} <= set(a.values())
