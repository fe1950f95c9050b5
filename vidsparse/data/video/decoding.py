"""What every video backend shares: the error type and its kinds, the frame-size cap, file checks.

Frames are uint8 ``[T, H, W, C]`` RGB. Frame ``i`` of a video is, for every backend, the i-th
frame a decode from the start yields (presentation order): the definition the readers are
tested against on every container and codec they claim (docs/input-policies.md).
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from vidsparse.errors import UserError, first_line

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
    "backend": "the chosen video backend cannot read it frame-exactly (set data.backend=auto)",
}

Select = Callable[[int], Sequence[int]]  # frame count -> the frame indices to read


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


def decode_size(width: int, height: int, max_pixels: int | None = MAX_FRAME_PIXELS) -> tuple[int, int] | None:
    """The (width, height) to decode an oversized frame at, aspect kept; None keeps the stored size."""
    if not max_pixels or width * height <= max_pixels:
        return None
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def check_file(path: Path) -> None:
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


def unopenable_kind(path: Path) -> str:
    """A file no backend can open is 'damaged' if it starts like a video, else 'not_video'."""
    with path.open("rb") as fh:
        return "damaged" if _looks_like_video(fh.read(256)) else "not_video"


def decoder_message(err: BaseException) -> str:
    """The first line of a decoder's error, without decord's "[time] file.cc:line: " prefix."""
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", first_line(err))


def nearest(sorted_values: list[int], value: int) -> int:
    pos = bisect.bisect_left(sorted_values, value)
    if pos == 0:
        return sorted_values[0]
    if pos == len(sorted_values):
        return sorted_values[-1]
    before, after = sorted_values[pos - 1], sorted_values[pos]
    return before if value - before <= after - value else after
