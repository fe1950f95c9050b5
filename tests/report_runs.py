"""Fabricated run directories (config.yaml, eval.json, metrics.csv) for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

from vidsparse.config import RunConfig, save_config

CELLS = [("gaussian_noise", "1"), ("gaussian_noise", "2"), ("jumble", "1"), ("jumble", "2")]


def write_run(run: Path, *, method: str, sparsity: float, seed: int, clean: float,
              grid: dict[str, dict[str, float]], dataset: str = "synthetic", model: str = "r3d_small",
              grow: str = "", flops: list[float] | None = None, fourier: bool = False) -> Path:
    """A run directory as train + eval leave it: ``grid`` is corruption -> severity -> top-1."""
    cfg = RunConfig()
    cfg.sparse.method, cfg.sparse.sparsity, cfg.sparse.grow, cfg.train.seed = method, sparsity, grow, seed
    cfg.data.dataset, cfg.model.name = dataset, model
    run.mkdir(parents=True)
    save_config(cfg, run / "config.yaml")
    corruptions = {name: {sev: {"top1": top1, "top5": 1.0, "n": 8} for sev, top1 in sevs.items()}
                   for name, sevs in grid.items()}
    result = {"clean": {"top1": clean, "top5": 1.0, "n": 8}, "corruptions": corruptions, "summary": {}}
    if fourier:
        result["fourier"] = {"low_pass": {"0": 0.25, "4": clean - 0.1, "8": clean},
                             "high_pass": {"0": clean, "4": 0.3, "8": 0.25}}
    (run / "eval.json").write_text(json.dumps(result))
    header = "epoch,train_loss,test_top1" + (",train_flops_ratio" if flops else "")
    rows = [f"{e + 1},1.0,0.5" + (f",{f}" if flops else "") for e, f in enumerate(flops or [0, 0])]
    (run / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    return run


def fake_run(root: Path, method: str, sparsity: float, seed: int, clean: float, drops: list[float],
             flops: list[float] | None = None, extra: bool = False, fourier: bool = True) -> Path:
    """A run on ``CELLS``: each cell's top-1 is ``clean`` minus its drop."""
    grid: dict = {}
    for (name, sev), drop in zip(CELLS, drops):
        grid.setdefault(name, {})[sev] = clean - drop
    if extra:  # a cell the other runs lack: must be left out of the comparison
        grid["gaussian_noise"]["5"] = 0.0
    return write_run(root / f"{method}-{sparsity}-{seed}", method=method, sparsity=sparsity, seed=seed,
                     clean=clean, grid=grid, flops=flops, fourier=fourier)
