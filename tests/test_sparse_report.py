"""The per-layer table and the FLOPs estimates."""

from __future__ import annotations

import json

import pytest

from tests.sparse_fixtures import TinyVideoTransformer, make_run, train_steps
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.sparse import SparseConfig


def test_layer_table_rows_and_totals():
    model, _, sparsifier = make_run(SparseConfig(method="static", sparsity=0.5,
                                                 distribution="uniform", dense_classifier=True))
    report = sparsifier.report()
    json.dumps(report)  # sparsity.json must be plain JSON
    rows = {row["name"]: row for row in report["layers"]}
    assert list(rows) == ["stem.weight", "conv.weight", "temporal.weight", "fc.weight"]
    assert rows["stem.weight"]["shape"] == [8, 3, 3, 3, 3]
    assert rows["stem.weight"]["params"] == 648 and rows["stem.weight"]["active"] == 324
    assert rows["fc.weight"]["density"] == 1.0 and rows["fc.weight"]["kept_dense"]
    maskable = 648 + 3456 + 512 + 80
    assert report["total"] == {"params": maskable, "active": 324 + 1728 + 256 + 80,
                               "density": (324 + 1728 + 256 + 80) / maskable}
    all_params = sum(p.numel() for p in model.parameters())
    assert report["model"]["params"] == all_params
    assert report["model"]["active"] == all_params - (maskable - report["total"]["active"])
    text = sparsifier.format_report()
    assert "fc.weight (dense)" in text and "8x3x3x3x3" in text and "total (maskable)" in text
    assert "sparse method static: sparsity 0.5, distribution uniform" in text


def test_flops_are_fvcore_layer_counts_scaled_by_density():
    _, _, sparsifier = make_run(SparseConfig(method="static", sparsity=0.5, distribution="erk"),
                                flops=True)
    flops = sparsifier.flops
    # per sample, 1 multiply-add = 1 flop: outputs x (in_channels x kernel volume)
    assert flops.per_tensor == {"stem.weight": 8 * 4 * 8 * 8 * 81,
                                "conv.weight": 16 * 2 * 4 * 4 * 216,
                                "temporal.weight": 16 * 1 * 32, "fc.weight": 5 * 16}
    densities = {t.name: t.active / t.numel for t in sparsifier.tensors}
    sparse = flops.dense_total - sum(f * (1 - densities[n]) for n, f in flops.per_tensor.items())
    report = sparsifier.report()["flops"]
    assert report["sparse_forward"] == pytest.approx(sparse)
    assert report["forward_ratio"] == pytest.approx(sparse / flops.dense_total)


def test_attention_projection_flops_split_between_in_and_out_proj():
    _, _, sparsifier = make_run(SparseConfig(method="static", sparsity=0.5), TinyVideoTransformer,
                                flops=True)
    f = sparsifier.flops.per_tensor
    tokens, dim = 9, 16  # 8 tubelets + class token
    assert f["attn.in_proj_weight"] == pytest.approx(tokens * 3 * dim * dim)
    assert f["attn.out_proj.weight"] == pytest.approx(tokens * dim * dim)
    assert f["custom.q.weight"] == tokens * dim * dim
    assert f["patch_embed.weight"] == 8 * 16 * (3 * 2 * 4 * 4)


def test_training_flops_charge_rigl_a_dense_gradient_at_update_steps():
    ratios = {}
    for method in ("static", "set", "rigl"):
        cfg = SparseConfig(method=method, sparsity=0.5, distribution="uniform", update_every=2)
        model, opt, sparsifier = make_run(cfg, flops=True, total_steps=10, steps_per_epoch=10)
        train_steps(model, opt, sparsifier, 0, 9)  # epoch end at step 9 is called below
        ratios[method] = sparsifier.on_epoch_end(0)
        f_sparse, f_dense = sparsifier._forward_flops, sparsifier.flops.dense_total
    updates = ratios["rigl"]["mask_updates"]
    assert updates == 3  # steps 2, 4, 6 (< 75% of 10)
    assert ratios["static"]["train_flops_ratio"] == pytest.approx(f_sparse / f_dense)
    assert ratios["set"]["train_flops_ratio"] == pytest.approx(ratios["static"]["train_flops_ratio"])
    expected = (9 * 3 * f_sparse + updates * (f_dense - f_sparse)) / (9 * 3 * f_dense)
    assert ratios["rigl"]["train_flops_ratio"] == pytest.approx(expected)
    assert ratios["rigl"]["infer_flops_ratio"] == pytest.approx(f_sparse / f_dense)
