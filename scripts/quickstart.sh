#!/usr/bin/env bash
# The main job on the built-in synthetic videos: install, train a 50%-sparse small 3D ResNet
# with RigL, evaluate it clean and under the 18 ucf101-p corruptions x 5 severities, print the
# results table. Float kernels pinned to AVX2 (portable_kernels.sh) so the table matches the README.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/portable_kernels.sh  # float kernels pinned to AVX2: the same numbers with or without AVX-512
RUN=runs/quickstart-synthetic-r3d_small-rigl-s0.5
rm -rf "$RUN"
.venv/bin/vidsparse train --config configs/synthetic-r3d_small-rigl.yaml --out "$RUN"
.venv/bin/vidsparse eval --run "$RUN" --corruptions all --severities 1-5
