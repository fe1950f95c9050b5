"""What a run is set up with: seeds, deterministic kernels, optimizer, LR schedule, the epoch's loader."""

from __future__ import annotations

import math
import os
import random
from contextlib import contextmanager
from typing import Any, Callable, Iterator

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
from vidsparse.models.deterministic import make_deterministic


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic matmuls (read when it starts)


def _kernel_flags() -> tuple:
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.fp32_precision)


def _set_kernel_flags(flags: tuple) -> None:
    torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[2], flags[3]
    torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.fp32_precision = flags[4], flags[5]


@contextmanager
def kernel_settings(deterministic: bool, device: torch.device) -> Iterator[None]:
    """Kernel choices for one run, restored afterwards (a sweep runs many in one process).

    Deterministic: torch's deterministic algorithms, strictly (an op without a deterministic
    kernel raises; the training job relaxes this to warnings only for layers it names, see
    ``models.deterministic``), cuDNN deterministic without autotuning, and full fp32 matmuls and
    convolutions (TF32 rounds differently by GPU). ``CUBLAS_WORKSPACE_CONFIG`` is set if unset
    and left set: cuBLAS reads it once, when it starts. Otherwise on CUDA, cuDNN autotunes
    (``benchmark``): clip shapes are fixed, so the first batches pay for faster kernels.
    """
    saved = _kernel_flags()
    try:
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
            _set_kernel_flags((True, False, True, False, "ieee", "ieee"))
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        _set_kernel_flags(saved)


def channels_last(model: nn.Module) -> nn.Module:
    """``model`` in the channels-last layout of its convolutions: ``channels_last_3d`` when it has
    5-D (Conv3d) weights, else ``channels_last``; tensor cores read it without transposes."""
    fmt = torch.channels_last_3d if any(p.dim() == 5 for p in model.parameters()) else torch.channels_last
    rank = 5 if fmt == torch.channels_last_3d else 4
    for p in model.parameters():
        if p.dim() == rank:
            p.data = p.data.contiguous(memory_format=fmt)
    return model


def make_deterministic_on_cuda(model: nn.Module, log: Callable[[str], None]) -> None:
    """Inside ``kernel_settings(deterministic=True)``: swap in deterministic pooling and say
    which layers stay nondeterministic; with any such layer, torch warns at it instead of raising."""
    report = make_deterministic(model)
    for line in report.lines():
        log(line)
    if report.nondeterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


# -------------------------------------------------------------------------------------------
# optimizer and schedule


def make_scaler(device: torch.device, amp: bool) -> torch.amp.GradScaler:
    """Loss scaling for fp16 autocast: on CUDA with ``train.amp``; a disabled scaler elsewhere
    (its state is ``{}``, which ``core.checkpoint.restore_scaler`` carries across devices)."""
    return torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")


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
