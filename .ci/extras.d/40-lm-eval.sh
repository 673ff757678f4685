#!/usr/bin/env bash
# Extra `lm_eval`: EleutherAI lm-evaluation-harness 0.4.13 for harness=lm_eval (and lm-eval's own API
# models, used by benchmarks/lm_eval_generation.py). Run by .ci/run in the venv after
# `pip install torch==2.13.0` and `pip install -e '.[test,hf]'`: torch is already the CPU build, and
# the check below fails the job if installing lm-eval replaced it (e.g. with a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -d .venv ] && [ -z "${VIRTUAL_ENV:-}" ]; then . .venv/bin/activate; fi
before="$(python -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)"
echo "-- pip install -e '.[lm-eval]' (torch before: $before)"
pip install -q -e '.[lm-eval]'
after="$(python -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)"
if [ "$before" != "$after" ]; then
  echo "installing lm-eval changed torch from $before to $after; pin torch==2.13.0 (CPU) first" >&2
  exit 1
fi
python -c 'import lm_eval, importlib.metadata as m; print("-- lm-eval", m.version("lm-eval"))'
