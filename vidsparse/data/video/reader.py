"""The one entry point for reading videos: picks a backend per file, reports failures uniformly.

Every reader (training, evaluation, ``vidsparse corrupt``, ``data check``) decodes through here,
so its input policies hold everywhere (docs/input-policies.md):

* frame ``i`` is the i-th frame a decode from the start yields, in presentation order, with every
  backend (each backend reads only the formats where that is tested to hold);
* frames larger than ``MAX_FRAME_PIXELS`` are downscaled while decoding (aspect ratio kept);
* a file that cannot be used raises ``VideoDecodeError`` whose ``kind`` says why (a key of
  ``DECODE_PROBLEMS``); datasets skip and count such samples.

``auto`` tries torchcodec first when it is installed and finds FFmpeg's libraries, then decord
(fastest where it is exact), and falls back to PyAV.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch

from vidsparse.data.video import decord_reader, decoded_cache, pyav_reader, torchcodec_reader
from vidsparse.data.video.decoding import (
    DECODE_PROBLEMS, MAX_FRAME_PIXELS, Select, VideoDecodeError, VideoInfo, check_file, decoder_message, unopenable_kind,
)
from vidsparse.errors import UserError

HAVE_DECORD = decord_reader.HAVE_DECORD
HAVE_TORCHCODEC = torchcodec_reader.HAVE_TORCHCODEC


@dataclass(frozen=True)
class Backend:
    """How one backend probes and reads; a registry entry."""

    name: str
    probe: Callable[[Path], VideoInfo]
    read: Callable[[Path, Select | None, int | None], tuple[np.ndarray, float]]


# in the order ``auto`` tries them; a backend that cannot work here is left out
BACKENDS: dict[str, Backend] = {
    name: Backend(name, module.probe, module.read)
    for name, module, usable in (("torchcodec", torchcodec_reader, HAVE_TORCHCODEC),
                                 ("decord", decord_reader, HAVE_DECORD), ("pyav", pyav_reader, True))
    if usable
}
BACKEND_NAMES = ("torchcodec", "decord", "pyav")
INSTALL_HINTS = {"torchcodec": "pip install torchcodec, plus FFmpeg's libraries (apt-get install ffmpeg, or "
                               "conda install ffmpeg)", "decord": "pip install decord (Linux x86_64)"}


def default_backend() -> str:
    return next(iter(BACKENDS))


def _backends(backend: str | None) -> list[Backend]:
    if backend is None or backend == "auto":
        return list(BACKENDS.values())
    if backend not in BACKEND_NAMES:
        raise UserError(f"unknown video backend {backend!r}; valid: auto, {', '.join(BACKEND_NAMES)}")
    if backend not in BACKENDS:
        raise UserError(f"video backend {backend!r} is not usable here ({INSTALL_HINTS[backend]}); "
                        "use --set data.backend=auto")
    return [BACKENDS[backend]]


T = TypeVar("T")

# a specific diagnosis from one backend beats another backend's generic failure
_KIND_PRIORITY = ("no_video_stream", "not_video", "backend")


def _first_working(path: Path, backend: str | None, attempt: Callable[[Backend], T]) -> T:
    """``attempt(backend)`` for each backend in turn; if all fail, one VideoDecodeError with a kind."""
    check_file(path)
    failures: list[tuple[str, BaseException]] = []
    for candidate in _backends(backend):
        try:
            return attempt(candidate)
        except Exception as err:  # decord raises its own DECORDError types
            failures.append((candidate.name, err))
    kinds = {getattr(err, "kind", None) for _, err in failures}
    kind = next((k for k in _KIND_PRIORITY if k in kinds), None)
    if kind is None:
        kind = "damaged" if "damaged" in kinds else unopenable_kind(path)
    reasons = "; ".join(f"{name}: {decoder_message(err)}" for name, err in failures)
    raise VideoDecodeError(f"cannot decode {path}: {DECODE_PROBLEMS[kind]} ({reasons})", kind)


def probe_video(path: str | os.PathLike, backend: str | None = None) -> VideoInfo:
    """Frame count (frames present in the file), frame rate and stored size, without decoding frames."""
    path = Path(path)

    def attempt(candidate: Backend) -> VideoInfo:
        info = candidate.probe(path)
        if info.num_frames <= 0:
            raise VideoDecodeError(f"no frames in {path}")
        return info

    return _first_working(path, backend, attempt)


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
    cache = decoded_cache.active()
    if cache is not None:  # inside decoded_videos_cached: decode each video once, whole
        check_file(path)  # a missing file is a counted, skipped sample, as without the cache
        return cache.read(path, select, backend, max_pixels, lambda pick: _decode(path, pick, backend, max_pixels))
    return _decode(path, select, backend, max_pixels)


def _decode(path: Path, select: Select | None, backend: str | None,
            max_pixels: int | None) -> tuple[torch.Tensor, float]:
    def attempt(candidate: Backend) -> tuple[torch.Tensor, float]:
        frames, fps = candidate.read(path, select, max_pixels)
        if frames.shape[0] == 0:
            raise VideoDecodeError(f"no frames in {path}")
        return torch.from_numpy(frames), fps

    return _first_working(path, backend, attempt)


def read_video(
    path: str | os.PathLike,
    indices: Sequence[int] | None = None,
    backend: str | None = None,
    max_pixels: int | None = MAX_FRAME_PIXELS,
) -> tuple[torch.Tensor, float]:
    """Return (uint8 frames ``[T, H, W, C]``, fps) for the given frame indices (all if None)."""
    select = None if indices is None else (lambda n: list(indices))
    return read_clip(path, select, backend, max_pixels)


def inspect_video(path: str | os.PathLike, max_pixels: int | None = MAX_FRAME_PIXELS) -> pyav_reader.PyAVVideo:
    """PyAV's view of a video's container (packet index, declared vs present frames) for checks."""
    path = Path(path)
    check_file(path)
    return pyav_reader.PyAVVideo(path, max_pixels)


def decord_refusal(path: str | os.PathLike) -> str | None:
    """Why decord may not read this file (None: it may), as ``data check`` reports it."""
    return decord_reader.why_not_exact(inspect_video(path))
