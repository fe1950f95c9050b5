"""torchcodec backend: PyTorch's own decoder, used first by ``auto`` when it imports *and* finds
the FFmpeg libraries it links against (4 to 8: ``apt-get install ffmpeg`` / ``libavcodec-dev``,
or ``conda install ffmpeg``); without them it stays out of the registry and decord / PyAV read.

It reads in torchcodec's ``exact`` seek mode (a packet scan builds the frame index), and only the
files decord is allowed to read (``decord_reader.check_exact``: H.264/H.265/VP8/VP9 in a
timestamped container with closed GOPs), where frame ``i`` was tested equal to the i-th frame of
a decode from the start (tests/test_torchcodec_reader.py); any other file, and any frame above
``MAX_FRAME_PIXELS`` (torchcodec would decode it full size), raises a ``backend``
VideoDecodeError, so ``auto`` hands it to the next backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidsparse.data.video.decord_reader import check_exact
from vidsparse.data.video.decoding import MAX_FRAME_PIXELS, Select, VideoDecodeError, VideoInfo, decode_size

try:  # optional: torchcodec
    from torchcodec._core import ffmpeg_major_version  # None when FFmpeg's libraries did not load
    from torchcodec.decoders import VideoDecoder

    HAVE_TORCHCODEC = ffmpeg_major_version is not None
except Exception:  # not installed, or built for another torch
    VideoDecoder = None
    HAVE_TORCHCODEC = False


def _open(path: Path):
    return VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=1, seek_mode="exact")


def probe(path: Path) -> VideoInfo:
    check_exact(path)
    meta = _open(path).metadata
    return VideoInfo(int(meta.num_frames or 0), float(meta.average_fps or 0.0), int(meta.height), int(meta.width))


def read(path: Path, select: Select | None, max_pixels: int | None = MAX_FRAME_PIXELS) -> tuple[np.ndarray, float]:
    """The frames ``select`` picks (all if None) as uint8 [T, H, W, 3]."""
    width, height = check_exact(path)
    if decode_size(width, height, max_pixels) is not None:
        raise VideoDecodeError(f"{path}: frames above {max_pixels} pixels are downscaled by the other backends",
                               "backend")
    decoder = _open(path)
    count = len(decoder)
    if count == 0:
        raise VideoDecodeError(f"no frames in {path}")
    indices = list(range(count)) if select is None else list(select(count))
    frames = decoder.get_frames_at(indices).data.numpy()
    return frames, float(decoder.metadata.average_fps or 0.0)
