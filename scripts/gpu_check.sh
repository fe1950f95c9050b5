#!/usr/bin/env bash
# One command on a machine with a CUDA GPU, under 5 minutes: device tests, a short RigL + AMP
# training on the synthetic set, an on-the-fly evaluation with every ucf101-p corruption, a CPU
# checkpoint resumed on the GPU, and a throughput table (GPU / CPU ratios from this one run).
#   scripts/gpu_check.sh                 # on the GPU machine
#   scripts/gpu_check.sh --cpu           # the same steps on the CPU, tiny (no GPU needed)
#   scripts/gpu_check.sh --dry-run       # print the commands, check they parse, run nothing
# Paste the table into docs/benchmarks.md ("GPU check"). Scratch files go to ./gpu_check_work.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" scripts/gpu_check.py "$@"
