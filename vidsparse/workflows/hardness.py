"""EL2N sample hardness (Paul et al. 2021): how far a briefly trained model is from each label.

EL2N(x, y) = || softmax(f(x)) - onehot(y) ||_2, averaged over K runs from different seeds that
were trained for only a few epochs. We default to this plain L2 norm, as in Paul et al.; the
sparse-hard-sample code of Xiao et al. (2024) squares it (``squared=True``). Squaring is
monotone, so top/bottom subsets of a single run agree; averages over runs can differ slightly.

Scores use the deterministic test view of every training sample (centre clip and crop, no
augmentation) so they do not depend on augmentation draws. The K runs are ordinary
``vidsparse train`` run directories under ``OUT/runs/``, so an interrupted job resumes.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vidsparse.config import RunConfig
from vidsparse.core.checkpoint import load_checkpoint
from vidsparse.core.device import autocast, resolve_device
from vidsparse.core.io import atomic_write, atomic_write_json
from vidsparse.data.build import build_scoring_dataset
from vidsparse.data.video.dataset import collate_skipping
from vidsparse.errors import UserError
from vidsparse.evaluation.accuracy import predict_views
from vidsparse.evaluation.context import load_run_model
from vidsparse.models import get_model_entry
from vidsparse.run_dir import RunDir
from vidsparse.training.loop import check_names, train


def el2n_from_probs(probs: torch.Tensor, labels: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Per-sample || probs - onehot(labels) ||_2 (its square with ``squared``); probs [N, C]."""
    error = probs.float() - F.one_hot(labels.long(), probs.shape[-1]).to(probs.device, torch.float32)
    sq = error.pow(2).sum(-1)
    return sq if squared else sq.sqrt()


def el2n_scores(logits: torch.Tensor, labels: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """EL2N of logits [N, C] against integer labels [N]: plain norm by default (Paul et al.)."""
    return el2n_from_probs(logits.float().softmax(-1), labels, squared)


@torch.no_grad()
def score_dataset(model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int, workers: int,
                  squared: bool = False, desc: str = "el2n") -> list[float | None]:
    """EL2N of every sample of ``dataset`` under ``model`` in eval mode; None for undecodable ones."""
    model.eval()
    scores: list[float | None] = [None] * len(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_skipping, pin_memory=device.type == "cuda")
    for clips, labels, indices, _ in tqdm(loader, desc=desc, leave=False, disable=None):
        if clips is None:
            continue
        with torch.no_grad(), autocast(device):
            probs = predict_views(model, clips.to(device, non_blocking=True))
        values = el2n_from_probs(probs, labels.to(device), squared).cpu().tolist()
        for index, value in zip(indices.tolist(), values):
            scores[index] = value
    return scores


def average_runs(per_run: list[list[float | None]]) -> list[float | None]:
    """Mean over the runs that could score a sample; None if none could."""
    means: list[float | None] = []
    for values in zip(*per_run):
        seen = [v for v in values if v is not None]
        means.append(sum(seen) / len(seen) if seen else None)
    return means


def sample_names(dataset: Dataset) -> list[str]:
    """A stable name per training sample (file path, image id or index) for el2n.json."""
    if hasattr(dataset, "items"):  # videos
        return [str(path) for path, _ in dataset.items]
    source = dataset.source
    if hasattr(source, "items"):  # image files
        return [str(path) for path, _ in source.items]
    return list(source.ids) if source.ids else [str(k) for k in range(len(source))]


@dataclass
class HardnessResult:
    out_dir: Path
    scores: list[float | None]
    run_dirs: list[Path]


def _trained_run(cfg: RunConfig, log: Callable[[str], None]) -> Path:
    """Train (or finish, or reuse) one short run; returns its directory."""
    run_dir = cfg.run_dir()
    last = RunDir(run_dir).last
    if last.is_file():
        done = load_checkpoint(last, "cpu")["epoch"]
        if done >= cfg.train.epochs:
            log(f"reusing finished run {run_dir}")
            return run_dir
        train(cfg, resume=True, log=log)
    else:
        train(cfg, resume=False, log=log)
    return run_dir


def compute_hardness(cfg: RunConfig, runs: int, epochs: int, out: str | Path = "", squared: bool = False,
                     log: Callable[[str], None] = print) -> HardnessResult:
    """Train ``runs`` short runs (seeds seed..seed+runs-1, ``epochs`` each) and score every training sample."""
    if runs < 1 or epochs < 1:
        raise UserError(f"--runs and --epochs must be at least 1 (got {runs} and {epochs})")
    if cfg.data.subset:
        raise UserError("hardness scores every training sample; drop --subset")
    check_names(cfg)
    out_dir = Path(out or f"runs/hardness-{cfg.data.dataset}-{cfg.model.name}")
    device = resolve_device(cfg.train.device)
    entry = get_model_entry(cfg.model.name)
    dataset = build_scoring_dataset(cfg, entry.input.mean, entry.input.std)
    per_run, run_dirs = [], []
    for k in range(runs):
        run_cfg = copy.deepcopy(cfg)
        run_cfg.train.seed = cfg.train.seed + k
        run_cfg.train.epochs = epochs
        run_cfg.train.out = str(out_dir / "runs" / f"seed{run_cfg.train.seed}")
        run_dir = _trained_run(run_cfg, log)
        _, model, _ = load_run_model(run_dir, "last", device)  # the final model, as in Paul et al.
        per_run.append(score_dataset(model, dataset, device, cfg.train.eval_batch_size, cfg.data.workers,
                                     squared, desc=f"el2n run {k + 1}/{runs}"))
        run_dirs.append(run_dir)
    scores = average_runs(per_run)
    unscored = sum(s is None for s in scores)
    if unscored:
        log(f"warning: {unscored} undecodable training samples have no score (null in el2n.json)")
    atomic_write_json(out_dir / "el2n.json", {
        "scores": scores, "paths": sample_names(dataset), "labels": list(dataset.labels),
        "runs": runs, "epochs": epochs, "squared": squared, "dataset": cfg.data.dataset,
        "model": cfg.model.name, "seeds": [cfg.train.seed + k for k in range(runs)],
        "run_dirs": [str(d) for d in run_dirs],
    })
    save_histogram(scores, out_dir / "el2n_hist.png", squared)
    log(f"EL2N of {len(scores)} training samples ({runs} runs x {epochs} epochs) -> {out_dir / 'el2n.json'}")
    return HardnessResult(out_dir, scores, run_dirs)


def save_histogram(scores: list[float | None], path: Path, squared: bool) -> None:
    import matplotlib  # optional: matplotlib (heavy), the figure only

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional: matplotlib (heavy)

    values = [s for s in scores if s is not None and math.isfinite(s)]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(values, bins=min(50, max(5, len(values) // 10)), color="tab:blue")
    ax.set_xlabel("EL2N (squared)" if squared else "EL2N")
    ax.set_ylabel("training samples")
    ax.set_title(f"EL2N of {len(values)} training samples")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
