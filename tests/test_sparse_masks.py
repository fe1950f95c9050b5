"""Exact-count selection, including the sampled-bracket path used for big layers."""

from __future__ import annotations

import pytest
import torch

from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.sparse.masks import (MIN_BAND_SEARCH, _select_in_band, drop_lowest,
                                    global_drop_lowest, grow_highest, random_mask, select_k)

N = MIN_BAND_SEARCH + 12_345  # large enough for the band search


def reference(scores: torch.Tensor, k: int, largest: bool, among: torch.Tensor | None) -> torch.Tensor:
    flat = scores.reshape(-1)
    if among is not None:
        flat = torch.where(among.reshape(-1), flat, float("-inf") if largest else float("inf"))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    chosen[torch.topk(flat, k, largest=largest).indices] = True
    return chosen


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k_fraction", [0.001, 0.3, 0.5, 0.97])
@pytest.mark.parametrize("restricted", [False, True])
def test_band_selection_equals_full_topk(largest, k_fraction, restricted):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(N, generator=g)
    among = torch.rand(N, generator=g) < 0.4 if restricted else None
    available = int(among.sum()) if restricted else N
    k = max(1, int(k_fraction * available))
    chosen = select_k(scores, k, largest, among)
    assert int(chosen.sum()) == k
    assert torch.equal(chosen, reference(scores, k, largest, among))
    assert _select_in_band(scores, k, largest, among, None) is not None  # no fallback needed


def test_structured_and_tied_scores_still_give_exact_counts():
    ordered = torch.arange(N, dtype=torch.float32)  # strided sample sees a regular pattern
    chosen = select_k(ordered, 1000, largest=True)
    assert torch.equal(chosen.nonzero().squeeze(1), torch.arange(N - 1000, N))
    ties = (torch.arange(N) % 7).float()  # massive ties: the bracket misses, topk decides
    chosen = select_k(ties, 50_000, largest=False)
    assert int(chosen.sum()) == 50_000
    assert ties[chosen].max() <= ties[~chosen].min()


def test_drop_and_grow_on_a_big_layer():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(192, 64, 3, 3, 3, generator=g)  # 332k weights: the band-search path
    mask = random_mask(tuple(w.shape), w.numel() // 2, g)
    assert int(mask.sum()) == w.numel() // 2
    kept = drop_lowest(mask, w.abs(), 10_000)
    assert int(kept.sum()) == w.numel() // 2 - 10_000 and not torch.any(kept & ~mask)
    dropped = mask & ~kept
    assert w.abs()[dropped].max() <= w.abs()[kept].min()
    grad = torch.randn(w.shape, generator=g)
    grown = grow_highest(kept, grad.abs(), 10_000)
    new = grown & ~kept
    assert int(new.sum()) == 10_000
    assert grad.abs()[new].min() >= grad.abs()[~grown].max()


def test_global_drop_ranks_across_tensors():
    a, b = torch.tensor([1.0, 5.0, 3.0]), torch.tensor([[2.0, 0.5], [4.0, 6.0]])
    masks = [torch.ones(3, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool)]
    new = global_drop_lowest(masks, [a, b], 3)
    assert new[0].tolist() == [False, True, True]
    assert new[1].tolist() == [[False, False], [True, True]]
