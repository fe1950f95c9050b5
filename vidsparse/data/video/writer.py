"""Writing videos: encoding frames (atomic), and stream-copy repair of packed or unindexed files."""

from __future__ import annotations

import os
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch

from corruptions.x264_cpu import repeatable_options
from vidsparse.data.video.pyav_reader import open_av, video_packets
from vidsparse.errors import UserError


@contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``, renamed to it on success and removed on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_video(
    path: str | os.PathLike,
    frames: torch.Tensor | np.ndarray,
    fps: float,
    *,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    pix_fmt: str | None = None,
) -> Path:
    """Encode uint8 ``[T, H, W, C]`` RGB frames to ``path`` atomically.

    Odd frame sizes are padded by one pixel for codecs that need even dimensions (yuv420p).
    libx264 runs with its assembly capped at AVX2 on x86-64 (``corruptions.x264_cpu``), so the
    same frames give the same file on every run and on every such CPU.
    """
    path = Path(path)
    array = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise UserError(f"write_video expects uint8 [T, H, W, 3] frames, got {array.dtype} {array.shape}")
    pix_fmt = pix_fmt or ("yuv444p" if codec == "libx264rgb" else "yuv420p")
    if pix_fmt == "yuv420p":
        pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
        if pad_h or pad_w:
            array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)
    with _atomic_target(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = array.shape[2], array.shape[1]
        stream.pix_fmt = pix_fmt
        options = repeatable_options(codec, options or {})
        if options:
            stream.options = options
        for image in array:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def remux_video(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy a video's streams into a new file without re-encoding: DivX-packed B-frames unpacked
    (``mpeg4_unpack_bframes``), a complete index written, the same container as ``target``'s suffix.

    The frames a decode yields are unchanged (tested); the copy reads faster and opens in tools
    that reject packed B-frames.
    """
    source, target = Path(source), Path(target)
    if source.resolve() == target.resolve():
        raise UserError(f"remux target {target} is the source itself; choose another path or folder")
    with open_av(source) as src, _atomic_target(target) as tmp, av.open(str(tmp), mode="w") as dst:
        video = src.streams.video[0]
        out = dst.add_stream_from_template(video)
        for packet in video_packets(src, video):
            packet.stream = out
            dst.mux(packet)
    return target
