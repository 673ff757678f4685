"""``python -m aibench``: the Hydra entry point, nothing else."""

import sys

import hydra

from aibench.cli import fast_help
from aibench.cli import install as install_error_reporting
from aibench.config import config_dir, register_configs

register_configs()
install_error_reporting()


@hydra.main(config_path=config_dir(), config_name="config", version_base=None)
def main(cfg) -> None:
    from aibench.executor import main_entry

    main_entry(cfg)


def entry() -> None:
    if not fast_help(sys.argv[1:]):
        main()


if __name__ == "__main__":
    entry()
