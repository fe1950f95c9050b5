"""Whole decoded videos kept in memory, so a small dataset is decoded once, not every epoch.

For tiny models on small clips decoding is a large share of a step (the study's 32 px
synthetic videos: about a third of an epoch, and all of it again for every run of a sweep).
Frame ``i`` of a whole-video decode is frame ``i`` of any partial decode (the reader's input
policy, docs/input-policies.md), so clips served from the cached frames are bit-identical to
clips decoded again; the cache changes speed, never results.

Off unless asked for (``data.decode_cache_mb``): a full-size dataset does not fit in memory.
The cache lives in the process that reads: with ``data.workers=0`` one cache serves training,
evaluation and (in a sweep) every run; with loader workers each persistent training worker
fills its own copy (memory x workers) and evaluation's short-lived workers gain nothing.
A video larger than the whole budget is remembered as such and read clip by clip as before.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable

import torch

from corruptions.cache import BytesLRU, Scoped, tensor_bytes
from vidsparse.data.video.decoding import Select, VideoDecodeError

# (resolved path, inode, size, mtime, ctime) so an edited or replaced file is decoded again, plus
# how it is decoded
CacheKey = tuple[str, int, int, int, int, str | None, int | None]
Decode = Callable[[Select | None], tuple[torch.Tensor, float]]


class DecodedVideos(BytesLRU[CacheKey, tuple[torch.Tensor, float]]):
    """A least-recently-used store of ``(uint8 frames [T, H, W, C], fps)`` bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, lambda entry: tensor_bytes(entry[0]))
        self._too_big: set[CacheKey] = set()

    def read(self, path: Path, select: Select | None, backend: str | None, max_pixels: int | None,
             decode: Decode) -> tuple[torch.Tensor, float]:
        """The frames ``select`` picks, from memory, decoding the whole video on first use.

        ``decode(select)`` is the uncached read. The whole video is decoded as ``select`` sees
        it there (every index of the backend's frame count, with the backend's substitutions
        for undecodable frames), so ``select(n)`` gets the same ``n`` and the same frames.
        """
        stat = os.stat(path)
        key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, backend, max_pixels)
        if key in self._too_big:
            return decode(select)
        entry = self.get(key)
        if entry is None:
            entry = decode(lambda n: list(range(n)))
            if not self.put(key, entry):
                self._too_big.add(key)
        frames, fps = entry
        if select is None:
            return frames.clone(), fps
        indices = torch.as_tensor(select(frames.shape[0]), dtype=torch.long)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= frames.shape[0]):
            raise VideoDecodeError(f"frame index out of range for {path} ({frames.shape[0]} frames)", "damaged")
        return frames[indices], fps  # advanced indexing: a copy, the cached frames stay untouched


_scope: Scoped[DecodedVideos] = Scoped()


def active() -> DecodedVideos | None:
    """The cache ``read_clip`` serves from, or None outside ``decoded_videos_cached``."""
    return _scope.current


def decoded_videos_cached(max_bytes: int) -> AbstractContextManager[DecodedVideos | None]:
    """Serve ``read_clip`` from memory inside the block (``max_bytes`` <= 0: no cache).

    A nested block keeps the outer cache, so a sweep that opens one for all its runs shares
    the decoded videos between them, and each run's own ``train`` / ``eval`` block reuses it.
    """
    return _scope.activate((lambda: DecodedVideos(max_bytes)) if max_bytes > 0 else None)
