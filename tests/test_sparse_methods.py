"""Every method on a tiny Conv3d net, and what makes each one different."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.sparse_fixtures import (TinyConv3dNet, batch, make_run, masked_weights_are_zero,
                                  train_steps)
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.errors import UserError
from vidsparse.sparse import SparseConfig, list_methods
from vidsparse.sparse.schedules import cubic_density

ALL_METHODS = ["dense", "static", "set", "rigl", "mest", "granet", "snip", "gmp", "omp", "lth"]


@pytest.fixture
def dense_run_dir(tmp_path):
    torch.manual_seed(123)
    model = TinyConv3dNet()
    torch.save({"model": model.state_dict(), "epoch": 3, "step": 30}, tmp_path / "best.pt")
    return tmp_path


def test_list_methods_names_every_method():
    assert [name for name, _ in list_methods()] == ALL_METHODS
    assert all(description for _, description in list_methods())


@pytest.mark.parametrize("method", ALL_METHODS)
def test_every_method_trains_and_ends_at_target_density(method, dense_run_dir):
    cfg = SparseConfig(method=method, sparsity=0.6, update_every=2, snip_batches=2,
                       init_from=str(dense_run_dir) if method == "omp" else "", rounds=2)
    model, opt, sparsifier = make_run(cfg, flops=True)
    train_steps(model, opt, sparsifier, 0, 20)
    assert masked_weights_are_zero(sparsifier)
    report = sparsifier.report()
    metrics = sparsifier.on_epoch_end(3)
    expected = 1.0 if method == "dense" else 0.4
    assert report["total"]["density"] == pytest.approx(expected, abs=1e-3)
    assert metrics["density"] == pytest.approx(expected, abs=1e-3)
    assert report["at_target_density"]
    assert set(metrics) >= {"density", "mask_changed", "mask_updates", "train_flops_ratio",
                            "infer_flops_ratio", "infer_gflops", "train_gflops"}
    assert (metrics["infer_flops_ratio"] == 1.0) == (method == "dense")


def test_dst_updates_change_masks_but_static_never_does():
    for method, expect_changes in (("static", False), ("set", True), ("rigl", True)):
        model, opt, sparsifier = make_run(SparseConfig(method=method, sparsity=0.5, update_every=2))
        start = [t.mask.clone() for t in sparsifier.tensors if t.mask is not None]
        train_steps(model, opt, sparsifier, 0, 4)
        metrics = sparsifier.on_epoch_end(0)
        changed = any(not torch.equal(a, t.mask) for a, t in
                      zip(start, [t for t in sparsifier.tensors if t.mask is not None]))
        assert changed == expect_changes
        assert (metrics["mask_changed"] > 0) == expect_changes


def test_grow_option_turns_set_into_rigl():
    """Same seed, same drop rule: SET with gradient growth makes RigL's masks exactly."""
    masks = []
    for cfg in (SparseConfig(method="set", grow="gradient", sparsity=0.5, update_every=2),
                SparseConfig(method="rigl", sparsity=0.5, update_every=2)):
        model, opt, sparsifier = make_run(cfg)
        train_steps(model, opt, sparsifier, 0, 10)
        masks.append([t.active_mask for t in sparsifier.tensors])
    assert all(torch.equal(a, b) for a, b in zip(*masks))


