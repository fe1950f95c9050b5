"""Keeping masks identical across data-parallel ranks, and proving it.

Identical masks follow from identical inputs to each update (DDP-averaged gradients, the
same weights, one generator seeded alike everywhere); these helpers detect a violation
early, or overwrite every rank with rank 0's masks.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, Sequence

import torch
import torch.distributed as dist

from vidsparse.sparse.targets import SparseTensor


class Masked(Protocol):
    """What these helpers need of a ``Sparsifier`` (which imports them): its sparse tensors."""

    tensors: Sequence[SparseTensor]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def mask_digests(sparsifier: Masked) -> dict[str, str]:
    """SHA-1 of every mask ('dense' for unmasked tensors)."""
    digests = {}
    for t in sparsifier.tensors:
        if t.mask is None:
            digests[t.name] = "dense"
        else:
            data = t.mask.detach().to("cpu", torch.uint8).numpy().tobytes()
            digests[t.name] = hashlib.sha1(data).hexdigest()
    return digests


def assert_masks_identical(sparsifier: Masked) -> None:
    """All-gather the mask digests and raise if any rank differs (no-op outside
    torch.distributed)."""
    if not is_distributed():
        return
    mine = mask_digests(sparsifier)
    gathered: list[dict[str, str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    for rank, theirs in enumerate(gathered):
        if theirs != mine:
            layer = next((n for n in mine if theirs is None or theirs.get(n) != mine[n]), "?")
            raise RuntimeError(f"sparse masks differ between rank {dist.get_rank()} and rank "
                               f"{rank} (first at {layer}); random growth must use the shared "
                               f"generator and gradients must be read after DDP averaging")


def broadcast_masks(sparsifier: Masked) -> None:
    """Copy rank 0's masks to every rank (a guard after topology updates)."""
    if not is_distributed():
        return
    for t in sparsifier.tensors:
        if t.mask is None:
            continue
        buffer = t.mask.to(torch.uint8)  # gloo cannot reduce/broadcast bool tensors everywhere
        dist.broadcast(buffer, src=0)
        t.mask = buffer.bool()
