#!/usr/bin/env bash
# Train with DDP across several machines: run this same command on every node, changing only
# NODE_RANK. Every argument goes to 'vidsparse train'; --batch-size is per process (global
# batch = NNODES x NPROC x batch size). Rank 0 (on node 0) writes the run directory; put it
# and the dataset on storage every node can read if you want to --resume on other nodes.
#
#   # on node 0                                         # on node 1
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node0 \            NNODES=2 NODE_RANK=1 MASTER_ADDR=node0 \
#     scripts/launch_multi_node.sh --config X.yaml        scripts/launch_multi_node.sh --config X.yaml
#
#   # SLURM, one task per node:
#   srun --ntasks-per-node=1 env NNODES=$SLURM_NNODES NODE_RANK=$SLURM_NODEID \
#     MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1) scripts/launch_multi_node.sh ...
#
# NNODES       number of machines (required)
# NODE_RANK    this machine's index, 0 .. NNODES-1 (required)
# MASTER_ADDR  host name or IP of node 0, reachable from every node (required)
# MASTER_PORT  free TCP port on node 0 for the rendezvous (default 29500)
# NPROC        processes on this node (default: its number of GPUs, or 1 without GPUs)
# PYTHON       interpreter with vidsparse installed (default: the repository's .venv, else python)
set -euo pipefail
: "${NNODES:?set NNODES to the number of machines}"
: "${NODE_RANK:?set NODE_RANK to this machine index (0 .. NNODES-1)}"
: "${MASTER_ADDR:?set MASTER_ADDR to the host name or IP of node 0}"
MASTER_PORT="${MASTER_PORT:-29500}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
NPROC="${NPROC:-$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() or 1)')}"
exec "$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --node_rank "$NODE_RANK" \
  --nproc_per_node "$NPROC" --rdzv_backend static --rdzv_endpoint "$MASTER_ADDR:$MASTER_PORT" \
  -m vidsparse.cli train "$@"
