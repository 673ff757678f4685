#!/usr/bin/env bash
# Extra `bigcode`: the real bigcode-evaluation-harness package (harness.engine=bigcode_eval and
# harness.cross_check), installed from a local wheel (it is not on PyPI), then the offline
# HumanEval data it reads. Run by .ci/run in the venv after `pip install torch==2.13.0` and
# `pip install -e '.[test,hf]'`.
#
# Where the wheel is: $AIBENCH_BIGCODE_WHEEL (the .whl itself), else the first directory holding
# bigcode_eval-*.whl among $AIBENCH_SHARED_WHEELS, <repo>/../shared/wheels, <the repo this clone
# came from>/../shared/wheels (.ci/run clones into a temp dir) and /work/shared/wheels.
set -euo pipefail
ROOT="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
cd "$ROOT"

find_wheel() {
  if [ -n "${AIBENCH_BIGCODE_WHEEL:-}" ]; then
    echo "$AIBENCH_BIGCODE_WHEEL"
    return
  fi
  local origin dir
  origin="$(git config --get remote.origin.url 2>/dev/null || true)"
  for dir in "${AIBENCH_SHARED_WHEELS:-}" "$ROOT/../shared/wheels" ${origin:+"$origin/../shared/wheels"} /work/shared/wheels; do
    [ -n "$dir" ] || continue
    for whl in "$dir"/bigcode_eval-*.whl; do
      if [ -f "$whl" ]; then
        echo "$whl"
        return
      fi
    done
  done
}

WHEEL="$(find_wheel)"
if [ -z "$WHEEL" ] || [ ! -f "$WHEEL" ]; then
  echo "30-bigcode: no bigcode_eval wheel found (set AIBENCH_BIGCODE_WHEEL=/path/to/bigcode_eval-0.0.0-py3-none-any.whl)" >&2
  exit 1
fi
WHEELS_DIR="$(cd "$(dirname "$WHEEL")" && pwd)"
echo "30-bigcode: installing $WHEEL"

TORCH_BEFORE="$(python -c 'import torch; print(torch.__version__)')"
case "$TORCH_BEFORE" in
  2.13.0*) ;;
  *) echo "30-bigcode: expected torch 2.13.0 (CPU) installed first, found $TORCH_BEFORE" >&2; exit 1 ;;
esac

# The wheel's verified versions (bigcode_eval-constraints.txt) for what is not installed yet;
# what aibench's own install already pinned stays as it is (e.g. mlflow needs pyarrow<26), and
# torch stays at the CPU build already on disk: never a resolver-chosen (CUDA) torch.
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
python - "$WHEELS_DIR/bigcode_eval-constraints.txt" > "$CONSTRAINTS" <<'PY'
import re
import sys
from importlib import metadata

installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in metadata.distributions()}
print(f"torch=={installed['torch']}")
try:
    lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
except OSError:
    lines = []
for line in lines:
    line = line.split("#", 1)[0].strip()
    if not line or "==" not in line:
        continue
    name = re.sub(r"[-_.]+", "-", line.split("==", 1)[0].strip()).lower()
    if name == "torch":
        continue
    print(f"{name}=={installed[name]}" if name in installed else line)
PY
python -m pip install -q -c "$CONSTRAINTS" "$WHEEL"

TORCH_AFTER="$(python -c 'import torch; print(torch.__version__)')"
if [ "$TORCH_AFTER" != "$TORCH_BEFORE" ]; then
  echo "30-bigcode: torch changed from $TORCH_BEFORE to $TORCH_AFTER" >&2
  exit 1
fi
python -m pip check || echo "30-bigcode: pip check reports conflicts (see above)" >&2
python -c 'import bigcode_eval.tasks, datasets; print("30-bigcode: bigcode_eval importable; torch", __import__("torch").__version__)'

# the offline HumanEval data (into $AIBENCH_BIGCODE_DATASETS or ~/.cache/aibench/bigcode_eval/datasets)
python -m aibench.harnesses.bigcode prepare-data
