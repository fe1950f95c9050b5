"""Video decoding and encoding.

Decoding prefers decord (fast, frame-accurate seeking) and falls back to PyAV, which reads
every container and codec FFmpeg knows (decord cannot open AV1, GIF and some containers).
Frames are uint8 ``[T, H, W, C]`` RGB tensors. Writing always goes through PyAV and is atomic
(temporary file, then rename), so an interrupted job never leaves a half-written video.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from vidsparse.errors import UserError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".gif", ".mpg", ".mpeg")


class VideoDecodeError(UserError):
    """A video file cannot be decoded (missing, empty, corrupt, or no video stream)."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


import av  # noqa: F401,E402  (load PyAV's FFmpeg before decord's bundled libraries: loaded after
#                              decord, PyAV's libvpx-vp9 encoder fails to open)

try:  # decord has wheels for Linux x86_64 only; everything works without it.
    import decord

    decord.bridge.set_bridge("native")
    decord.logging.set_level(decord.logging.QUIET)
    HAVE_DECORD = True
except Exception:  # pragma: no cover - depends on the platform
    decord = None
    HAVE_DECORD = False

# decord's FFmpeg context is not safe to open concurrently from several threads.
_DECORD_LOCK = threading.Lock()


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoDecodeError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"video is empty (0 bytes): {path}")


# ---------------------------------------------------------------------------------------------
# decord backend


def _decord_reader(path: Path):
    with _DECORD_LOCK:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)


def _decord_probe(path: Path) -> VideoInfo:
    reader = _decord_reader(path)
    height, width = reader[0].shape[:2] if len(reader) else (0, 0)
    return VideoInfo(len(reader), float(reader.get_avg_fps()), int(height), int(width))


def _decord_read(path: Path, indices: Sequence[int] | None) -> tuple[torch.Tensor, float]:
    reader = _decord_reader(path)
    fps = float(reader.get_avg_fps())
    if indices is None:
        indices = range(len(reader))
    frames = reader.get_batch(list(indices)).asnumpy()
    return torch.from_numpy(frames), fps


# ---------------------------------------------------------------------------------------------
# PyAV backend


def _open_av(path: Path):
    import av

    try:
        container = av.open(str(path))
    except Exception as err:
        raise VideoDecodeError(f"cannot open video {path}: {err}") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"no video stream in {path}")
    return container


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 25.0


def _av_probe(path: Path) -> VideoInfo:
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        num_frames = stream.frames
        if not num_frames:  # some containers do not store a frame count: count packets
            num_frames = sum(1 for p in container.demux(stream) if p.size)
        return VideoInfo(int(num_frames), _stream_fps(stream), stream.height, stream.width)
    finally:
        container.close()


