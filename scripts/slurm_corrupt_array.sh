#!/usr/bin/env bash
# Write a corrupted set with a SLURM job array: each array task runs 'vidsparse corrupt' on its
# share of the videos (--shard I/N: every N-th video from the I-th) into the one --out folder,
# recording its outputs in OUT/manifest.shard-I-of-N.jsonl; a last job (MERGE=1) run after all
# of them verifies every output against its shard's checksum and writes OUT/manifest.jsonl, the
# same files, byte for byte, as one job would. Every argument goes to 'vidsparse corrupt'; give
# the array tasks and the merge the same ones.
#
#   ARGS="--dataset ucf101 --data-root /data/UCF101 --out /data/UCF101-P --corruptions all"
#   vidsparse corrupt $ARGS --dry-run          # plan + size/time estimate, writes nothing
#   JOB=$(sbatch --parsable --array=0-31 --cpus-per-task=4 --time=12:00:00 scripts/slurm_corrupt_array.sh $ARGS)
#   sbatch --dependency=afterok:$JOB --export=ALL,MERGE=1 scripts/slurm_corrupt_array.sh $ARGS
#
# A task that fails or is killed (time limit, preemption) is re-run with the same index
# (sbatch --array=7 ...): it keeps its finished outputs and makes the rest. If some tasks never
# finish, running the same arguments without --shard (any machine) makes what is missing and
# merges too. Kubernetes: an Indexed Job sets JOB_COMPLETION_INDEX; set SHARD_COUNT to its
# completions and the script uses them instead.
#
# SHARD_INDEX / SHARD_COUNT  override the array index / size (default: SLURM_ARRAY_TASK_ID minus
#                            SLURM_ARRAY_TASK_MIN, and SLURM_ARRAY_TASK_COUNT)
# WORKERS                    worker processes per task (default: SLURM_CPUS_PER_TASK, else 1)
# MERGE=1                    verify and join the shards' manifests instead
# PYTHON                     interpreter with vidsparse installed (default: the repository's .venv, else python)
#SBATCH --job-name=vidsparse-corrupt
#SBATCH --output=vidsparse-corrupt-%A_%a.log
set -euo pipefail
ROOT="${SLURM_SUBMIT_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
if [ "${MERGE:-0}" = "1" ]; then
  exec "$PYTHON" -m vidsparse.cli corrupt "$@" --merge
fi
INDEX="${SHARD_INDEX:-${JOB_COMPLETION_INDEX:-$(( ${SLURM_ARRAY_TASK_ID:?not an array task: submit with sbatch --array=0-N} - ${SLURM_ARRAY_TASK_MIN:-0} ))}}"
COUNT="${SHARD_COUNT:-${SLURM_ARRAY_TASK_COUNT:?set SHARD_COUNT (the number of tasks)}}"
WORKERS="${WORKERS:-${SLURM_CPUS_PER_TASK:-1}}"
export OMP_NUM_THREADS=1  # parallelism comes from the worker processes
exec "$PYTHON" -m vidsparse.cli corrupt "$@" --shard "$INDEX/$COUNT" --workers "$WORKERS"
