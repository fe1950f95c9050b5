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
