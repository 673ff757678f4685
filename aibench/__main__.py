"""``python -m aibench``: the Hydra entry point, nothing else."""

import os
import sys

import hydra

from aibench.cli import fast_help
from aibench.cli import install as install_error_reporting
from aibench.components import register_configs
from aibench.config import config_dir

register_configs()
install_error_reporting()


@hydra.main(config_path=config_dir(), config_name="config", version_base=None)
def main(cfg) -> None:
    from aibench.executor import main_entry

    main_entry(cfg)


def entry() -> None:
    try:
        if not fast_help(sys.argv[1:]):
            from aibench.tracking.background import prestart

            prestart(sys.argv[1:])
            main()
    except BrokenPipeError:  # e.g. `--help | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    entry()
