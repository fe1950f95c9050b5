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
from torch.utils.data import DataLoader, Dataset, Sampler

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


class EpochSeeded(Dataset):
    """The training set indexed by (epoch seed, index).

    A persistent worker holds its own copy of the dataset, which never sees the main process's
    ``set_epoch_seed``; the seed therefore travels with every index, and augmentation stays a
    function of (seed, epoch, index) alone, as with a fresh loader per epoch.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset, self.seed = dataset, None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        seed, index = key
        if seed != self.seed:
            self.dataset.set_epoch_seed(seed)
            self.seed = seed
        return self.dataset[index]


class EpochOrder(Sampler):
    """The current epoch's (epoch seed, index) keys; replaced before every epoch."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.keys)

    def __len__(self) -> int:
        return len(self.keys)


class TrainLoader:
    """One DataLoader for a whole run: its workers persist across epochs (no re-spawn, no
    re-opened decoders each epoch), while each epoch's order and augmentation depend only on
    (seed, epoch) exactly as a fresh loader per epoch would give them."""

    def __init__(self, bundle: DataBundle, cfg: RunConfig, device: torch.device, world: World = World(),
                 persistent: bool = True) -> None:
        self.size, self.cfg, self.world = len(bundle.train), cfg, world
        self.order = EpochOrder()
        batch_size = cfg.train.batch_size
        self.loader = DataLoader(
            EpochSeeded(bundle.train),
            batch_size=batch_size,
            sampler=self.order,
            num_workers=cfg.data.workers,
            collate_fn=collate_skipping,
            generator=torch.Generator().manual_seed(cfg.train.seed),  # worker seeds: not the global RNG
            drop_last=per_rank_items(self.size, world) > batch_size,  # of the whole epoch: a skipped head changes nothing
            pin_memory=device.type == "cuda",
            persistent_workers=persistent and cfg.data.workers > 0,
            worker_init_fn=shield_worker,
        )

    def epoch(self, epoch: int, skip_batches: int = 0) -> DataLoader:
        """The loader set to ``epoch``; ``skip_batches`` continues an epoch mid-way (the order is
        sliced, so batches already trained on are never decoded; augmentation is per sample)."""
        epoch_seed = self.cfg.train.seed * 10_000 + epoch
        order = epoch_order(self.size, epoch_seed, self.world)
        self.order.keys = [(epoch_seed, index) for index in order[skip_batches * self.cfg.train.batch_size:]]
        return self.loader


def train_loader(bundle: DataBundle, cfg: RunConfig, epoch: int, device: torch.device,
                 world: World = World(), skip_batches: int = 0) -> DataLoader:
    """A one-off loader for one epoch (e.g. the batches SNIP scores), workers not kept."""
    return TrainLoader(bundle, cfg, device, world, persistent=False).epoch(epoch, skip_batches)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    return num_train // batch_size if num_train > batch_size else 1


def per_rank_items(num_items: int, world: World) -> int:
    """Samples each rank sees per epoch (after padding)."""
    return math.ceil(num_items / world.size)
