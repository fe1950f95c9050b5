"""The opt-in corruption cache: identical results, real reuse, bounded memory, never stale."""

from __future__ import annotations

import torch

import corruptions
from corruptions.cache import BytesLRU, active_cache


def _clip(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_cached_results_equal_uncached_and_are_reused():
    clip = _clip()
    plain = corruptions.apply(clip, "gaussian_noise", 3, seed=5, video_id="a")
    with corruptions.cached() as cache:
        first = corruptions.apply(clip, "gaussian_noise", 3, seed=5, video_id="a")
        first[0, 0, 0, 0] ^= 1  # a caller scribbling on its result must not change the cache
        second = corruptions.apply(clip, "gaussian_noise", 3, seed=5, video_id="a")
        assert (cache.hits, cache.misses) == (1, 1)
    assert torch.equal(second, plain)
    assert active_cache() is None


def test_any_changed_argument_or_pixel_misses():
    clip = _clip()
    with corruptions.cached() as cache:
        corruptions.apply(clip, "gaussian_noise", 3, seed=5, video_id="a")
        changed = clip.clone()
        changed[1, 2, 3, 4] += 1
        variants = [
            corruptions.apply(changed, "gaussian_noise", 3, seed=5, video_id="a"),
            corruptions.apply(clip, "gaussian_noise", 4, seed=5, video_id="a"),
            corruptions.apply(clip, "gaussian_noise", 3, seed=6, video_id="a"),
            corruptions.apply(clip, "gaussian_noise", 3, seed=5, video_id="b"),
        ]
        assert cache.hits == 0 and cache.misses == 5
    assert torch.equal(variants[0], corruptions.apply(changed, "gaussian_noise", 3, seed=5, video_id="a"))


def test_unseeded_calls_and_own_generators_are_not_cached():
    clip = _clip()
    with corruptions.cached() as cache:
        a = corruptions.apply(clip, "gaussian_noise", 3)
        b = corruptions.apply(clip, "gaussian_noise", 3)
        corruptions.apply(clip, "gaussian_noise", 3, generator=torch.Generator().manual_seed(0))
        assert not torch.equal(a, b) and len(cache.entries) == 0


def test_memory_bound_evicts_least_recently_used():
    clip_bytes = _clip().numel()
    with corruptions.cached(max_bytes=2 * clip_bytes) as cache:
        for seed in range(3):
            corruptions.apply(_clip(seed), "contrast", 2, seed=0)
        assert len(cache.entries) == 2 and cache.bytes == 2 * clip_bytes
        corruptions.apply(_clip(0), "contrast", 2, seed=0)  # the oldest was evicted
        assert cache.misses == 4 and cache.hits == 0


def test_bytes_lru_refuses_an_oversized_value_and_evicts_the_least_recently_used():
    store = BytesLRU(max_bytes=10, size_of=len)
    assert store.put("a", "xxxx") and store.put("b", "yyyy")
    assert store.get("a") == "xxxx"  # "a" is now the most recently used
    assert store.put("c", "zzzz")  # 12 bytes > 10: "b", the least recently used, goes
    assert list(store.entries) == ["a", "c"] and store.bytes == 8
    assert not store.put("d", "w" * 11) and len(store) == 2  # larger than the budget: refused, nothing evicted
    assert (store.hits, store.misses) == (1, 0) and store.get("b") is None and store.misses == 1
