"""decord backend: fast random access, used only on the formats where it is frame-exact.

decord numbers frames by sorted presentation timestamp and seeks to the key frame before a
wanted one. Tested against a decode from the start (tests/test_video_formats.py), that is exact
for H.264 / H.265 / VP8 / VP9 in MP4 or Matroska/WebM with closed GOPs, and wrong elsewhere:

* MPEG-4 Part 2 with B-frames (XviD/DivX, any container): reads after a seek return frames 2 or
  more positions late; in AVI with packed B-frames they come from the wrong GOP altogether;
* H.264 with open GOPs: some reads after a seek return neighbouring frames;
* AVI, MPEG-PS/TS and raw streams carry no presentation timestamps to seek by.

decord opens most of those files without complaint, so whether it may read a file is decided
from PyAV's packet index (``decord_is_exact``), once per file and process (cached), and any other
file raises a ``backend`` VideoDecodeError: the ``auto`` backend then reads it with PyAV.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

import av  # noqa: F401  (load PyAV's FFmpeg before decord's bundled libraries: loaded after
#                         decord, PyAV's libvpx-vp9 encoder fails to open)
from vidsparse.data.video import pyav_reader
from vidsparse.data.video.decoding import MAX_FRAME_PIXELS, Select, VideoDecodeError, VideoInfo, decode_size

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

# codecs decord reads frame-exactly in a timestamped container with closed GOPs
EXACT_CODECS = frozenset({"h264", "hevc", "vp8", "vp9"})



def why_not_exact(video: pyav_reader.PyAVVideo) -> str | None:
    """None if decord reads this file frame-exactly, else the reason it may not."""
    if video.container_format not in pyav_reader.TIMESTAMPED_FORMATS:
        return f"{video.container_format} container has no presentation timestamps"
    if video.codec not in EXACT_CODECS:
        return f"decord seeks wrongly in {video.codec} streams"
    if not video.seekable:
        return f"{video.index.timestamps} packet timestamps"
    if video.index.open_gop:
        return "open GOPs"
    return None


@lru_cache(maxsize=4096)
def _exactness(path: str, size: int, mtime_ns: int) -> tuple[str | None, int, int]:
    """(reason decord is not exact or None, stored width, stored height), once per file version."""
    video = pyav_reader.PyAVVideo(Path(path))
    return why_not_exact(video), video.width, video.height


def check_exact(path: Path) -> tuple[int, int]:
    """The stored (width, height); VideoDecodeError('backend') if decord would read wrong frames."""
    stat = path.stat()
    reason, width, height = _exactness(str(path), stat.st_size, stat.st_mtime_ns)
    if reason:
        raise VideoDecodeError(f"decord does not read {path} frame-exactly ({reason}); PyAV reads it", "backend")
    return width, height


def _open(path: Path, size: tuple[int, int] | None = None):
    width, height = size or (-1, -1)
    with _DECORD_LOCK:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), width=width, height=height, num_threads=1)


def probe(path: Path) -> VideoInfo:
    width, height = check_exact(path)
    reader = _open(path)
    return VideoInfo(len(reader), float(reader.get_avg_fps()), int(height), int(width))


def read(path: Path, select: Select | None, max_pixels: int | None = MAX_FRAME_PIXELS) -> tuple[np.ndarray, float]:
    """The frames ``select`` picks (all if None), decoded at most MAX_FRAME_PIXELS large."""
    width, height = check_exact(path)
    size = decode_size(width, height, max_pixels)
    reader = _open(path, size)
    if len(reader) == 0:
        raise VideoDecodeError(f"no frames in {path}")
    indices = list(range(len(reader)) if select is None else select(len(reader)))
    return reader.get_batch(indices).asnumpy(), float(reader.get_avg_fps())
