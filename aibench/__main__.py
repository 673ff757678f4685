"""``python -m aibench``: the Hydra entry point, nothing else."""

import gc
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
            from aibench.harnesses.lm_eval import envinfo

            envinfo.prestart(sys.argv[1:])
            main()
    except BrokenPipeError:  # e.g. `--help | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    finally:
        # the run is over (files closed, tracking finished; atexit handlers still run): keep the
        # interpreter's final garbage collection from walking every object lm-eval, datasets, pandas,
        # MLflow... left (~0.4 s of a harness=lm_eval run's exit here, 0.05 s frozen)
        gc.freeze()


if __name__ == "__main__":
    entry()
