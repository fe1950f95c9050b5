"""Cost of writing CIFAR-C with per-image seeds (what ``vidsparse corrupt --dataset cifar10`` does).

Each image is corrupted by its own ``corruptions.apply`` call, seeded by its index, so the
written set equals on-the-fly evaluation. The baseline, measured in the same run, is one call
of the corruption function itself over all images stacked as a T = N batch with one generator
(no per-frame seeding): as fast as it gets, but it could NOT reproduce per-image seeds. Prints
seconds for N images x 5 severities and the per-image / one-call ratio.

    OMP_NUM_THREADS=1 python scripts/bench_cifar_c.py --images 200
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from corruptions import registry
from corruptions.presets import get_preset
from vidsparse.generation.images import ArrayTask, corrupt_array

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
            entry = get_preset("cifar-c").entries[name]
            function = registry.get_function(entry.function_key("fixed")).fn
            start = time.perf_counter()
            for severity in range(1, 6):
                batch = stacked.float().div_(255)
                result = function(batch, entry.param(severity, "fixed"), torch.Generator().manual_seed(0))
                result.mul(255).round_().clamp_(0, 255).to(torch.uint8)
            one_call = time.perf_counter() - start
            print(f"{name:18s} {per_image:14.2f} {one_call:13.2f} {per_image / one_call:6.1f}")


if __name__ == "__main__":
    main()
