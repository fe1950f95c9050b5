"""Video decoding and encoding.

Decoding prefers decord (fast, frame-accurate seeking) and falls back to PyAV, which reads
every container and codec FFmpeg knows (decord cannot open AV1, GIF, some frame widths and
some containers, and seeks wrongly in a few: see ``_decord_can_seek``). Frames are uint8
``[T, H, W, C]`` RGB tensors. Writing always goes through PyAV and is atomic (temporary file,
then rename), so an interrupted job never leaves a half-written video.

Every reader (training, evaluation, ``vidsparse corrupt``) decodes through this module, so its
input policies hold everywhere (docs/input-policies.md):

* frame ``i`` is the i-th frame stored in the file, in presentation order, with both backends:
  variable-frame-rate videos are sampled by frame index, never by timestamp;
* frames larger than ``MAX_FRAME_PIXELS`` are downscaled while decoding (aspect ratio kept), so a
  long 4K video costs no more memory than a 1080p one (decord may hold up to ``SHORT_READ``
  frames at full size first);
* a file that cannot be used raises ``VideoDecodeError`` whose ``kind`` says why (a key of
  ``DECODE_PROBLEMS``); datasets skip and count such samples.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch

from vidsparse.errors import UserError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".gif", ".mpg", ".mpeg")

# Larger frames are downscaled while decoding: one 3840x2160 frame is 25 MB as uint8 and 100 MB
# as float, so a 16-frame 4K clip would need 2 GB in the transform. Every model input is far
# smaller, and videos up to 1080p are decoded untouched.
MAX_FRAME_PIXELS = 1920 * 1080

# kind -> what it means; every kind is skipped and counted by the datasets and the corrupt job
DECODE_PROBLEMS: dict[str, str] = {
    "missing": "file not found",
    "empty": "empty file (0 bytes)",
    "not_video": "not a video (an image, text or unknown format)",
    "no_video_stream": "no video stream (e.g. audio only)",
    "damaged": "damaged video (truncated header or index, corrupt data)",
    "backend": "the chosen video backend cannot read it correctly (set data.backend=auto)",
}


class VideoDecodeError(UserError):
    """A video file cannot be used; ``kind`` (a key of DECODE_PROBLEMS) says why."""

    def __init__(self, message: str, kind: str = "damaged") -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self):  # keep the kind when a worker process sends the error back
        return type(self), (str(self), self.kind)


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


import av  # noqa: E402  (load PyAV's FFmpeg before decord's bundled libraries: loaded after
#                        decord, PyAV's libvpx-vp9 encoder fails to open)

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


Select = Callable[[int], Sequence[int]]  # frame count -> the frame indices to read

SHORT_READ = 16  # decord reads of at most this many frames may briefly hold them at full size


def decode_size(width: int, height: int, max_pixels: int | None = MAX_FRAME_PIXELS) -> tuple[int, int] | None:
    """The (width, height) to decode an oversized frame at, aspect kept; None keeps the stored size."""
    if not max_pixels or width * height <= max_pixels:
        return None
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


# ---------------------------------------------------------------------------------------------
# what a file is, when no decoder can use it


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise VideoDecodeError(f"video not found: {path}", "missing")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"video is empty (0 bytes): {path}", "empty")


def _looks_like_video(head: bytes) -> bool:
    """Whether the first bytes carry the signature of a video container FFmpeg reads."""
    return (
        (head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"))
        or head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")  # MP4 / QuickTime
        or head[:4] in (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"OggS",
                        b"\x30\x26\xb2\x75")  # Matroska/WebM, MPEG-PS, MPEG video, Ogg, ASF
        or head[:3] in (b"GIF", b"FLV")
        or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47)  # MPEG-TS
    )


def _unopenable_kind(path: Path) -> str:
    """A file no backend can open is 'damaged' if it starts like a video, else 'not_video'."""
    with path.open("rb") as fh:
        return "damaged" if _looks_like_video(fh.read(256)) else "not_video"


def _first_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)  # decord's "[time] file.cc:line: " prefix


# ---------------------------------------------------------------------------------------------
# decord backend


def _decord_open(path: Path, size: tuple[int, int] | None = None):
    width, height = size or (-1, -1)
    with _DECORD_LOCK:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=1)


def _decord_probe(path: Path) -> VideoInfo:
    reader = _decord_open(path)
    height, width = reader[0].shape[:2] if len(reader) else (0, 0)
    return VideoInfo(len(reader), float(reader.get_avg_fps()), int(height), int(width))


# MPEG transport streams: decord's timestamps look fine but its seeks land on the wrong frames
DECORD_UNRELIABLE_SUFFIXES = (".ts", ".m2ts", ".mts")
# containers that store presentation timestamps: decord's frame index is always ordered there
TIMESTAMPED_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm")


def _decord_can_seek(path: Path, reader) -> bool:
    """decord seeks by frame timestamp; without valid, ordered ones (MPEG-PS, AVI with B-frames as
    Xvid writes them) its random access returns the wrong frames, so PyAV must read the file."""
    suffix = path.suffix.lower()
    if suffix in TIMESTAMPED_SUFFIXES:
        return True  # skip the look-up on the hot path: it costs 5% of reading a small clip
    if suffix in DECORD_UNRELIABLE_SUFFIXES:
        return False
    starts = reader.get_frame_timestamp(np.arange(len(reader)))[:, 0]
    return bool(starts[0] > -1.0 and (np.diff(starts) >= 0).all())  # missing ones read as about -1e17


def _decord_read(path: Path, select: Select | None, max_pixels: int | None) -> tuple[np.ndarray, float]:
    """The frames ``select`` picks (all if None), never more than SHORT_READ frames at full size.

    A long read (a whole video, multi-clip test views) first learns the frame size from the
    container header, so an oversized video is decoded small from the start. A short read (a
    training clip) skips that look-up, which would cost as much as decoding a small clip, and
    is re-read at the reduced size in the rare case its frames turn out oversized.
    """
    reader = _decord_open(path)
    if len(reader) == 0:
        raise VideoDecodeError(f"no frames in {path}")
    if not _decord_can_seek(path, reader):
        raise VideoDecodeError(f"decord cannot seek in {path} (no ordered frame timestamps); PyAV reads it",
                               "backend")
    fps = float(reader.get_avg_fps())
    indices = list(range(len(reader)) if select is None else select(len(reader)))
    if len(indices) > SHORT_READ:
        size = decode_size(*_stored_size(path), max_pixels)
        return (reader if size is None else _decord_open(path, size)).get_batch(indices).asnumpy(), fps
    frames = reader.get_batch(indices).asnumpy()
    size = decode_size(frames.shape[2], frames.shape[1], max_pixels)
    if size is None:
        return frames, fps
    del frames
    return _decord_open(path, size).get_batch(indices).asnumpy(), fps


def _stored_size(path: Path) -> tuple[int, int]:
    """(width, height) from the container header; (0, 0) if PyAV cannot tell."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return stream.width, stream.height
    except Exception:
        return 0, 0


