"""`vidsparse train` with sparse methods end to end on the tiny synthetic set."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_train_args
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.cli import main


@pytest.mark.parametrize("method", ["rigl", "snip"])
def test_train_cli_sparse_run(method: str, synthetic_root: Path, tmp_path: Path):
    run = tmp_path / method
    args = tiny_train_args(synthetic_root, run, "--method", method, "--sparsity", "0.5",
                           "--set", "sparse.update_every=1")
    assert main(args) == 0
    report = json.loads((run / "sparsity.json").read_text())
    assert report["method"] == method
    assert report["total"]["density"] == pytest.approx(0.5, abs=1e-3)
    assert sum(row["active"] for row in report["layers"]) == report["total"]["active"]
    row = list(csv.DictReader((run / "metrics.csv").open()))[-1]
    assert float(row["density"]) == pytest.approx(0.5, abs=1e-3)
    assert float(row["infer_flops_ratio"]) < 1.0
    if method == "rigl":
        assert float(row["mask_updates"]) >= 1 and float(row["mask_changed"]) > 0
    state = torch.load(run / "last.pt", weights_only=False)
    masks = state["sparsifier"]["masks"]
    assert any(mask is not None for mask in masks.values())
    for name, mask in masks.items():
        if mask is not None:
            assert torch.all(state["model"][name][~mask] == 0), name


def _masked_fraction(model: torch.nn.Module) -> float:
    """Fraction of exact zeros over the Conv/Linear weights (the maskable ones)."""
    weights = [m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Linear))]
    zeros = sum(int((w == 0).sum()) for w in weights)
    return zeros / sum(w.numel() for w in weights)


@pytest.mark.parametrize("schedule, densities", [("imp", [1.0, 1.0, 0.5, 0.5]), ("split", [1.0, 0.5])])
def test_lth_logs_the_trained_model_and_trains_every_round_in_full(schedule: str, densities: list[float],
                                                                    synthetic_root: Path, tmp_path: Path,
                                                                    monkeypatch):
    """Items 1-2: each round's evaluation (metrics.csv) is of the model the round trained,
    not of the pruned, rewound ticket; with imp (the default) each round trains all
    --epochs with the LR restarted; best.pt holds a model at the target density."""
    import vidsparse.training.loop as loop

    seen = []
    real_evaluate = loop.evaluate

    def spy(model, *args, **kwargs):
        result = real_evaluate(model, *args, **kwargs)
        seen.append((_masked_fraction(model), result.top1))
        return result

    monkeypatch.setattr(loop, "evaluate", spy)
    run = tmp_path / "lth"
    args = tiny_train_args(synthetic_root, run, "--method", "lth", "--rounds", "2", "--sparsity", "0.5",
                           "--set", f"sparse.lth_schedule={schedule}")
    args[args.index("--epochs") + 1] = "2"
    assert main(args) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    # the model evaluated at a round's end is the trained one (dense in round 1), not the ticket
    assert [round(1 - frac, 2) for frac, _ in seen] == densities
    assert [float(r["density"]) for r in rows] == pytest.approx(densities, abs=1e-3)
    assert [float(r["test_top1"]) for r in rows] == [top1 for _, top1 in seen]
    if schedule == "imp":  # 2 rounds x 2 epochs, the schedule restarted with round 2
        lrs = [float(r["lr"]) for r in rows]
        assert lrs[2] == pytest.approx(lrs[0]) and lrs[2] > lrs[1]
    best = torch.load(run / "best.pt", weights_only=False)
    assert best["epoch"] > len(rows) // 2
    masks = [m for m in best["sparsifier"]["masks"].values() if m is not None]
    assert sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks) == pytest.approx(0.5, abs=2e-3)


def test_gradient_clipping_sees_the_masked_gradient(synthetic_root: Path, tmp_path: Path, monkeypatch):
    """Item 3: the norm clipped is that of the gradients that update weights (masked), so
    active weights are not clipped harder because of gradients of removed ones. Item 6 on
    the same run: the loop wraps the model for DDP before building the sparsifier, as
    sparse/build.py and docs/sparse.md say."""
    import vidsparse.training.loop as loop

    order = []
    for name in ("data_parallel", "build_sparsifier"):
        real = getattr(loop, name)
        monkeypatch.setattr(loop, name, lambda *a, _real=real, _name=name, **k: (order.append(_name), _real(*a, **k))[1])
    clip = torch.nn.utils.clip_grad_norm_
    dense_grad_at_zero_weights = []

    def spy(parameters, *args, **kwargs):
        parameters = list(parameters)
        leaked = sum(int(((p == 0) & (p.grad != 0)).sum()) for p in parameters
                     if p.grad is not None and p.dim() > 1)
        dense_grad_at_zero_weights.append(leaked)
        return clip(parameters, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    run = tmp_path / "static"
    args = tiny_train_args(synthetic_root, run, "--method", "static", "--sparsity", "0.5",
                           "--set", "optim.grad_clip=0.1")
    assert main(args) == 0
    assert dense_grad_at_zero_weights and set(dense_grad_at_zero_weights) == {0}
    assert order == ["data_parallel", "build_sparsifier"]


def test_granet_and_mest_with_defaults_on_a_one_epoch_run(synthetic_root: Path, tmp_path: Path, capsys):
    """Item 5: no --sparsity, no schedule: a sparse run at the default sparsity 0.5 that
    updates its topology (granet used to stop: 'the last pruning step 100 is beyond ...')."""
    for method in ("granet", "mest"):
        run = tmp_path / method
        assert main(tiny_train_args(synthetic_root, run, "--method", method)) == 0
        row = list(csv.DictReader((run / "metrics.csv").open()))[-1]
        assert float(row["density"]) == pytest.approx(0.5, abs=2e-3)
        assert float(row["mask_updates"]) >= 1
        assert (run / "best.pt").is_file()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "default 0.5" in " ".join(capsys.readouterr().out.split())
