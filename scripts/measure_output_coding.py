"""Size and fidelity of ``vidsparse corrupt``'s output codings, on real-ish clips, in one run.

No real footage ships with the project, so the clips are camera pans with a slow zoom over
natural photographs (scikit-image's astronaut, coffee, chelsea, rocket): real textures and
edges, moving as a hand-held camera would, at UCF101's 320x240 and 25 fps. Each clip is
corrupted with every UCF101-P corruption at one severity, then written with each coding; the
lossless file reads back bit-identical to the corrupted frames, so PSNR and SSIM against those
frames are the coding's own error. Prints one table: bytes relative to lossless, PSNR (dB, RGB,
over all frames) and SSIM (every 8th frame), worst and median over the corruptions.

    python scripts/measure_output_coding.py --frames 64 --severity 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def pan_clip(photo: np.ndarray, frames: int, height: int = 240, width: int = 320) -> np.ndarray:
    """uint8 [T, H, W, 3]: a window gliding across the photo while zooming in by 15%."""
    import torch.nn.functional as F

    image = torch.from_numpy(photo).permute(2, 0, 1).float()[None]
    scale = max(height / image.shape[2], width / image.shape[3]) * 1.4  # room to pan
    image = F.interpolate(image, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
    big_h, big_w = image.shape[2:]
    out = []
    for t in range(frames):
        a = t / max(frames - 1, 1)
        zoom = 1.0 + 0.15 * a
        h, w = round(big_h / 1.4 / zoom), round(big_w / 1.4 / zoom)
        top, left = round((big_h - h) * (0.2 + 0.5 * a)), round((big_w - w) * a)
        crop = image[:, :, top: top + h, left: left + w]
        frame = F.interpolate(crop, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        out.append(frame[0].clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    return np.stack(out)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(np.mean([structural_similarity(x, y, channel_axis=-1) for x, y in zip(a[::8], b[::8])]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--crfs", default="12,17,18,23", help="4:2:0 CRFs to compare")
    parser.add_argument("--crfs-444", default="17", help="4:4:4 CRFs (the job's coding)")
    args = parser.parse_args()
    import skimage.data

    import corruptions
    from vidsparse.data.video.reader import read_video
    from vidsparse.data.video.writer import write_video
    from vidsparse.generation.video import coding_for

    torch.set_num_threads(1)
    codings = {"lossless": coding_for(".avi", None)}
    for c in args.crfs.split(","):  # the usual 4:2:0, for comparison
        codings[f"crf {c} 4:2:0"] = dataclasses.replace(coding_for(".avi", int(c)), pix_fmt="yuv420p")
    for c in args.crfs_444.split(","):  # the job's CRF coding (4:4:4)
        codings[f"crf {c} 4:4:4"] = coding_for(".avi", int(c))
    stats: dict[str, dict[str, list[float]]] = {k: {"bytes": [], "psnr": [], "ssim": []} for k in codings}
    noisy = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"}
    noise_stats: dict[str, list[float]] = {k: [] for k in codings}
    with tempfile.TemporaryDirectory() as tmp:
        for photo in PHOTOS:
            clip = torch.from_numpy(pan_clip(getattr(skimage.data, photo)(), args.frames)).permute(0, 3, 1, 2)
            for name in ["clean", *corruptions.names("ucf101-p")]:
                frames = clip if name == "clean" else corruptions.apply(
                    clip, name, args.severity, preset="ucf101-p", seed=0, fps=25.0)
                exact = frames.permute(0, 2, 3, 1).contiguous().numpy()
                for label, coding in codings.items():
                    path = Path(tmp) / f"{photo}-{name}-{label.replace(' ', '').replace(':', '')}.avi"
                    write_video(path, exact, 25.0, codec=coding.codec, options=coding.options, pix_fmt=coding.pix_fmt)
                    back = read_video(path)[0].numpy()
                    stats[label]["bytes"].append(path.stat().st_size)
                    if label != "lossless":
                        stats[label]["psnr"].append(psnr(exact, back))
                        stats[label]["ssim"].append(ssim(exact, back))
                        if name in noisy:
                            noise_stats[label].append(psnr(exact, back))
                    path.unlink()
    lossless = np.array(stats["lossless"]["bytes"], dtype=np.float64)
    videos = len(lossless)
    print(f"{len(PHOTOS)} clips x {videos // len(PHOTOS)} variants (clean + ucf101-p at severity {args.severity}), "
          f"{args.frames} frames of 320x240")
    print("| coding | MB per video (mean) | size vs lossless | PSNR dB min / median | noise PSNR min | SSIM min / median |")
    print("|---|---|---|---|---|---|")
    for label, s in stats.items():
        size = np.array(s["bytes"], dtype=np.float64)
        ratio = float(size.sum() / lossless.sum())
        if label == "lossless":
            print(f"| {label} | {size.mean() / 1e6:.2f} | 1 | exact | exact | 1 |")
            continue
        print(f"| {label} | {size.mean() / 1e6:.2f} | {ratio:.3f} (1/{1 / ratio:.1f}) | "
              f"{min(s['psnr']):.1f} / {statistics.median(s['psnr']):.1f} | {min(noise_stats[label]):.1f} | "
              f"{min(s['ssim']):.4f} / {statistics.median(s['ssim']):.4f} |")


if __name__ == "__main__":
    main()
