"""Frames/s of the frame-level corruptions against `imagecorruptions`, measured in the same run.

    python scripts/bench_corruptions.py [--sizes 112 224] [--frames 16] [--repeats 3]
                                        [--out docs/benchmarks/corruptions.md]

Both sides get the same 16-frame uint8 clip (a pan across a bundled scikit-image photo) at
severity 3 of the ImageNet table. Ours: one call per clip, uint8 -> float -> corruption ->
uint8. Theirs: `imagecorruptions.corrupt` per frame (it has no clip API). Each timing is the
best of --repeats runs after a warm-up, so both sides are measured at their least disturbed.
Glass blur is also timed against imagecorruptions' pixel loop run as plain Python
(`.py_func` of its numba kernel, i.e. the original imagecorruptions 1.1.2 algorithm).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corruptions import blur, digital, noise, weather  # noqa: E402
from corruptions.tables_image import IMAGENET  # noqa: E402

FUNCTIONS = {**noise.FUNCTIONS, **blur.FUNCTIONS, **weather.FUNCTIONS, **digital.FUNCTIONS}
COMMON = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
          "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"]
EXTRA = ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
SEVERITY = 3


def panning_clip(frames: int, size: int) -> torch.Tensor:
    """uint8 [T, 3, size, size]: a camera pan across skimage's astronaut photograph."""
    import skimage.data

    image = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float()[None] / 255
    image = F.interpolate(image, size=(2 * size, 2 * size), mode="bilinear", antialias=True, align_corners=False)
    steps = torch.linspace(0, size, frames).round().long().tolist()
    crops = torch.cat([image[..., s // 2 : s // 2 + size, s : s + size] for s in steps])
    return (crops * 255).round().clamp(0, 255).to(torch.uint8)


def best_time(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def ours(name: str, clip: torch.Tensor) -> Callable[[], torch.Tensor]:
    function, param = FUNCTIONS[name], IMAGENET[name][SEVERITY - 1]

    def run() -> torch.Tensor:
        out = function(clip.float() / 255, param, torch.Generator().manual_seed(0))
        return (out * 255).round_().to(torch.uint8)

    return run


def theirs(name: str, frames: list[np.ndarray]) -> Callable[[], list[np.ndarray]]:
    import imagecorruptions

    return lambda: [imagecorruptions.corrupt(f, severity=SEVERITY, corruption_name=name) for f in frames]


def pure_python_glass(frames: list[np.ndarray]) -> Callable[[], None]:
    """imagecorruptions.glass_blur with its numba pixel loop run as plain Python (1.1.2 speed)."""
    import imagecorruptions.corruptions as icc
    from PIL import Image

    def run() -> None:
        kernel = icc._shuffle_pixels_njit_glass_blur
        icc._shuffle_pixels_njit_glass_blur = kernel.py_func
        try:
            for frame in frames:
                icc.glass_blur(Image.fromarray(frame), SEVERITY, seed=0)
        finally:
            icc._shuffle_pixels_njit_glass_blur = kernel

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pure-python-frames", type=int, default=2,
                        help="frames timed for the pure-Python glass blur (it takes about 1 s per 224 px frame)")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    load_before = os.getloadavg()[0]
    lines: list[str] = []
    summary: list[str] = []
    for size in args.sizes:
        clip = panning_clip(args.frames, size)
        frames = [f.permute(1, 2, 0).numpy() for f in clip]
        rows, common_ratios = [], []
        for name in COMMON + EXTRA:
            t_ours = best_time(ours(name, clip), args.repeats)
            t_theirs = best_time(theirs(name, frames), args.repeats)
            ratio = t_theirs / t_ours
            if name in COMMON:
                common_ratios.append(ratio)
            rows.append(f"| {name} | {args.frames / t_ours:,.0f} | {args.frames / t_theirs:,.0f} | {ratio:.1f}x |")
            print(rows[-1], flush=True)
        py_frames = frames[: args.pure_python_frames]
        t_py = best_time(pure_python_glass(py_frames), 1) / len(py_frames) * args.frames
        t_glass = best_time(ours("glass_blur", clip), args.repeats)
        rows.append(f"| glass_blur vs pure-Python loop | {args.frames / t_glass:,.0f} | {args.frames / t_py:,.1f} | "
                    f"{t_py / t_glass:.0f}x |")
        print(rows[-1], flush=True)
        median = statistics.median(common_ratios)
        lines += [f"### {args.frames} frames of {size}x{size}", "",
                  "| corruption | ours (frames/s) | imagecorruptions (frames/s) | speed-up |", "|---|---:|---:|---:|",
                  *rows, "", f"Median speed-up over the 15 common corruptions: **{median:.1f}x**.", ""]
        summary.append(f"{size}px: median {median:.1f}x")
    load_after = os.getloadavg()[0]

    header = [
        "## Frame-level corruptions: vidsparse `corruptions` vs `imagecorruptions`", "",
        f"Command: `python scripts/bench_corruptions.py --sizes {' '.join(map(str, args.sizes))} --frames {args.frames}"
        f" --repeats {args.repeats}`", "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads; load average {load_before:.1f} before / {load_after:.1f} after "
        "(other jobs shared the CPU). Severity 3, ImageNet parameters, best of "
        f"{args.repeats} runs; ours includes uint8 <-> float conversion; theirs is `imagecorruptions.corrupt` "
        "called per frame (imagecorruptions-imaug 1.1.5, numba glass blur). Ratios come from the same run.", "",
    ]
    report = "\n".join(header + lines)
    print("\n" + "; ".join(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(report + "\n")
        os.replace(tmp, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
