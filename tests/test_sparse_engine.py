"""The drop/grow engine: exact counts, zeros that stay zero, RigL's and SET's grow rules."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from torch import nn

from tests.sparse_fixtures import NUM_CLASSES, batch, make_context, masked_weights_are_zero
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.sparse import SparseConfig, build_sparsifier


class RandomNet(nn.Module):
    """Conv3d -> Conv1d over time -> nn.MultiheadAttention -> Linear, with drawn sizes."""

    def __init__(self, width: int, kernel: int, heads: int, head_dim: int) -> None:
        super().__init__()
        dim = heads * head_dim
        self.conv3d = nn.Conv3d(3, width, kernel, padding=kernel // 2)
        self.conv1d = nn.Conv1d(width, dim, 1)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.fc = nn.Linear(dim, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv3d(x)).mean((3, 4))
        h = self.conv1d(h).transpose(1, 2)
        h = h + self.attn(h, h, h, need_weights=False)[0]
        return self.fc(h.mean(1))


@settings(max_examples=8, deadline=None)
@given(width=st.integers(2, 6), kernel=st.sampled_from([1, 3]), heads=st.integers(1, 2),
       head_dim=st.integers(2, 4), method=st.sampled_from(["rigl", "set", "static", "mest"]),
       optimizer=st.sampled_from(["sgd", "adamw"]), sparsity=st.floats(0.1, 0.9),
       regrow=st.sampled_from(["zero", "keep"]))
def test_masked_weights_stay_exactly_zero_and_counts_hold(width, kernel, heads, head_dim, method,
                                                          optimizer, sparsity, regrow):
    torch.manual_seed(0)
    model = RandomNet(width, kernel, heads, head_dim)
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                              weight_decay=1e-2)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=1e-2)
    cfg = SparseConfig(method=method, sparsity=sparsity, update_every=3, distribution="uniform",
                       regrow_momentum=regrow, drop_schedule="constant", update_end=1.0)
    sparsifier = build_sparsifier(cfg, model, opt, make_context(total_steps=20))
    for step in range(20):
        x, y = batch(step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        sparsifier.before_step(step)
        if method != "mest":  # MEST's count follows its extra-density schedule instead
            assert all(t.active == t.target for t in sparsifier.tensors)
        opt.step()
        sparsifier.after_step(step)
        assert masked_weights_are_zero(sparsifier)
    assert sparsifier.density_totals()["active"] == sum(t.target for t in sparsifier.tensors)


def linear_sparsifier(method: str, **cfg_kw):
    model = nn.Linear(4, 4, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cfg = SparseConfig(method=method, sparsity=0.5, distribution="uniform", update_every=1,
                       update_end=1.0, drop_schedule="constant", drop_fraction=0.5, **cfg_kw)
    return model, opt, build_sparsifier(cfg, model, opt, make_context(total_steps=10))


def test_rigl_grows_exactly_the_top_gradient_positions_hand_built():
    model, opt, sparsifier = linear_sparsifier("rigl")
    t = sparsifier.tensors[0]
    with torch.no_grad():
        model.weight.copy_(torch.tensor([.1, .2, .3, .4, .5, .6, .7, .8] + [0.0] * 8).view(4, 4))
    sparsifier.install_masks([torch.arange(16).view(4, 4) < 8])
    grad = torch.tensor([5.0, .01, .01, .01, .01, .01, .01, .01,
                         .5, 3.0, .1, 2.0, .2, 1.0, .3, .05])
    model.weight.grad = grad.view(4, 4).clone()
    sparsifier.before_step(1)
    # drop 4 smallest |w| (0-3); grow top-4 |grad| among the rest: 0 (dropped, regrown), 9, 11, 13
    expected = torch.zeros(16, dtype=torch.bool)
    expected[[0, 4, 5, 6, 7, 9, 11, 13]] = True
    assert torch.equal(t.mask.view(-1), expected)
    w = model.weight.detach().view(-1)
    assert w[0] == pytest.approx(0.1)  # dropped and regrown in one update: keeps its value
    assert torch.all(w[[1, 2, 3, 9, 11, 13]] == 0)  # dropped, and grown-from-zero
    assert torch.equal(model.weight.grad.view(-1) != 0, expected)  # gradient masked to new mask


def test_update_replaces_only_inactive_positions_and_resets_their_momentum():
    model, opt, sparsifier = linear_sparsifier("set", regrow_momentum="zero")
    t = sparsifier.tensors[0]
    for step in range(3):  # build up momentum, with updates at steps 1 and 2
        model.weight.grad = torch.randn(4, 4)
        sparsifier.before_step(step)
        opt.step()
    model.weight.grad = torch.randn(4, 4)
    old_mask, old_w = t.mask.clone(), model.weight.detach().clone()
    old_momentum = opt.state[model.weight]["momentum_buffer"].clone()
    sparsifier.before_step(3)
    new_mask = t.mask
    grown, kept = new_mask & ~old_mask, new_mask & old_mask
    assert int(grown.sum()) > 0 and int(new_mask.sum()) == int(old_mask.sum())
    assert not torch.any(grown & old_mask)  # every newly active position was inactive before
    assert torch.all(model.weight[grown] == 0)
    assert torch.equal(model.weight[kept], old_w[kept])
    momentum = opt.state[model.weight]["momentum_buffer"]
    assert torch.all(momentum[grown] == 0)
    assert torch.equal(momentum[kept], old_momentum[kept])


def test_regrow_momentum_keep_leaves_optimizer_state_alone():
    model, opt, sparsifier = linear_sparsifier("set", regrow_momentum="keep")
    for step in range(3):
        model.weight.grad = torch.ones(4, 4)  # dense grad before masking -> momentum everywhere
        opt.state[model.weight]["momentum_buffer"] = torch.ones(4, 4)
        sparsifier.before_step(step)
    assert torch.all(opt.state[model.weight]["momentum_buffer"] == 1)


@pytest.mark.parametrize("method", ["set", "mest"])
def test_random_growth_is_uniform_over_candidate_positions(method):
    """Chi-square over many draws: every position not kept is equally likely to be grown."""
    model, _, sparsifier = linear_sparsifier(method, grow="random")
    t = sparsifier.tensors[0]
    weights = torch.linspace(1, 2, 16).view(4, 4)  # distinct magnitudes: deterministic drop
    start = torch.zeros(16, dtype=torch.bool)
    start[torch.tensor([0, 2, 3, 5, 8, 9, 11, 12, 14, 15])] = True
    start = start.view(4, 4)
    kept_expected = start & (weights >= weights[start].sort().values[3])  # drop 3 smallest of 10
    counts = torch.zeros(16)
    draws = 2000
    for _ in range(draws):
        with torch.no_grad():
            model.weight.copy_(weights)
        sparsifier.install_masks([start])
        sparsifier.drop_and_grow(t, 0.3, 10)
        assert int(t.mask.sum()) == 10 and torch.all(t.mask[kept_expected])
        counts += (t.mask & ~kept_expected).view(-1).float()
    candidates = ~kept_expected.view(-1)
    assert counts[~candidates].sum() == 0
    observed = counts[candidates]
    assert observed.sum() == 3 * draws
    assert chisquare(observed.numpy()).pvalue > 1e-3


@pytest.mark.parametrize("signed, kept_values", [(False, [-5.0, -6.0, -7.0, -8.0]),
                                                 (True, [0.3, 0.4, -7.0, -8.0])])
def test_set_signed_drop_splits_the_drop_between_signs(signed, kept_values):
    model, _, sparsifier = linear_sparsifier("set", set_signed_drop=signed)
    t = sparsifier.tensors[0]
    values = torch.tensor([0.1, 0.2, 0.3, 0.4, -5, -6, -7, -8] + [0.0] * 8)
    with torch.no_grad():
        model.weight.copy_(values.view(4, 4))
    sparsifier.install_masks([torch.arange(16).view(4, 4) < 8])
    kept = sparsifier.drop(t, t.mask, 4)  # half of the 8 active weights
    assert sorted(values[kept.view(-1)].tolist()) == pytest.approx(sorted(kept_values))


def test_update_with_non_finite_gradient_is_skipped():
    model, _, sparsifier = linear_sparsifier("rigl")
    before = sparsifier.tensors[0].mask.clone()
    model.weight.grad = torch.full((4, 4), float("inf"))
    sparsifier.before_step(1)
    assert torch.equal(sparsifier.tensors[0].mask, before)
    assert sparsifier.epoch_stats.updates == 0
