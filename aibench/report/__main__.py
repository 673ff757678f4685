"""``python -m aibench.report SWEEP_DIR [-o OUT]``: the comparison report of a sweep's finished runs
(default OUT: SWEEP_DIR/report); ``python -m aibench.report --experiment NAME [--uri URI]
[--parent RUN_ID] -o OUT``: the same from the runs of an MLflow experiment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aibench.errors import AibenchError

PREFIX = "aibench: error: "
USAGE = (
    "python -m aibench.report SWEEP_DIR [-o OUT] [--no-png] | --experiment NAME [--uri URI] [--parent RUN_ID] -o OUT"
)
DEFAULT_URI = "sqlite:///outputs/mlflow.db"  # the local store runs log to by default


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aibench error
        sys.stderr.write(f"{PREFIX}{message} (usage: {USAGE})\n")
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    from aibench.report import INSTALL, build_report, build_report_from_mlflow, have_matplotlib

    parser = _Parser(prog="python -m aibench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "sweep_dir", nargs="?", help="a sweep dir (outputs/multirun/<date>/<time>), one run dir per job"
    )
    parser.add_argument("-o", "--out", help="where the report goes (default: SWEEP_DIR/report)")
    parser.add_argument("--no-png", action="store_true", help="the HTML page only (no matplotlib needed)")
    parser.add_argument("--experiment", help="read the runs of this MLflow experiment instead of a sweep dir")
    parser.add_argument("--uri", default=DEFAULT_URI, help=f"MLflow tracking URI (default: {DEFAULT_URI})")
    parser.add_argument("--parent", help="with --experiment: only the child runs of this parent (sweep) run id")
    args = parser.parse_args(argv)
    if (args.sweep_dir is None) == (args.experiment is None):
        parser.error("give a sweep dir or --experiment NAME (one of them)")
    if args.experiment and not args.out:
        parser.error("--experiment needs -o OUT (where the report goes)")
    out = Path(args.out) if args.out else Path(args.sweep_dir) / "report"
    png = False if args.no_png else have_matplotlib()
    try:
        if args.experiment:
            files = build_report_from_mlflow(args.uri, args.experiment, out, parent=args.parent, png=png)
        else:
            files = build_report(Path(args.sweep_dir), out, png=png)
    except AibenchError as exc:
        sys.stderr.write(f"{PREFIX}{exc}\n")
        return 2
    print(f"report of {args.sweep_dir or args.experiment}: {files[0]}")
    for f in files[1:]:
        print(f"  {f}")
    if not png and not args.no_png:
        print(f"note: no PNGs (matplotlib is not installed: {INSTALL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
