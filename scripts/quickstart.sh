#!/usr/bin/env bash
# The main job on the built-in synthetic videos: install, train a 50%-sparse small 3D ResNet
# with RigL, evaluate it clean and under the 18 ucf101-p corruptions x 5 severities, print the
# results table. About 3 minutes on a 2-core CPU after install.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
RUN=runs/quickstart-synthetic-r3d_small-rigl-s0.5
rm -rf "$RUN"
.venv/bin/vidsparse train --config configs/synthetic-r3d_small-rigl.yaml --out "$RUN"
.venv/bin/vidsparse eval --run "$RUN" --corruptions all --severities 1-5
