"""Exact-count mask operations on flattened tensors (top-k, never a Bernoulli draw).

Every function returns a new bool mask with a known number of True entries, so a layer's
density is an integer the tests can check, not a drifting expectation.

`select_k` is the workhorse. A full `torch.topk` over a 7M-weight conv costs tens of
milliseconds on a CPU; instead, a strided sample brackets the k-th value, everything
clearly inside the bracket is taken with one comparison, and topk runs only on the thin
band around the threshold. The result is exactly the top-k set; if the bracket misses
(ties, odd value layouts) it falls back to a full topk.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SAMPLE = 1 << 15  # strided sample size that brackets the k-th value
MIN_BAND_SEARCH = 1 << 18  # below this many entries a plain topk is as fast


def select_k(scores: Tensor, k: int, largest: bool, among: Tensor | None = None,
             among_count: int | None = None) -> Tensor:
    """Bool mask (flat) with True at exactly the k largest (or smallest) scores, chosen only
    among the True positions of `among` (default: everywhere; `among_count` = its number of
    True entries, if known). Needs k <= |among|."""
    flat = scores.reshape(-1)
    allowed = None if among is None else among.reshape(-1)
    n = flat.numel()
    if k <= 0:
        return torch.zeros(n, dtype=torch.bool, device=flat.device)
    if allowed is None and k >= n:
        return torch.ones(n, dtype=torch.bool, device=flat.device)
    if n >= MIN_BAND_SEARCH:
        chosen = _select_in_band(flat, k, largest, allowed, among_count)
        if chosen is not None:
            return chosen
    if allowed is not None:  # push excluded positions to the far end
        flat = torch.where(allowed, flat, float("-inf") if largest else float("inf"))
    chosen = torch.zeros(n, dtype=torch.bool, device=flat.device)
    chosen[torch.topk(flat, k, largest=largest, sorted=False).indices] = True
    return chosen


def _select_in_band(flat: Tensor, k: int, largest: bool, allowed: Tensor | None,
                    allowed_count: int | None) -> Tensor | None:
    """Exact selection via a sampled bracket; None if the bracket misses the k-th value.
    Restricting to `allowed` is a cheap bool AND here, where a masked score tensor
    (torch.where) would cost more than the whole selection."""
    stride = max(1, flat.numel() // SAMPLE)
    sample = flat[::stride]
    candidates = flat.numel()
    if allowed is not None:
        sample = sample[allowed[::stride]]
        candidates = int(allowed.count_nonzero()) if allowed_count is None else allowed_count
    if sample.numel() == 0:
        return None
    sample = sample.sort(descending=largest).values
    rank = k / candidates * sample.numel()
    margin = 4 * math.sqrt(sample.numel()) + 8  # ~8 standard deviations of a sample rank
    inner, outer = math.floor(rank - margin), math.ceil(rank + margin)
    better = torch.gt if largest else torch.lt

    def beyond(threshold: Tensor) -> Tensor:
        hit = better(flat, threshold)
        return hit if allowed is None else hit.logical_and_(allowed)

    sure = beyond(sample[inner]) if inner >= 0 else torch.zeros_like(flat, dtype=torch.bool)
    if outer < sample.numel():
        band = beyond(sample[outer]).logical_xor_(sure)
    else:
        band = ~sure if allowed is None else allowed & ~sure
    need = k - int(sure.count_nonzero())
    band_index = band.nonzero().squeeze(1)
    if not 0 <= need <= band_index.numel():
        return None
    picked = torch.topk(flat[band_index], need, largest=largest, sorted=False).indices
    sure[band_index[picked]] = True
    return sure


def topk_mask(scores: Tensor, k: int) -> Tensor:
    """True at exactly the k highest scores."""
    return select_k(scores, k, largest=True).view(scores.shape)


def random_mask(shape: tuple[int, ...], k: int, generator: torch.Generator) -> Tensor:
    """Exactly k active positions, every k-subset equally likely."""
    scores = torch.rand(shape, generator=generator, device=generator.device)
    return topk_mask(scores, k)


def drop_lowest(mask: Tensor, scores: Tensor, n: int, active: int | None = None) -> Tensor:
    """Remove the n lowest-scoring active positions (`active`: the mask's count, if known)."""
    if n <= 0:
        return mask.clone()
    return mask ^ select_k(scores, n, largest=False, among=mask, among_count=active).view(mask.shape)


def grow_highest(mask: Tensor, scores: Tensor, n: int, active: int | None = None) -> Tensor:
    """Add the n highest-scoring inactive positions (`active`: the mask's count, if known)."""
    if n <= 0:
        return mask.clone()
    inactive = None if active is None else mask.numel() - active
    return mask | select_k(scores, n, largest=True, among=~mask, among_count=inactive).view(mask.shape)


def global_drop_lowest(masks: list[Tensor], scores: list[Tensor], n: int) -> list[Tensor]:
    """drop_lowest over several tensors ranked together (global magnitude pruning)."""
    if n <= 0:
        return [m.clone() for m in masks]
    flat_masks = torch.cat([m.reshape(-1) for m in masks])
    flat_scores = torch.cat([s.reshape(-1).float() for s in scores])
    new = drop_lowest(flat_masks, flat_scores, n)
    return [part.view(m.shape) for part, m in zip(new.split([m.numel() for m in masks]), masks)]
