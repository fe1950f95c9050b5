"""Decoding throughput per file format and backend, and whether the reads were frame-exact.

Writes each format of ``tests/video_formats.py`` (the formats UCF101, HMDB51, Kinetics and
Something-Something ship, and the toolkit's own output) at UCF101's size (320x240, 25 fps,
``--frames`` frames, key frame every 12-15 frames for the MPEG-4 / x264 makers' own settings), then
reads random training clips (16 frames, stride 2) through ``vidsparse.data.video.reader.read_clip``
with each backend usable here (torchcodec, decord, PyAV, auto). Every read is compared with a decode from the start: the percentage is the
share of clips equal to it frame for frame (a clip whose read raised counts as inexact;
"refused": the backend declines the file, as decord does where it is not frame-exact). Prints a
Markdown table; ratios are within this one run.

    .venv/bin/python scripts/bench_decode.py [--clips 60] [--frames 120] [--before OLD/video_io.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/video_formats.py makes the files

from tests import video_formats  # noqa: E402
from vidsparse.data.video.reader import BACKENDS, read_clip  # noqa: E402
from vidsparse.core.tables import format_table  # noqa: E402

CLIP_LEN, STRIDE = 16, 2


def bench(path: Path, truth: np.ndarray, backend: str, clips: int, read=read_clip) -> str:
    """'frames/s (share of clips equal to the truth)', 'refused' (the backend declines the file)
    or 'N errors' counted among the inexact clips."""
    rng = random.Random(0)
    exact, errors, refused, start_time = 0, 0, 0, time.perf_counter()
    for _ in range(clips):
        start = rng.randrange(len(truth))
        indices = [(start + STRIDE * i) % len(truth) for i in range(CLIP_LEN)]
        try:
            frames, _ = read(path, lambda n: indices, backend)
        except Exception as err:
            refused += getattr(err, "kind", "") == "backend"
            errors += 1
            continue
        exact += np.array_equal(frames.numpy(), truth[indices])
    if refused == clips:
        return "refused"
    rate = clips * CLIP_LEN / (time.perf_counter() - start_time)
    return f"{rate:,.0f} ({exact / clips:.0%})" + (f", {errors} errors" if errors else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--formats", default=",".join(video_formats.FORMATS), help="comma-separated format names")
    parser.add_argument("--before", metavar="FILE.py",
                        help="an earlier reader module with the same read_clip(path, select, backend) (e.g. the "
                             "video_io.py of an older commit) to measure in the same run, as 'before' columns")
    args = parser.parse_args()
    readers = {"": read_clip}
    if args.before:
        spec = importlib.util.spec_from_file_location("reader_before", args.before)
        module = importlib.util.module_from_spec(spec)
        sys.modules["reader_before"] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        readers = {" before": module.read_clip, " after": read_clip}
    # every backend usable here (torchcodec when it finds FFmpeg's libraries, decord where installed)
    backends = [(f"{b}{label}", b, read) for b in [*BACKENDS, "auto"]
                for label, read in readers.items()]
    frames = video_formats.test_frames(args.frames, height=240, width=320)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats.split(","):
            path = video_formats.make_format(name, Path(tmp), frames)
            truth = video_formats.decode_from_start(path)
            rows.append([name, *(bench(path, truth, backend, args.clips, read) for _, backend, read in backends)])
    print(f"frames/s reading {args.clips} random {CLIP_LEN}-frame clips (stride {STRIDE}) of 320x240, "
          f"{args.frames}-frame videos; (share of clips equal to the decode from the start)")
    print(format_table(["format", *(column for column, _, _ in backends)], rows))


if __name__ == "__main__":
    main()
