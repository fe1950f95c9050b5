"""Throughput of ``vidsparse corrupt`` for the full UCF101-P preset (18 corruptions x 5 severities).

Measures, on the same synthetic videos in the same run, for each output coding (the lossless
RGB coding, the default before issue 17, and the CRF 17 default after it):
  copy      decode each video once and write 90 copies in that coding (the I/O floor, no corruption)
  job w=0   vidsparse corrupt ... --workers 0 (with --serial)
  job w=N   vidsparse corrupt ... --workers N
and prints videos/s, outputs/s, each job's time relative to its copy baseline and the bytes it
wrote; then the in-memory cost of each UCF101-P corruption on one video (mean of severities
1-5, median of 3 repeats, one thread) to show where the time goes.

    python scripts/bench_corrupt_job.py --videos 4 --frames 48 --size 160 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def make_videos(root: Path, videos: int, frames: int, size: int) -> Path:
    from vidsparse.config import SyntheticConfig
    from vidsparse.data.video.synthetic import ensure_synthetic

    per_class = max(1, videos // 2)
    cfg = SyntheticConfig(classes=2, train_per_class=per_class - 1 if per_class > 1 else 1,
                          test_per_class=1, frames=frames, size=size, fps=25, seed=0)
    return ensure_synthetic(root, cfg)


CODINGS = {"lossless": ["--lossless"], "crf 17": ["--crf", "17"]}  # before / after issue 17


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def copy_baseline(root: Path, out: Path, outputs_per_video: int, crf: int | None) -> float:
    from vidsparse.generation.video import coding_for, find_videos
    from vidsparse.data.video.reader import read_video
    from vidsparse.data.video.writer import write_video

    start = time.perf_counter()
    for path in find_videos(root):
        frames, fps = read_video(path)
        coding = coding_for(path.suffix, crf)
        for k in range(outputs_per_video):
            write_video(out / str(k) / path.name, frames, fps, codec=coding.codec, options=coding.options,
                        pix_fmt=coding.pix_fmt)
    return time.perf_counter() - start


def run_job(root: Path, out: Path, workers: int, coding: list[str]) -> tuple[float, list[str]]:
    from vidsparse.cli import main

    args = ["corrupt", "--dataset", "synthetic", "--data-root", str(root), "--out", str(out),
            "--corruptions", "ucf101-p", "--severities", "1-5", "--workers", str(workers), *coding]
    start = time.perf_counter()
    code = main(args)
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"vidsparse corrupt failed with exit code {code}")
    return elapsed, args


def per_corruption(root: Path) -> list[tuple[str, float]]:
    import statistics

    import torch

    import corruptions
    from vidsparse.generation.video import find_videos
    from vidsparse.data.video.reader import read_video

    torch.set_num_threads(1)
    frames, fps = read_video(find_videos(root)[0])
    clip = frames.permute(0, 3, 1, 2).contiguous()
    rows = []
    for name in corruptions.names("ucf101-p"):
        corruptions.apply(clip, name, 1, preset="ucf101-p", seed=0, fps=fps)  # warm-up (lazy imports)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            for severity in range(1, 6):
                corruptions.apply(clip, name, severity, preset="ucf101-p", seed=0, fps=fps)
            runs.append((time.perf_counter() - start) / 5)
        rows.append((name, statistics.median(runs)))
    return sorted(rows, key=lambda row: -row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--serial", action="store_true", help="also run the job with --workers 0")
    parser.add_argument("--skip-costs", action="store_true", help="skip the per-corruption cost table")
    args = parser.parse_args()

    import corruptions

    outputs = len(corruptions.names("ucf101-p")) * 5
    work = Path(tempfile.mkdtemp(prefix="bench-corrupt-"))
    try:
        root = make_videos(work / "synthetic", args.videos, args.frames, args.size)
        from vidsparse.generation.video import find_videos

        count = len(find_videos(root))
        print(f"{count} synthetic videos, {args.frames} frames {args.size}x{args.size}, "
              f"{outputs} outputs each (ucf101-p x 5 severities)")
        print(f"\n| coding | run | seconds | videos/s | outputs/s | x copy time | MB written |\n"
              f"|---|---|---|---|---|---|---|")
        workers = sorted({0, args.workers}) if args.serial else [args.workers]
        for label, flags in CODINGS.items():
            crf = None if "--lossless" in flags else int(flags[-1])
            baseline = copy_baseline(root, work / f"copy-{crf}", outputs, crf)
            rows = [("copy (decode + 90 writes)", baseline, tree_bytes(work / f"copy-{crf}"))]
            for w in workers:
                out = work / f"out-{crf}-w{w}"
                elapsed, cli = run_job(root, out, w, flags)
                rows.append((f"job --workers {w}", elapsed, tree_bytes(out)))
            for name, seconds, size in rows:
                print(f"| {label} | {name} | {seconds:.2f} | {count / seconds:.3f} | {count * outputs / seconds:.1f} | "
                      f"{seconds / baseline:.1f} | {size / 1e6:.1f} |", flush=True)
        print("\ncommand: vidsparse " + " ".join(cli).replace(str(work), "$WORK"))
        if args.skip_costs:
            return
        costs = per_corruption(root)
        print(f"\n| corruption | ms per video (mean of severities 1-5) |\n|---|---:|")
        for name, seconds in costs:
            print(f"| {name} | {seconds * 1000:.1f} |")
        print(f"| all 90 outputs | {sum(s for _, s in costs) * 5 * 1000:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
