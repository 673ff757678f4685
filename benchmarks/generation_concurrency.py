"""Generation throughput vs ``model.concurrency``, and requests on a cached rerun.

Against the fake Ollama server (aibench/models/fakes) with a fixed latency per request (default 100 ms),
all 164 HumanEval prompts are generated once with concurrency 1 and once with concurrency 8
(cache off), then twice more with the generation cache on: the second of those must make no
request. Targets: speed-up >= 6.4x (80 % of the ideal 8x), 0 requests on the rerun.

    python benchmarks/generation_concurrency.py [--latency 0.1] [--concurrency 8] [--limit 164]

Exit status 1 when a target is missed. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aibench.harnesses.bigcode.humaneval import HumanEval  # noqa: E402
from aibench.models.fakes import FakeOllama  # noqa: E402
from aibench.models.ollama import OllamaModel  # noqa: E402
from aibench.types import GenerationRequest  # noqa: E402


def run(url: str, reqs, concurrency: int, cache_dir: str | None) -> tuple[float, int]:
    m = OllamaModel(name="llama3", host=url, concurrency=concurrency, cache_dir=cache_dir)
    m.check()
    t0 = time.perf_counter()
    out = list(m.generate(reqs))
    elapsed = time.perf_counter() - t0
    m.close()
    assert len(out) == len(reqs) and all(c.error is None for c in out)
    return elapsed, m.stats["requests"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--limit", type=int, default=164)
    args = ap.parse_args()

    reqs = [GenerationRequest(p, 0) for p in HumanEval().problems(args.limit)]
    with FakeOllama(latency=args.latency) as srv:
        t1, n1 = run(srv.url, reqs, 1, None)
        tn, nn = run(srv.url, reqs, args.concurrency, None)
        with tempfile.TemporaryDirectory() as cache:
            _, filled = run(srv.url, reqs, args.concurrency, cache)
            before = len(srv.generation_requests())
            _, rerun = run(srv.url, reqs, args.concurrency, cache)
            seen = len(srv.generation_requests()) - before
        peak = srv.max_in_flight

    speedup = t1 / tn
    target = 0.8 * args.concurrency
    print(f"prompts: {len(reqs)}, server latency {args.latency * 1000:.0f} ms per request")
    print(f"concurrency 1: {t1:6.2f} s  ({n1 / t1:6.1f} req/s)")
    print(f"concurrency {args.concurrency}: {tn:6.2f} s  ({nn / tn:6.1f} req/s), peak in flight {peak}")
    print(f"speed-up: {speedup:.2f}x (target >= {target:.1f}x)")
    print(
        f"cached rerun: {rerun} requests by the client, {seen} seen by the server "
        f"(first cached run made {filled}; target 0)"
    )
    ok = speedup >= target and rerun == 0 and seen == 0
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
