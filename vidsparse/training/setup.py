"""What a run is set up with: seeds, deterministic kernels, optimizer, LR schedule, the epoch's loader."""

from __future__ import annotations

import math
import os
import random
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from vidsparse.config import RunConfig
from vidsparse.core.distributed import World, shard_with_padding
from vidsparse.core.graceful_stop import shield_worker
from vidsparse.data.build import DataBundle
from vidsparse.data.video.dataset import collate_skipping
from vidsparse.errors import did_you_mean


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def use_deterministic_kernels() -> None:
    """Seeds alone do not repeat a GPU run: cuDNN autotuning and atomic-add kernels vary.

    Process-wide (torch has no per-run switch). ``warn_only`` keeps ops without a
    deterministic implementation usable instead of failing the run.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read by cuBLAS at first use
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


# -------------------------------------------------------------------------------------------
# optimizer and schedule


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and normalisation parameters (1-D tensors), as is standard."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


OPTIMIZERS: dict[str, Callable[[list, Any], torch.optim.Optimizer]] = {
    "sgd": lambda groups, o: torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0),
    "adamw": lambda groups, o: torch.optim.AdamW(groups, lr=o.lr),
}


def make_optimizer(model: nn.Module, optim_cfg) -> torch.optim.Optimizer:
    if optim_cfg.name not in OPTIMIZERS:
        raise did_you_mean(optim_cfg.name, list(OPTIMIZERS), "optimizer")
    return OPTIMIZERS[optim_cfg.name](_param_groups(model, optim_cfg.weight_decay), optim_cfg)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str, min_ratio: float) -> float:
    """Linear warm-up, then cosine decay (or constant) — per optimizer step."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def make_scheduler(optimizer, optim_cfg, total_steps: int, steps_per_epoch: int,
                   cycle_steps: int | None = None):
    """Warm-up + decay over `cycle_steps` (default: the whole run), restarted every
    `cycle_steps` inside the run (LTH's rounds each train the full schedule)."""
    if optim_cfg.schedule not in ("cosine", "constant"):
        raise did_you_mean(optim_cfg.schedule, ["cosine", "constant"], "lr schedule")
    warmup = int(round(optim_cfg.warmup_epochs * steps_per_epoch))
    min_ratio = optim_cfg.min_lr / optim_cfg.lr if optim_cfg.lr else 0.0
    cycle = cycle_steps or total_steps

    def factor(step: int) -> float:
        position = step % cycle if step < total_steps else cycle  # past the end: stay at its end
        return lr_factor(position, cycle, warmup, optim_cfg.schedule, min_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# -------------------------------------------------------------------------------------------
# data


def epoch_order(num_items: int, epoch_seed: int, world: World = World()) -> list[int]:
    """This rank's sample order for one epoch.

    One permutation per (seed, epoch) -- the one ``RandomSampler`` draws from the same
    generator, so a single process trains in exactly the order it always did -- split across
    ranks with padding so every rank takes the same number of steps.
    """
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(epoch_seed)).tolist()
    return shard_with_padding(order, world)


def train_loader(bundle: DataBundle, cfg: RunConfig, epoch: int, device: torch.device,
                 world: World = World(), skip_batches: int = 0) -> DataLoader:
    """A fresh loader per epoch whose order and augmentation depend only on (seed, epoch).

    ``skip_batches`` continues an epoch mid-way: the order is sliced, so the batches already
    trained on are never decoded (augmentation is per sample, so the rest is unchanged).
    """
    epoch_seed = cfg.train.seed * 10_000 + epoch
    bundle.train.set_epoch_seed(epoch_seed)
    order = epoch_order(len(bundle.train), epoch_seed, world)
    batch_size = cfg.train.batch_size
    return DataLoader(
        bundle.train,
        batch_size=batch_size,
        sampler=order[skip_batches * batch_size:],
        num_workers=cfg.data.workers,
        collate_fn=collate_skipping,
        generator=torch.Generator().manual_seed(epoch_seed),  # worker seeds: not the global RNG
        drop_last=len(order) > batch_size,  # of the whole epoch, so a skipped head changes nothing
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        worker_init_fn=shield_worker,
    )


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    return num_train // batch_size if num_train > batch_size else 1


def per_rank_items(num_items: int, world: World) -> int:
    """Samples each rank sees per epoch (after padding)."""
    return math.ceil(num_items / world.size)
