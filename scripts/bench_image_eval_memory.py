"""Peak memory of ImageNet-style evaluation against the number of validation images.

Writes ``val/<class>/*.JPEG`` sets of N mixed-size crops of scikit-image's sample photographs
(180..520 px a side, like ILSVRC2012 validation images), a run directory with a small image model
(resnet18_cifar, width 8: the model's own memory stays out of the way), and runs
``vidsparse eval --run RUN --corruptions gaussian_noise --severities 3`` (clean + on the fly,
one process, no workers) once per N, each in a fresh process that reports its peak resident set
size (``ru_maxrss``). Streaming keeps the peak flat; holding the set would add the decoded
size shown in the last column.

    OMP_NUM_THREADS=1 python scripts/bench_image_eval_memory.py --sizes 500,2000
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from photo_folders import write_mixed_val

PHOTOS = {"astronaut": "astronaut", "cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}


def write_val(root: Path, count: int) -> int:
    """Mixed-size crops (180-520 px) of the photographs, JPEG 90; returns their decoded bytes."""
    return write_mixed_val(root, count, PHOTOS, min_fraction=3, sizes=(180, 521), quality=90, digits=6)


def write_run(run: Path, root: Path) -> None:
    from vidsparse.config import RunConfig, save_config
    from vidsparse.models import model_from_config

    cfg = RunConfig()
    cfg.data.dataset, cfg.data.root, cfg.data.workers = "imagenet", str(root), 0
    cfg.model.name, cfg.model.width = "resnet18_cifar", 8
    cfg.train.eval_batch_size = 32
    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    model = model_from_config(cfg.model, len(PHOTOS))
    torch.save({"model": model.state_dict(), "classes": sorted(PHOTOS), "epoch": 1}, run / "best.pt")


CHILD = """
import resource, sys
from vidsparse.cli import main
code = main(["eval", "--run", sys.argv[1], "--workers", "0", "--corruptions", "gaussian_noise", "--severities", "3"])
print("PEAK_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="500,2000", help="numbers of validation images, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            root, run = Path(tmp) / f"imagenet-{count}", Path(tmp) / f"run-{count}"
            decoded = write_val(root, count)
            write_run(run, root)
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, str(run)], capture_output=True, text=True)
            seconds = time.perf_counter() - start
            line = next((l for l in done.stdout.splitlines() if l.startswith("PEAK_KB")), None)
            if line is None or not line.endswith(" 0"):
                sys.exit(f"evaluation of {count} images failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            peak_mb = int(line.split()[1]) / 1024
            sizes_seen = len({Image.open(p).size for p in list((root / "val").rglob("*.JPEG"))[:200]})
            rows.append((count, sizes_seen, peak_mb, decoded / 2**20, seconds))
    print(f"{'images':>7s} {'sizes (of 200)':>14s} {'peak RSS (MB)':>14s} {'decoded set (MB)':>17s} {'eval (s)':>9s}")
    for count, seen, peak, decoded, seconds in rows:
        print(f"{count:7d} {seen:14d} {peak:14.0f} {decoded:17.0f} {seconds:9.1f}")
    print(f"peak RSS ratio {rows[-1][2] / rows[0][2]:.3f} for {rows[-1][0] / rows[0][0]:.0f}x the images "
          f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
