#!/usr/bin/env bash
# Train with DDP on one machine: one process per GPU (torchrun --standalone). Every argument
# goes to 'vidsparse train'; --batch-size is per process (global batch = NPROC x batch size).
#
#   scripts/launch_single_node.sh --config configs/ucf101-r3d_18-dense.yaml --data-root /data/UCF101
#   NPROC=4 scripts/launch_single_node.sh --method rigl --sparsity 0.9 --out runs/r3d18-rigl
#
# NPROC   processes (default: the number of GPUs; 2 gloo processes on a CPU-only machine)
# PYTHON  interpreter with vidsparse installed (default: the repository's .venv, else python)
# Ctrl-C or SIGTERM to this script: every rank stops at the same step, rank 0 saves last.pt,
# and the same command with --resume continues.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
NPROC="${NPROC:-$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() or 2)')}"
exec "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m vidsparse.cli train "$@"
