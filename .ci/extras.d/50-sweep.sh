#!/usr/bin/env bash
# Extra `sweep`: the Hydra launchers of `python -m aibench -m ...` - hydra/launcher=joblib (jobs in
# parallel on this machine) and hydra/launcher=submitit_local / submitit_slurm - for `pytest -m extra`
# (tests/sweep/test_sweep_launchers.py). Run by .ci/run in the venv after `pip install -e '.[test,hf]'`.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -d .venv ] && [ -z "${VIRTUAL_ENV:-}" ]; then . .venv/bin/activate; fi
echo "-- pip install -e '.[sweep]'"
pip install -q -e '.[sweep]'
python - <<'PY'
import importlib.metadata as m
import hydra_plugins.hydra_joblib_launcher, hydra_plugins.hydra_submitit_launcher  # noqa: F401
print("-- hydra-joblib-launcher", m.version("hydra-joblib-launcher"), "hydra-submitit-launcher", m.version("hydra-submitit-launcher"))
PY
