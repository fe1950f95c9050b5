"""An opt-in memo of corrupted clips, for evaluating several models on the same corruptions.

A seeded corruption is a pure function of its input and arguments, so when one process
evaluates many checkpoints (a sweep over methods, sparsities and seeds) every model after
the first can reuse the corrupted clips instead of recomputing them. The key holds a hash of
the input's bytes, so a different clip can never be served a stale result. Only CPU tensors
are cached (hashing a GPU tensor would cost a device-to-host copy), entries are evicted
least-recently-used once ``max_bytes`` is exceeded, and nothing is cached unless a caller
opts in with :func:`cached`.

    with corruptions.cached(max_bytes=2**30):
        for model in models:
            evaluate(model)   # calls corruptions.apply(..., seed=...) for every cell
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Hashable, Iterator

import torch


@dataclass
class CorruptionCache:
    max_bytes: int
    entries: OrderedDict[Hashable, torch.Tensor] = field(default_factory=OrderedDict)
    bytes: int = 0
    hits: int = 0
    misses: int = 0

    def get(self, key: Hashable) -> torch.Tensor | None:
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return found.clone()  # callers may modify their result in place

    def put(self, key: Hashable, value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        if size > self.max_bytes or key in self.entries:
            return
        self.entries[key] = value.clone()
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.numel() * evicted.element_size()


_active: CorruptionCache | None = None


@contextmanager
def cached(max_bytes: int = 1 << 30) -> Iterator[CorruptionCache]:
    """Memoise seeded ``corruptions.apply`` calls inside the block (nested blocks share the outer cache)."""
    global _active
    if _active is not None:
        yield _active
        return
    _active = CorruptionCache(max_bytes)
    try:
        yield _active
    finally:
        _active = None


def active_cache() -> CorruptionCache | None:
    return _active


def cache_key(video: torch.Tensor, arguments: dict[str, Any]) -> Hashable | None:
    """None when the call is not a pure function of its arguments (GPU input, unseeded, own generator)."""
    if video.device.type != "cpu" or arguments.get("seed") is None or arguments.get("generator") is not None:
        return None
    digest = hashlib.blake2b(video.contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    return (digest, tuple(video.shape), str(video.dtype), tuple(sorted(arguments.items())))
