"""Masks are identical on every rank right after initialisation, even where the ranks' random
draws differ (device types, GPU models): simulated here by seeding each rank differently."""

from __future__ import annotations

import pytest
import torch

from tests.fork_ranks import run_ranks
from tests.sparse_fixtures import make_run
from vidsparse.sparse import SparseConfig
from vidsparse.sparse.distributed import mask_digests


def _init_masks(method: str) -> dict[str, str]:
    rank = torch.distributed.get_rank()
    _, _, sparsifier = make_run(SparseConfig(method=method, sparsity=0.6, seed=1 + rank))  # draws differ by rank
    zero = all(bool((t.param[~t.mask] == 0).all()) for t in sparsifier.tensors if t.mask is not None)
    return {**mask_digests(sparsifier), "masked weights are zero": str(zero)}


@pytest.mark.parametrize("method", ["set"])
def test_masks_are_identical_on_every_rank_after_initialisation(method):
    first, second = run_ranks(lambda: _init_masks(method))
    assert isinstance(first, dict), first
    assert first == second and first["masked weights are zero"] == "True"