def _av_read(path: Path, indices: Sequence[int] | None) -> tuple[torch.Tensor, float]:
    """Decode with PyAV, seeking to the key frame before the first wanted frame when possible.

    Frame numbers come from presentation timestamps (pts * time_base * fps), which stay
    correct after a seek; files without timestamps are decoded from the start and counted.
    """
    container = _open_av(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = _stream_fps(stream)
        wanted = None if indices is None else sorted({int(i) for i in indices})
        first_pts = stream.start_time or 0
        time_base = stream.time_base
        if wanted and wanted[0] > 0 and _seekable(stream):
            target = first_pts + int(wanted[0] / fps / time_base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
        decoded: dict[int, np.ndarray] = {}
        for counter, frame in enumerate(container.decode(stream)):
            index = counter if frame.pts is None or not time_base else (
                int(round(float((frame.pts - first_pts) * time_base) * fps))
            )
            if wanted is None or (index in wanted and index not in decoded):
                decoded[index if wanted is not None else len(decoded)] = frame.to_ndarray(format="rgb24")
            if wanted is not None and index >= wanted[-1]:
                break
        if not decoded:
            raise VideoDecodeError(f"no decodable frames in {path}")
        if wanted is None:
            ordered = [decoded[i] for i in sorted(decoded)]
        else:  # indices past the real end (wrong frame count in a header) take the nearest frame
            available = sorted(decoded)
            ordered = [decoded[i] if i in decoded else decoded[_nearest(available, i)] for i in indices]
        return torch.from_numpy(np.stack(ordered)), fps
    except VideoDecodeError:
        raise
    except Exception as err:
        raise VideoDecodeError(f"cannot decode {path}: {err}") from None
    finally:
        container.close()


def _seekable(stream) -> bool:
    """Seeking is only trustworthy when frames carry timestamps and the rate is known."""
    return bool(stream.time_base) and bool(stream.average_rate or stream.guessed_rate)


def _nearest(sorted_values: list[int], value: int) -> int:
    import bisect

    pos = bisect.bisect_left(sorted_values, value)
    if pos == 0:
        return sorted_values[0]
    if pos == len(sorted_values):
        return sorted_values[-1]
    before, after = sorted_values[pos - 1], sorted_values[pos]
    return before if value - before <= after - value else after


# ---------------------------------------------------------------------------------------------
# public API

BACKENDS = {"decord": (_decord_probe, _decord_read), "pyav": (_av_probe, _av_read)}


def default_backend() -> str:
    return "decord" if HAVE_DECORD else "pyav"


def _backends(backend: str | None) -> list[str]:
    if backend is None or backend == "auto":
        return ["decord", "pyav"] if HAVE_DECORD else ["pyav"]
    if backend not in BACKENDS:
        raise UserError(f"unknown video backend {backend!r}; valid: auto, {', '.join(BACKENDS)}")
    if backend == "decord" and not HAVE_DECORD:
        raise UserError("video backend 'decord' is not installed; use --set data.backend=pyav")
    return [backend]


def probe_video(path: str | os.PathLike, backend: str | None = None) -> VideoInfo:
    """Frame count, frame rate and size, without decoding frames."""
    path = Path(path)
    _check_file(path)
    errors = []
    for name in _backends(backend):
        try:
            info = BACKENDS[name][0](path)
            if info.num_frames > 0:
                return info
            errors.append(f"{name}: no frames")
        except Exception as err:  # decord raises its own DECORDError types
            errors.append(f"{name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    raise VideoDecodeError(f"cannot decode {path} ({'; '.join(errors)})")


def read_video(
    path: str | os.PathLike, indices: Sequence[int] | None = None, backend: str | None = None
) -> tuple[torch.Tensor, float]:
    """Return (uint8 frames ``[T, H, W, C]``, fps) for the given frame indices (all if None).

    Tries decord first and falls back to PyAV when decord is missing or fails on the file.
    """
    path = Path(path)
    _check_file(path)
    errors = []
    for name in _backends(backend):
        try:
            frames, fps = BACKENDS[name][1](path, indices)
            if frames.shape[0] > 0:
                return frames, fps
            errors.append(f"{name}: no frames")
        except Exception as err:
            errors.append(f"{name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    raise VideoDecodeError(f"cannot decode {path} ({'; '.join(errors)})")


def read_clip(
    path: str | os.PathLike,
    select: Callable[[int], Sequence[int]],
    backend: str | None = None,
) -> tuple[torch.Tensor, float]:
    """Read the frames ``select(num_frames)`` chooses, opening the file only once with decord.

    This is the training/eval hot path: the clip sampler needs the frame count to pick
    indices, and re-opening a file per clip would double the container parsing cost.
    """
    path = Path(path)
    _check_file(path)
    errors = []
    for name in _backends(backend):
        try:
            if name == "decord":
                reader = _decord_reader(path)
                if len(reader) == 0:
                    raise VideoDecodeError("no frames")
                frames = reader.get_batch(list(select(len(reader)))).asnumpy()
                return torch.from_numpy(frames), float(reader.get_avg_fps())
            return _av_read(path, list(select(_av_probe(path).num_frames)))
        except Exception as err:
            errors.append(f"{name}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    raise VideoDecodeError(f"cannot decode {path} ({'; '.join(errors)})")


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
    """
    import av

    path = Path(path)
    array = frames.cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise UserError(f"write_video expects uint8 [T, H, W, 3] frames, got {array.dtype} {array.shape}")
    pix_fmt = pix_fmt or ("yuv444p" if codec == "libx264rgb" else "yuv420p")
    if pix_fmt == "yuv420p":
        pad_h, pad_w = array.shape[1] % 2, array.shape[2] % 2
        if pad_h or pad_w:
            array = np.pad(array, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = array.shape[2], array.shape[1]
            stream.pix_fmt = pix_fmt
            if options:
                stream.options = dict(options)
            for image in array:
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
