"""Benchmark: corrupted-set evaluation on the fly vs generate-to-disk-then-evaluate.

One model, N synthetic test videos, the full ucf101-p preset (18 corruptions x 5 severities).

- on the fly: ``vidsparse eval --corruptions all`` (each video decoded once, every variant made
  in memory and batched through the model);
- generated: ``vidsparse corrupt`` (decode once per video, corrupt, encode losslessly, write)
  then ``vidsparse eval --corrupted-root`` (decode every corrupted copy again).

Both run in this process with the same worker count; data generation and model creation are
not timed. The script also reports how many cells agree exactly between the two modes and
the per-video cost of the corruptions themselves, which both modes pay.

    python scripts/bench_eval.py --videos 8 --frames 48 --size 128

With --corrupt-on-only it instead times on-the-fly evaluation with the variants made in the
workers (``--corrupt-on workers``) against made in the main process in batches
(``--corrupt-on device``, here the CPU), in one run, and counts the cells that agree exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic_config(videos: int, frames: int, size: int):
    from vidsparse.config import SyntheticConfig

    return SyntheticConfig(classes=4, train_per_class=1, test_per_class=max(1, videos // 4), frames=frames,
                           size=size, fps=25, seed=0)


def make_dataset(root: Path, videos: int, frames: int, size: int) -> Path:
    """Synthetic UCF101-layout set with ``videos`` test videos; train videos deleted (not evaluated)."""
    from vidsparse.data.video.splits import ucf101_split
    from vidsparse.data.video.synthetic import ensure_synthetic

    data = ensure_synthetic(root / "data", synthetic_config(videos, frames, size))
    for path, _ in ucf101_split(data, 1, "train").items:
        path.unlink()
    return data


def make_run(run: Path, data: Path, videos: int, frames: int, size: int, views: str, model_name: str) -> None:
    """A run directory with a freshly initialised model (timing does not need trained weights)."""
    from dataclasses import asdict

    from vidsparse.config import build_config, save_config
    from vidsparse.data.registry import dataset_defaults
    from vidsparse.data.video.synthetic import CLASSES
    from vidsparse.models import create_model

    clips, crops = (int(v) for v in views.split("x"))
    crop = min(112, size)
    flags = {"data.dataset": "synthetic", "data.root": str(data), "model.name": model_name,
             "data.resize": crop, "data.crop": crop, "data.test_clips": clips, "data.test_crops": crops,
             # must equal the generated set's config, or the synthetic reader would regenerate it
             **{f"data.synthetic.{k}": v for k, v in asdict(synthetic_config(videos, frames, size)).items()}}
    cfg = build_config(flags=flags, dataset_defaults=dataset_defaults)
    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    torch.manual_seed(0)
    model = create_model(model_name, 4)
    torch.save({"model": model.state_dict(), "classes": [c.name for c in CLASSES[:4]], "epoch": 0}, run / "best.pt")


def corruption_cost(data: Path, preset: str, severities: list[int]) -> float:
    """Seconds to make every variant of one test video (paid by both modes)."""
    import corruptions
    from vidsparse.data.video.splits import ucf101_split
    from vidsparse.data.video.reader import read_video

    path = ucf101_split(data, 1, "test").items[0][0]
    frames, fps = read_video(path)
    clip = frames.permute(0, 3, 1, 2).contiguous()
    start = time.perf_counter()
    for name in corruptions.names(preset):
        for s in severities:
            corruptions.apply(clip, name, s, seed=0, preset=preset, video_id="x", fps=fps)
    return time.perf_counter() - start


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # keep the report readable (warnings, bars)
        result = fn()
    return time.perf_counter() - start, result


def compare_corrupt_on(run_workers: Path, run_device: Path, request: dict) -> int:
    """On-the-fly evaluation with the variants made in the workers vs in batches in the main process."""
    from vidsparse.evaluation.run import EvalRequest, run_eval

    workers_s, workers = timed(lambda: run_eval(EvalRequest(run_workers, corrupt_on="workers", **request)))
    device_s, device = timed(lambda: run_eval(EvalRequest(run_device, corrupt_on="device", **request)))
    cells = [(n, s) for n, sev in workers.corruptions.items() for s in sev]
    same = sum(workers.corruptions[n][s] == device.corruptions.get(n, {}).get(s) for n, s in cells)
    print(json.dumps({"cells": len(cells), "workers": request["workers"], "corrupt_on_workers_s": round(workers_s, 2),
                      "corrupt_on_device_s": round(device_s, 2), "device_vs_workers": round(workers_s / device_s, 2),
                      "cells_equal": f"{same}/{len(cells)}", "clean_equal": workers.clean == device.clean}, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=8, help="test videos (a multiple of 4)")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=128, help="frame side in pixels")
    parser.add_argument("--views", default="1x1", help="test views CLIPSxCROPS")
    parser.add_argument("--model", default="r3d_small")
    parser.add_argument("--severities", default="1-5")
    parser.add_argument("--workers", type=int, default=0, help="worker processes for both modes")
    parser.add_argument("--crf", type=int, default=0,
                        help="generated set coding: x264 CRF (0 = lossless, as corrupt --lossless; its default is 17)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--corrupt-on-only", action="store_true",
                        help="time on-the-fly --corrupt-on workers vs device instead of on the fly vs generated")
    args = parser.parse_args()

    from corruptions.selection import parse_severities
    from vidsparse.cli import main as cli
    from vidsparse.evaluation.run import EvalRequest, run_eval

    severities = parse_severities(args.severities)
    tmp = Path(tempfile.mkdtemp(prefix="bench_eval-"))
    try:
        data = make_dataset(tmp, args.videos, args.frames, args.size)
        runs = {mode: tmp / f"run-{mode}" for mode in ("fly", "gen")}
        for run in runs.values():
            make_run(run, data, args.videos, args.frames, args.size, args.views, args.model)
        request = dict(corruptions="all", severities=args.severities, workers=args.workers, progress=False,
                       batch_size=8)

        # Measured first, the corruption cost also warms every corruption's code path (imports,
        # frost photographs, first-call allocations) so neither timed mode pays that one-off cost.
        cost = corruption_cost(data, "ucf101-p", severities)
        if args.corrupt_on_only:
            return compare_corrupt_on(runs["gen"], runs["fly"], request)
        fly_s, fly = timed(lambda: run_eval(EvalRequest(runs["fly"], **request)))
        gen_dir = tmp / "generated"
        corrupt_args = ["corrupt", "--dataset", "synthetic", "--data-root", str(data), "--out", str(gen_dir),
                        "--corruptions", "all", "--severities", args.severities, "--workers", str(args.workers),
                        "--crf", str(args.crf)]
        with contextlib.redirect_stdout(io.StringIO()):
            make_s, code = timed(lambda: cli(corrupt_args))
        if code != 0:
            raise SystemExit(f"vidsparse corrupt failed with exit code {code}")
        read_s, gen = timed(lambda: run_eval(EvalRequest(runs["gen"], corrupted_root=gen_dir, **request)))

        cells = [(n, s) for n, sev in fly.corruptions.items() for s in sev]
        same = sum(fly.corruptions[n][s]["top1"] == gen.corruptions.get(n, {}).get(s, {}).get("top1")
                   for n, s in cells)
        n = fly.clean["n"]
        gen_total = make_s + read_s
        disk_mb = sum(p.stat().st_size for p in gen_dir.rglob("*") if p.is_file()) / 1e6
        result = {
            "videos": n, "cells": len(cells), "frames": args.frames, "size": args.size, "views": args.views,
            "workers": args.workers, "torch_threads": torch.get_num_threads(),
            "on_the_fly_s": round(fly_s, 2), "generate_s": round(make_s, 2), "evaluate_generated_s": round(read_s, 2),
            "generate_then_evaluate_s": round(gen_total, 2), "speedup": round(gen_total / fly_s, 2),
            "corruption_cost_per_video_s": round(cost, 2), "decodes_on_the_fly": n,
            "decodes_generated": n + n * len(cells) + n, "generated_set_mb": round(disk_mb, 1),
            "cells_with_equal_top1": f"{same}/{len(cells)}",
        }
        print(json.dumps(result, indent=2))
        print(f"\non the fly {fly_s:.1f} s vs generate {make_s:.1f} s + evaluate {read_s:.1f} s = {gen_total:.1f} s "
              f"-> {gen_total / fly_s:.2f}x faster; the corruptions alone cost {cost:.1f} s per video in both modes")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
