"""Whole decoded videos kept in memory, so a small dataset is decoded once, not every epoch.

For tiny models on small clips decoding is a large share of a step (the study's 32 px
synthetic videos: about a third of an epoch, and all of it again for every run of a sweep).
Frame ``i`` of a whole-video decode is frame ``i`` of any partial decode (the reader's input
policy, docs/input-policies.md), so clips served from the cached frames are bit-identical to
clips decoded again; the cache changes speed, never results.

Off unless asked for (``data.decode_cache_mb``): a full-size dataset does not fit in memory.
The cache lives in the process that reads, so with loader workers each worker holds its own.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from vidsparse.data.video.decoding import Select

# (resolved path, size, mtime) so an edited or replaced file is decoded again, plus how it is decoded
CacheKey = tuple[str, int, int, str | None, int | None]


class DecodedVideos:
    """A least-recently-used store of ``(uint8 frames [T, H, W, C], fps)`` bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._store: OrderedDict[CacheKey, tuple[torch.Tensor, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._store)

    def read(self, path: Path, select: Select | None, backend: str | None, max_pixels: int | None,
             decode_all: Callable[[], tuple[torch.Tensor, float]]) -> tuple[torch.Tensor, float]:
        """The frames ``select`` picks, from memory, decoding the whole video on first use."""
        stat = os.stat(path)
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, backend, max_pixels)
        entry = self._store.get(key)
        if entry is None:
            self.misses += 1
            entry = decode_all()
            self._put(key, entry)
        else:
            self.hits += 1
            self._store.move_to_end(key)
        frames, fps = entry
        if select is None:
            return frames.clone(), fps
        return frames[torch.as_tensor(select(frames.shape[0]), dtype=torch.long)], fps  # a copy

    def _put(self, key: CacheKey, entry: tuple[torch.Tensor, float]) -> None:
        size = entry[0].numel() * entry[0].element_size()
        if size > self.max_bytes:
            return  # one video larger than the whole budget: decode it every time
        while self._store and self.bytes + size > self.max_bytes:
            _, (old, _) = self._store.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()
        self._store[key] = entry
        self.bytes += size


_active: DecodedVideos | None = None


def active() -> DecodedVideos | None:
    """The cache ``read_clip`` serves from, or None outside ``decoded_videos_cached``."""
    return _active


@contextmanager
def decoded_videos_cached(max_bytes: int) -> Iterator[DecodedVideos | None]:
    """Serve ``read_clip`` from memory inside the block (``max_bytes`` <= 0: no cache).

    A nested block keeps the outer cache, so a sweep that opens one for all its runs shares
    the decoded videos between them, and each run's own ``train`` / ``eval`` block reuses it.
    """
    global _active
    if max_bytes <= 0 or _active is not None:
        yield _active
        return
    _active = DecodedVideos(max_bytes)
    try:
        yield _active
    finally:
        _active = None