def test_mest_extra_density_decays_to_target():
    cfg = SparseConfig(method="mest", sparsity=0.5, update_every=2, mest_extra_density=0.2,
                       mest_extra_until=0.5, distribution="uniform")
    model, opt, sparsifier = make_run(cfg, total_steps=20)
    targets = [t.target for t in sparsifier.tensors]
    assert [t.active for t in sparsifier.tensors] == [round(n * 1.2) for n in targets]
    seen = []
    for step in range(20):
        x, y = batch(step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        sparsifier.before_step(step)
        opt.step()
        if sparsifier.schedule.is_update(step):
            extra = 0.2 * max(0.0, 1 - step / 10)
            seen.append([t.active for t in sparsifier.tensors])
            assert seen[-1] == [round(n * (1 + extra)) for n in targets]
    assert seen[-1] == targets and seen[0] != targets


def test_granet_prunes_globally_on_the_cubic_schedule():
    cfg = SparseConfig(method="granet", sparsity=0.7, initial_density=0.8, update_every=2,
                       prune_end=0.6)
    model, opt, sparsifier = make_run(cfg, total_steps=20)
    total = sum(t.numel for t in sparsifier.tensors)
    start = sum(t.active for t in sparsifier.tensors)
    assert start == round(0.8 * total)
    s = sparsifier.schedule
    for step in range(20):
        x, y = batch(step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        sparsifier.before_step(step)
        opt.step()
        if s.is_prune(step):
            want = round(total * cubic_density(step, s.prune_start, s.prune_end, start / total,
                                               sum(t.target for t in sparsifier.tensors) / total))
            assert sum(t.active for t in sparsifier.tensors) == want
    assert sum(t.active for t in sparsifier.tensors) == round(0.3 * total)
    assert masked_weights_are_zero(sparsifier)


def test_gmp_prunes_each_layer_from_dense_by_magnitude():
    model, opt, sparsifier = make_run(SparseConfig(method="gmp", sparsity=0.5, update_every=4,
                                                   prune_end=0.5), total_steps=20)
    assert all(t.mask is None for t in sparsifier.tensors)
    actives = []
    for step in range(20):
        x, y = batch(step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if sparsifier.schedule.is_prune(step):
            w = [t.param.detach().abs().clone() for t in sparsifier.tensors]
            old = [t.active_mask.clone() for t in sparsifier.tensors]
            sparsifier.before_step(step)
            for t, before, was in zip(sparsifier.tensors, w, old):  # survivors: largest |w|
                pruned = was & ~t.active_mask
                assert not torch.any(t.active_mask & ~was)  # pruning never grows
                if pruned.any():
                    assert before[t.mask].min() >= before[pruned].max()
            actives.append(sum(t.active for t in sparsifier.tensors))
        else:
            sparsifier.before_step(step)
        opt.step()
    assert actives == sorted(actives, reverse=True) and len(set(actives)) == len(actives)
    assert all(t.active == t.target for t in sparsifier.tensors)


def test_snip_keeps_top_connection_sensitivity_and_restores_batchnorm(dense_run_dir):
    torch.manual_seed(0)
    reference = TinyConv3dNet()
    for step in range(2):
        x, y = batch(step)
        F.cross_entropy(reference(x), y).backward()
    scores = torch.cat([(reference.get_parameter(n).detach() * reference.get_parameter(n).grad)
                        .abs().view(-1) for n in ("stem.weight", "conv.weight", "temporal.weight",
                                                  "fc.weight")])
    model, opt, sparsifier = make_run(SparseConfig(method="snip", sparsity=0.7, snip_batches=2))
    keep = sum(t.target for t in sparsifier.tensors)
    mask = torch.cat([t.mask.view(-1) for t in sparsifier.tensors])
    assert int(mask.sum()) == keep
    assert scores[mask].min() >= scores[~mask].max()
    assert model.bn.num_batches_tracked.item() == 0  # BN statistics untouched
    assert torch.equal(model.bn.running_mean, torch.zeros(8))
    assert all(p.grad is None for p in model.parameters())


def test_omp_prunes_the_trained_dense_weights(dense_run_dir):
    dense = torch.load(dense_run_dir / "best.pt")["model"]
    model, opt, sparsifier = make_run(SparseConfig(method="omp", sparsity=0.5,
                                                   init_from=str(dense_run_dir)))
    magnitudes = torch.cat([dense[t.name].abs().view(-1) for t in sparsifier.tensors])
    mask = torch.cat([t.mask.view(-1) for t in sparsifier.tensors])
    assert int(mask.sum()) == sum(t.target for t in sparsifier.tensors)
    assert magnitudes[mask].min() >= magnitudes[~mask].max()  # global magnitude (default)
    for t in sparsifier.tensors:
        assert torch.equal(t.param.detach(), dense[t.name] * t.mask)
    assert torch.equal(model.bn.running_var, dense["bn.running_var"])


def test_omp_checkpoint_errors(tmp_path):
    with pytest.raises(UserError, match="needs --init-from"):
        make_run(SparseConfig(method="omp", sparsity=0.5))
    with pytest.raises(UserError, match="no best.pt or last.pt"):
        make_run(SparseConfig(method="omp", sparsity=0.5, init_from=str(tmp_path)))
    torch.save({"model": {"stem.weight": torch.zeros(1)}}, tmp_path / "last.pt")
    with pytest.raises(UserError, match="does not fit this model"):
        make_run(SparseConfig(method="omp", sparsity=0.5, init_from=str(tmp_path)))


def test_lth_prunes_each_round_and_rewinds_to_init():
    cfg = SparseConfig(method="lth", sparsity=0.75, rounds=3)
    model, opt, sparsifier = make_run(cfg, total_steps=30, steps_per_epoch=5)  # 6 epochs
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    total = sum(t.numel for t in sparsifier.tensors)
    densities = []
    for epoch in range(6):
        train_steps(model, opt, sparsifier, 5 * epoch, 5 * epoch + 4)
        step = 5 * epoch + 4
        x, y = batch(step)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        sparsifier.before_step(step)
        opt.step()
        sparsifier.on_epoch_end(epoch)
        densities.append(sparsifier.density_totals()["active"] / total)
        if epoch in (1, 3):  # round ends: weights are the init values, masked; optimizer reset
            for n, p in model.named_parameters():
                mask = next((t.mask for t in sparsifier.tensors if t.name == n and t.mask is not None),
                            None)
                assert torch.equal(p.detach(), init[n] if mask is None else init[n] * mask), n
            assert len(opt.state) == 0
    assert densities[0] == 1.0
    assert densities[2] == pytest.approx(math.sqrt(0.25), abs=1e-3)
    assert densities[5] == pytest.approx(0.25, abs=1e-3)


@pytest.mark.parametrize("cfg, message", [
    (SparseConfig(method="rigl", sparsity=1.0), "sparsity=1.0"),
    (SparseConfig(method="rigl", sparsity=-0.1), "sparsity=-0.1"),
    (SparseConfig(method="rgl", sparsity=0.5), "did you mean rigl"),
    (SparseConfig(method="rigl", distribution="erkk"), "did you mean erk"),
    (SparseConfig(method="set", grow="magic"), "valid: gradient, random"),
    (SparseConfig(method="static", grow="random"), "does not apply"),
    (SparseConfig(method="lth", rounds=1), "rounds=1"),
    (SparseConfig(method="lth", rounds=9, lth_schedule="split"), "needs at least 9 epochs"),
    (SparseConfig(method="lth", rounds=3), "needs a multiple of 3 epochs"),
    (SparseConfig(method="granet", sparsity=0.5, initial_density=0.3, update_every=2),
     "initial_density"),
    (SparseConfig(method="gmp", sparsity=0.5, update_every=100), "would not reach its target"),
    (SparseConfig(method="rigl", regrow_momentum="maybe"), "regrow_momentum"),
])
def test_bad_options_are_one_line_user_errors(cfg, message):
    with pytest.raises(UserError, match=message) as err:
        make_run(cfg)
    assert "\n" not in str(err.value)


def test_dst_without_any_update_in_the_run_warns():
    messages = []
    make_run(SparseConfig(method="rigl", sparsity=0.5, update_every=100), log=messages.append)
    assert any("no topology update" in m for m in messages)


def test_dense_method_has_no_masks_and_reports_density_one():
    model, opt, sparsifier = make_run(SparseConfig(method="dense", sparsity=0.5))
    assert all(t.mask is None for t in sparsifier.tensors)
    train_steps(model, opt, sparsifier, 0, 5)
    assert sparsifier.report()["total"]["density"] == 1.0
    assert sparsifier.report()["sparsity"] == 0.0
