"""Training time with and without ``data.decode_cache_mb`` on the study's 3D-CNN recipe.

Trains ``configs/study/synthetic32-r3d_small.yaml`` (RigL, S=0.5) for ``--epochs`` epochs twice in
this one process, once decoding every clip from its file and once from the decoded-video cache,
alternating the order over ``--repeats`` pairs, and prints the median time of each and their
ratio. The two runs' metrics must be identical apart from time (checked): the cache changes
speed, never results.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_decode_cache.py [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidsparse.config import build_config  # noqa: E402
from vidsparse.data.registry import dataset_defaults  # noqa: E402
from vidsparse.training.loop import train  # noqa: E402

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "study" / "synthetic32-r3d_small.yaml"


def one_run(out: Path, epochs: int, cache_mb: int) -> tuple[float, list[dict]]:
    cfg = build_config(RECIPE, {"sparse.method": "rigl", "sparse.sparsity": 0.5, "train.epochs": epochs,
                                "data.decode_cache_mb": cache_mb, "train.out": str(out)},
                       dataset_defaults=dataset_defaults)
    start = time.perf_counter()
    train(cfg, log=lambda _: None)
    seconds = time.perf_counter() - start
    with (out / "metrics.csv").open(newline="") as fh:
        rows = [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(fh)]
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    times: dict[int, list[float]] = {0: [], 64: []}
    metrics: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        one_run(Path(tmp) / "warm-up", 1, 0)  # the synthetic set is written once, before timing
        for repeat in range(args.repeats):
            for cache_mb in ((0, 64) if repeat % 2 == 0 else (64, 0)):
                seconds, rows = one_run(Path(tmp) / f"r{repeat}-{cache_mb}", args.epochs, cache_mb)
                times[cache_mb].append(seconds)
                metrics.setdefault(cache_mb, rows)
    if metrics[0] != metrics[64]:
        raise SystemExit("the cached run's metrics differ from the uncached run's: the cache changed results")
    off, on = statistics.median(times[0]), statistics.median(times[64])
    print(f"| r3d_small study recipe, {args.epochs} epochs | decode every read | decode cache | ratio |")
    print("|---|---|---|---|")
    print(f"| median of {args.repeats} | {off:.1f} s | {on:.1f} s | {off / on:.2f}x faster; metrics identical |")


if __name__ == "__main__":
    main()
