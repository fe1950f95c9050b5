"""Decoding throughput: decord vs PyAV reading 16-frame clips, as a ratio from the same run.

Reads random 16-frame clips (stride 1) from (a) the built-in synthetic set (64 px H.264) and
(b) UCF101-sized videos (320x240, 96 frames, H.264) that the script writes itself, through
``vidsparse.data.video.reader.read_clip`` with each backend. Prints a Markdown table.

    .venv/bin/python scripts/bench_decode.py [--clips 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from vidsparse.config import SyntheticConfig
from vidsparse.data.synthetic import ensure_synthetic, render_video
from vidsparse.data.video.reader import HAVE_DECORD, read_clip
from vidsparse.data.video.writer import write_video
from vidsparse.tables import format_table


def ucf_sized_videos(root: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        gen = torch.Generator().manual_seed(i)
        frames = render_video(i % 8, 96, 240, gen)
        frames = torch.nn.functional.pad(frames.permute(0, 3, 1, 2), (40, 40)).permute(0, 2, 3, 1)
        paths.append(write_video(root / f"v{i}.mp4", frames.contiguous(), 25, options={"crf": "23"}))
    return paths


def frames_per_second(paths: list[Path], backend: str, clips: int, clip_len: int = 16) -> float:
    gen = torch.Generator().manual_seed(0)
    start_time = time.perf_counter()
    for k in range(clips):
        path = paths[k % len(paths)]

        def select(n: int) -> list[int]:
            start = int(torch.randint(0, max(1, n - clip_len + 1), (), generator=gen))
            return [min(start + i, n - 1) for i in range(clip_len)]

        read_clip(path, select, backend)
    return clips * clip_len / (time.perf_counter() - start_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    args = parser.parse_args()
    backends = ["decord", "pyav"] if HAVE_DECORD else ["pyav"]
    with tempfile.TemporaryDirectory() as tmp:
        sets = {
            "synthetic 64x64 (24 frames)": sorted(ensure_synthetic(Path(tmp) / "synth", SyntheticConfig()).rglob("*.mp4")),
            "320x240 (96 frames)": ucf_sized_videos(Path(tmp) / "ucf", 8),
        }
        rows = []
        for name, paths in sets.items():
            fps = {b: frames_per_second(paths, b, args.clips) for b in backends}
            ratio = f"{fps['decord'] / fps['pyav']:.2f}x" if len(fps) == 2 else "n/a"
            rows.append([name, *(f"{fps[b]:,.0f}" for b in backends), ratio])
    print(format_table(["videos", *(f"{b} frames/s" for b in backends), "decord / pyav"], rows))


if __name__ == "__main__":
    main()