# ---------------------------------------------------------------------------------------------
# PyAV backend


def _open_av(path: Path):
    try:
        container = av.open(str(path))
    except Exception as err:
        raise VideoDecodeError(f"cannot open video {path}: {_first_line(err)}", _unopenable_kind(path)) from None
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        container.close()  # FFmpeg reads a PNG/JPEG/BMP/WebP as a one-frame "video"
        raise VideoDecodeError(f"not a video: {path} is a {container.format.name.removesuffix('_pipe')} image",
                               "not_video")
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"no video stream in {path}", "no_video_stream")
    return container


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 25.0


class _AvVideo:
    """A video opened with PyAV whose frames are numbered by position, as decord numbers them.

    The packets' presentation timestamps, sorted, give frame ``i``'s timestamp, which lets a
    read seek near its first frame and recognise each decoded frame; files whose packets lack
    unique timestamps are decoded from the start and counted instead.
    """

    def __init__(self, path: Path, max_pixels: int | None = MAX_FRAME_PIXELS) -> None:
        self.path = path
        with _open_av(path) as container:
            stream = container.streams.video[0]
            self.fps = _stream_fps(stream)
            self.width, self.height = stream.width, stream.height
            self.declared_frames = int(stream.frames or 0)  # what the header claims, if anything
            self.declared_seconds = _declared_seconds(container, stream)
            self.time_base = stream.time_base
            pts, self.open_gop = _packet_index(container, stream)
        self.num_frames = len(pts)
        self.pts = sorted(pts) if None not in pts and len(set(pts)) == len(pts) else None
        self.size = decode_size(self.width, self.height, max_pixels)

    def _rgb(self, frame) -> np.ndarray:
        if self.size is None:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", width=self.size[0], height=self.size[1])

    def frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """uint8 [T, H, W, 3] at ``indices`` (every frame if None)."""
        if indices is None:
            with _open_av(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                frames = [self._rgb(f) for f in container.decode(stream)]
            if not frames:
                raise VideoDecodeError(f"no decodable frames in {self.path}")
            return np.stack(frames)
        wanted = sorted({int(i) for i in indices})
        decoded = self._decode_seeking(wanted) if self.pts is not None and wanted[0] > 0 else None
        if decoded is None:  # from the start, counting frames: slower, always right
            decoded = self._decode_from_start(wanted)
        if not decoded:
            raise VideoDecodeError(f"no decodable frames in {self.path}")
        # a frame the file lists but the decoder cannot produce (the partly written last frame of
        # a truncated file) is replaced by its nearest decodable neighbour
        available = sorted(decoded)
        return np.stack([decoded[i] if i in decoded else decoded[_nearest(available, i)] for i in indices])

    def _decode_from_start(self, wanted: list[int]) -> dict[int, np.ndarray]:
        decoded: dict[int, np.ndarray] = {}
        wanted_set = set(wanted)
        with _open_av(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted_set:
                    decoded[index] = self._rgb(frame)
                if index >= wanted[-1]:
                    break
        return decoded

    def _decode_seeking(self, wanted: list[int]) -> dict[int, np.ndarray] | None:
        """Seek to the key frame before the first wanted frame and decode on from there.

        Demuxers that seek by decoding order (AVI with B-frames, as Xvid writes it) can land past
        the first wanted frame; the seek then restarts from an earlier frame until it does not. None:
        decode from the start instead (a timestamp the packet index does not know).
        """
        position = {p: i for i, p in enumerate(self.pts)}
        wanted_set = set(wanted)
        start = min(wanted[0], len(self.pts) - 1)
        while start > 0:
            decoded: dict[int, np.ndarray] = {}
            first = None
            with _open_av(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                container.seek(self.pts[start], stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    index = position.get(frame.pts)
                    if index is None:
                        return None
                    first = index if first is None else first
                    if first > wanted[0]:
                        break
                    if index in wanted_set and index not in decoded:
                        decoded[index] = self._rgb(frame)
                    if index >= wanted[-1]:
                        break
            if first is None:  # nothing decodes after the seek
                return None
            if first <= wanted[0]:
                return decoded
            start = min(start, first) - 1  # landed past the first wanted frame: seek earlier
        return None

    @property
    def variable_rate(self) -> bool:
        """Frame intervals differ by more than half: timestamps and frame indices diverge."""
        if self.pts is None or len(self.pts) < 3:
            return False
        gaps = np.diff(np.asarray(self.pts, dtype=np.float64))
        return bool(gaps.min() > 0 and gaps.max() > 1.5 * gaps.min())

    @property
    def truncated(self) -> bool:
        """Fewer frames present than the header declares (frame count, or duration at the frame rate)."""
        if self.declared_frames:
            return self.num_frames < self.declared_frames
        if self.declared_seconds and self.pts:
            present = float((self.pts[-1] - self.pts[0]) * self.time_base) + 1 / self.fps
            return present < self.declared_seconds - max(2 / self.fps, 0.02 * self.declared_seconds)
        return False


def _packet_index(container, stream) -> tuple[list[int | None], bool]:
    """Timestamps of the video packets present in the file (a truncated file: those before the cut)
    in decoding order, and whether a key frame after the first is followed by frames shown before
    it (open GOPs: decord's seeks return wrong frames there)."""
    pts: list[int | None] = []
    keys, open_gop, key_pts = 0, False, None
    try:
        for packet in container.demux(stream):
            if not packet.size:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys, key_pts = keys + 1, packet.pts
            elif keys > 1 and None not in (packet.pts, key_pts) and packet.pts < key_pts:
                open_gop = True
    except Exception:  # a damaged tail ends the index; the frames before it stay usable
        pass
    return pts, open_gop


def _declared_seconds(container, stream) -> float:
    """The video's duration as its header states it (the container's only if it holds one stream)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return 0.0


def _nearest(sorted_values: list[int], value: int) -> int:
    pos = bisect.bisect_left(sorted_values, value)
    if pos == 0:
        return sorted_values[0]
    if pos == len(sorted_values):
        return sorted_values[-1]
    before, after = sorted_values[pos - 1], sorted_values[pos]
    return before if value - before <= after - value else after


def _av_probe(path: Path) -> VideoInfo:
    video = _AvVideo(path)
    return VideoInfo(video.num_frames, video.fps, video.height, video.width)


def _av_read(path: Path, select: Select | None, max_pixels: int | None) -> tuple[np.ndarray, float]:
    try:
        video = _AvVideo(path, max_pixels)
        if video.num_frames == 0:
            raise VideoDecodeError(f"no frames in {path}")
        return video.frames(None if select is None else list(select(video.num_frames))), video.fps
    except VideoDecodeError:
        raise
    except Exception as err:
        raise VideoDecodeError(f"cannot decode {path}: {_first_line(err)}") from None


# ---------------------------------------------------------------------------------------------
# public API


def default_backend() -> str:
    return "decord" if HAVE_DECORD else "pyav"


BACKEND_NAMES = ("decord", "pyav")


def _backends(backend: str | None) -> list[str]:
    if backend is None or backend == "auto":
        return ["decord", "pyav"] if HAVE_DECORD else ["pyav"]
    if backend not in BACKEND_NAMES:
        raise UserError(f"unknown video backend {backend!r}; valid: auto, {', '.join(BACKEND_NAMES)}")
    if backend == "decord" and not HAVE_DECORD:
        raise UserError("video backend 'decord' is not installed; use --set data.backend=pyav")
    return [backend]


T = TypeVar("T")

# a specific diagnosis from one backend beats another backend's generic failure
_KIND_PRIORITY = ("no_video_stream", "not_video", "backend")


def _first_working(path: Path, backend: str | None, attempt: Callable[[str], T]) -> T:
    """``attempt(backend)`` for each backend in turn; if all fail, one VideoDecodeError with a kind."""
    _check_file(path)
    failures: list[tuple[str, BaseException]] = []
    for name in _backends(backend):
        try:
            return attempt(name)
        except Exception as err:  # decord raises its own DECORDError types
            failures.append((name, err))
    kinds = {getattr(err, "kind", None) for _, err in failures}
    kind = next((k for k in _KIND_PRIORITY if k in kinds), None)
    if kind is None:
        kind = "damaged" if "damaged" in kinds else _unopenable_kind(path)
    reasons = "; ".join(f"{name}: {_first_line(err)}" for name, err in failures)
    raise VideoDecodeError(f"cannot decode {path}: {DECODE_PROBLEMS[kind]} ({reasons})", kind)


def probe_video(path: str | os.PathLike, backend: str | None = None) -> VideoInfo:
    """Frame count (frames present in the file), frame rate and stored size, without decoding frames."""
    path = Path(path)

    def attempt(name: str) -> VideoInfo:
        info = (_decord_probe if name == "decord" else _av_probe)(path)
        if info.num_frames <= 0:
            raise VideoDecodeError(f"no frames in {path}")
        return info

    return _first_working(path, backend, attempt)


def read_video(
    path: str | os.PathLike,
    indices: Sequence[int] | None = None,
    backend: str | None = None,
    max_pixels: int | None = MAX_FRAME_PIXELS,
) -> tuple[torch.Tensor, float]:
    """Return (uint8 frames ``[T, H, W, C]``, fps) for the given frame indices (all if None).

    Tries decord first and falls back to PyAV when decord is missing or fails on the file.
    """
    select = None if indices is None else (lambda n: list(indices))
    return read_clip(path, select, backend, max_pixels)


def read_clip(
    path: str | os.PathLike,
    select: Select | None,
    backend: str | None = None,
    max_pixels: int | None = MAX_FRAME_PIXELS,
) -> tuple[torch.Tensor, float]:
    """Read the frames ``select(num_frames)`` chooses (every frame if None), opening the file once.

    This is the training/eval hot path: the clip sampler needs the frame count to pick
    indices, and re-opening a file per clip would double the container parsing cost.
    """
    path = Path(path)

    def attempt(name: str) -> tuple[torch.Tensor, float]:
        if name == "decord":
            frames, fps = _decord_read(path, select or range, max_pixels)
        else:
            frames, fps = _av_read(path, select, max_pixels)
        if frames.shape[0] == 0:
            raise VideoDecodeError(f"no frames in {path}")
        return torch.from_numpy(frames), fps

    return _first_working(path, backend, attempt)


def inspect_video(path: str | os.PathLike, max_pixels: int | None = MAX_FRAME_PIXELS) -> _AvVideo:
    """PyAV's view of a video's container (declared vs present frames, timestamps) for checks."""
    path = Path(path)
    _check_file(path)
    return _AvVideo(path, max_pixels)


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
