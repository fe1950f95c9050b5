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

The two building blocks, a store bounded in bytes (:class:`BytesLRU`) and an instance made
active for the length of a ``with`` block (:class:`Scoped`), also serve vidsparse's cache of
decoded videos (``vidsparse.data.video.decoded_cache``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Generic, Hashable, Iterator, TypeVar

import torch

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
T = TypeVar("T")


def tensor_bytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


class BytesLRU(Generic[K, V]):
    """A least-recently-used store whose values together hold at most ``max_bytes``.

    ``size_of(value)`` gives a value's bytes. A value larger than the whole budget is refused
    (``put`` returns False) rather than emptying the store for nothing.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self.size_of = size_of
        self.entries: OrderedDict[K, V] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: K) -> V | None:
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: K, value: V) -> bool:
        """Keep ``value``, evicting the least recently used; False if it alone exceeds the budget."""
        size = self.size_of(value)
        if size > self.max_bytes:
            return False
        if key in self.entries:
            return True
        while self.entries and self.bytes + size > self.max_bytes:
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= self.size_of(evicted)
        self.entries[key] = self.stored(value)
        self.bytes += size
        return True

    def stored(self, value: V) -> V:
        """What ``put`` keeps of ``value``, once it is sure to keep it (a subclass may copy)."""
        return value


class Scoped(Generic[T]):
    """One instance made active for the length of a ``with`` block; a nested block keeps the outer one.

    Nesting matters for caches: a sweep opens one around all its runs, and each run's own
    block then reuses it instead of starting empty.
    """

    def __init__(self) -> None:
        self.current: T | None = None

    @contextmanager
    def activate(self, make: Callable[[], T] | None) -> Iterator[T | None]:
        """``make()`` is active inside the block, unless one already is (or ``make`` is None)."""
        if make is None or self.current is not None:
            yield self.current
            return
        self.current = make()
        try:
            yield self.current
        finally:
            self.current = None


class CorruptionCache(BytesLRU[Hashable, torch.Tensor]):
    """Corrupted clips by :func:`cache_key`; stored and served as copies (callers may modify their result)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(max_bytes, tensor_bytes)

    def get(self, key: Hashable) -> torch.Tensor | None:
        found = super().get(key)
        return None if found is None else found.clone()

    def stored(self, value: torch.Tensor) -> torch.Tensor:
        return value.clone()


_scope: Scoped[CorruptionCache] = Scoped()


def cached(max_bytes: int = 1 << 30) -> AbstractContextManager[CorruptionCache | None]:
    """Memoise seeded ``corruptions.apply`` calls inside the block (nested blocks share the outer cache)."""
    return _scope.activate(lambda: CorruptionCache(max_bytes))


def active_cache() -> CorruptionCache | None:
    return _scope.current


def cache_key(video: torch.Tensor, arguments: dict[str, Any]) -> Hashable | None:
    """None when the call is not a pure function of its arguments (GPU input, unseeded, own generator)."""
    if video.device.type != "cpu" or arguments.get("seed") is None or arguments.get("generator") is not None:
        return None
    digest = hashlib.blake2b(video.contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    return (digest, tuple(video.shape), str(video.dtype), tuple(sorted(arguments.items())))
