"""Cost of writing CIFAR-C with per-image seeds (what ``vidsparse corrupt --dataset cifar10`` does).

Each image is corrupted by its own ``corruptions.apply`` call, seeded by its index, so the
written set equals on-the-fly evaluation. The baseline, measured in the same run, is one call
over all images stacked as a T = N "video": as fast as it gets, but one generator for all
images, so it could NOT reproduce per-image seeds. Prints seconds for N images x 5 severities
and the per-image / one-call ratio.

    OMP_NUM_THREADS=1 python scripts/bench_cifar_c.py --images 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import corruptions
from vidsparse.corrupt import ArrayTask, corrupt_array

NAMES = ["gaussian_noise", "contrast", "glass_blur", "frost", "jpeg_compression"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    stacked = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    print(f"{args.images} images x 5 severities, one thread")
    print(f"{'corruption':18s} {'per-image (s)':>14s} {'one call (s)':>13s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory() as out:
        for name in NAMES:
            start = time.perf_counter()
            rows = corrupt_array(ArrayTask("bench", name, "cifar-c", (1, 2, 3, 4, 5), images, Path(out), "fixed", 0))
            per_image = time.perf_counter() - start
            assert "error" not in rows[0], rows[0]["error"]
            start = time.perf_counter()
            for severity in range(1, 6):
                corruptions.apply(stacked, name, severity, seed=0, preset="cifar-c", video_id="all")
            one_call = time.perf_counter() - start
            print(f"{name:18s} {per_image:14.2f} {one_call:13.2f} {per_image / one_call:6.1f}")


if __name__ == "__main__":
    main()
