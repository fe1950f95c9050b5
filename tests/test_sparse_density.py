"""Layer-wise density (uniform / ER / ERK) and exact per-layer counts."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tests.sparse_fixtures import make_context
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.errors import UserError
from vidsparse.sparse import SparseConfig, build_sparsifier
from vidsparse.sparse.density import DISTRIBUTIONS, distribute, layer_counts
from vidsparse.sparse.targets import find_sparse_tensors

# One random layer: (kind, sizes) -> a real module, so the tensors come from type selection.
LAYER = st.one_of(
    st.tuples(st.just("linear"), st.integers(1, 24), st.integers(1, 24)),
    st.tuples(st.just("conv1d"), st.integers(1, 12), st.integers(1, 12), st.integers(1, 5)),
    st.tuples(st.just("conv2d"), st.integers(1, 8), st.integers(1, 8), st.integers(1, 3)),
    st.tuples(st.just("conv3d"), st.integers(1, 8), st.integers(1, 8), st.integers(1, 3)),
    st.tuples(st.just("mha"), st.sampled_from([(4, 1), (4, 2), (8, 2), (6, 3)])),
)


def build_layer(spec: tuple) -> nn.Module:
    kind = spec[0]
    if kind == "linear":
        return nn.Linear(spec[1], spec[2])
    if kind == "mha":
        return nn.MultiheadAttention(*spec[1])
    conv = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d, "conv3d": nn.Conv3d}[kind]
    return conv(spec[1], spec[2], spec[3])


@settings(max_examples=25, deadline=None)
@given(layers=st.lists(LAYER, min_size=1, max_size=6),
       sparsity=st.floats(0.0, 0.95),
       distribution=st.sampled_from(sorted(DISTRIBUTIONS)),
       dense_first=st.booleans())
def test_masks_hold_exactly_the_distributed_counts(layers, sparsity, distribution, dense_first):
    model = nn.ModuleList(build_layer(spec) for spec in layers)
    cfg = SparseConfig(method="static", sparsity=sparsity, distribution=distribution,
                       dense_first_layer=dense_first)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    try:
        sparsifier = build_sparsifier(cfg, model, opt, make_context())
    except UserError:  # layers kept dense already exceed the budget: must be a true excess
        assert dense_first and distribution != "uniform"
        first = find_sparse_tensors(model)[0]
        total = sum(t.numel for t in find_sparse_tensors(model))
        assert first.numel > (1 - sparsity) * total
        return
    shapes = [t.shape for t in sparsifier.tensors]
    dense = [t.dense for t in sparsifier.tensors]
    densities = DISTRIBUTIONS[distribution](shapes, sparsity, dense)
    assert all(0.0 <= d <= 1.0 + 1e-12 for d in densities)
    for t, d in zip(sparsifier.tensors, densities):
        assert t.active == t.target  # the mask holds exactly the target count
        assert abs(t.target - d * t.numel) < 1.0  # rounding moves a layer by < 1 weight
        assert t.param.count_nonzero() <= t.target
        if t.dense:
            assert t.mask is None
    total = sum(t.numel for t in sparsifier.tensors)
    if distribution != "uniform":
        assert sum(t.active for t in sparsifier.tensors) == round((1 - sparsity) * total)


@settings(max_examples=40, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(1, 9), min_size=2, max_size=5), min_size=1, max_size=8),
       sparsity=st.floats(0.0, 0.99))
def test_erk_densities_bounded_and_global_count_exact(shapes, sparsity):
    for name in ("erk", "er"):
        densities = DISTRIBUTIONS[name](shapes, sparsity, [False] * len(shapes))
        assert max(densities) <= 1.0 + 1e-12 and min(densities) >= 0.0
        numels = [math.prod(s) for s in shapes]
        assert sum(d * n for d, n in zip(densities, numels)) == pytest.approx((1 - sparsity) * sum(numels))
        counts = layer_counts(shapes, densities)
        assert sum(counts) == round(sum(d * n for d, n in zip(densities, numels)))
        assert all(0 <= c <= n for c, n in zip(counts, numels))


def test_erk_on_vit_base_tubelet_embedding_is_far_sparser():
    """The spec's reason for dense_first_layer: a ViT-B tubelet [768, 3, 2, 16, 16] gets
    density ~0.37 at overall sparsity 0.1 while attention layers stay near 0.9-1."""
    shapes = [(768, 3, 2, 16, 16)]
    for _ in range(12):
        shapes += [(2304, 768), (768, 768), (3072, 768), (768, 3072)]
    shapes.append((400, 768))
    densities = DISTRIBUTIONS["erk"](shapes, 0.1, [False] * len(shapes))
    assert densities[0] == pytest.approx(0.37, abs=0.005)
    assert min(densities[1:]) > 0.88


def test_erk_on_r3d18_keeps_all_but_three_layer4_convs_dense():
    with torch.device("meta"):
        model = torchvision.models.video.r3d_18()
    tensors = find_sparse_tensors(model)
    densities = DISTRIBUTIONS["erk"]([t.shape for t in tensors], 0.1, [False] * len(tensors))
    sparse = {t.name: d for t, d in zip(tensors, densities) if d < 1.0}
    assert sorted(sparse) == ["layer4.0.conv2.0.weight", "layer4.1.conv1.0.weight",
                              "layer4.1.conv2.0.weight"]
    assert all(d == pytest.approx(0.843, abs=0.002) for d in sparse.values())


def test_uniform_gives_every_sparse_layer_the_same_density():
    shapes = [(10, 10), (20, 5, 3), (7, 7, 2, 2, 2)]
    counts = distribute("uniform", shapes, 0.3, [True, False, False])
    assert counts == [100, 210, round(0.7 * 392)]


def test_too_much_dense_for_the_sparsity_is_a_user_error():
    with pytest.raises(UserError, match="too high"):
        distribute("erk", [(100, 100), (2, 2)], 0.9, [True, False])
