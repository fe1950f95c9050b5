"""Clean evaluation with multi-view testing (clips x crops averaged per video).

Under DDP every rank evaluates its strided share of the samples and the per-class counts are
summed, so each video counts once and every rank returns the single-process accuracy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from vidsparse.core.distributed import World, gather_objects, joined_world, shard_indices
from vidsparse.core.device import autocast
from vidsparse.core.graceful_stop import shield_worker
from vidsparse.data.video.dataset import collate_skipping


@dataclass
class Accuracy:
    top1: float
    top5: float
    n: int
    skipped: int = 0
    per_class: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def bare_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper: evaluation must not synchronise buffers in forward,
    since ranks run different numbers of batches."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def predict_views(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Class probabilities averaged over views: clips [B, V, C, T, H, W] or [B, C, T, H, W]."""
    if clips.dim() == 6:
        b, v = clips.shape[:2]
        probs = model(clips.flatten(0, 1)).float().softmax(-1)
        return probs.view(b, v, -1).mean(1)
    return model(clips).float().softmax(-1)


class AccuracyCounter:
    """Accumulates top-1/top-5 and per-class hits from batches of probabilities."""

    def __init__(self, num_classes: int) -> None:
        self.hits1 = torch.zeros(num_classes, dtype=torch.long)
        self.hits5 = torch.zeros(num_classes, dtype=torch.long)
        self.count = torch.zeros(num_classes, dtype=torch.long)
        self.skipped = 0

    def update(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        k = min(5, probs.shape[-1])
        self.update_topk(probs.topk(k, dim=-1).indices, labels)

    def update_topk(self, top: torch.Tensor, labels: torch.Tensor) -> None:
        """From stored top-k class indices [N, k] (best first), e.g. predictions saved for resuming."""
        labels = labels.cpu().long()
        top = top.cpu().long()
        hit1 = top[:, 0] == labels
        hit5 = (top == labels[:, None]).any(1)
        self.hits1.index_add_(0, labels, hit1.long())
        self.hits5.index_add_(0, labels, hit5.long())
        self.count.index_add_(0, labels, torch.ones_like(labels))

    def summed(self, world: World) -> AccuracyCounter:
        """Every rank's counts added up (the same on every rank); ``self`` outside DDP.

        Counts are integers, so the sum is exact and the accuracy equals a single process's.
        """
        if not world.is_distributed:
            return self
        total = AccuracyCounter(len(self.count))
        for hits1, hits5, count, skipped in gather_objects((self.hits1, self.hits5, self.count, self.skipped), world):
            total.hits1 += hits1
            total.hits5 += hits5
            total.count += count
            total.skipped += skipped
        return total

    def result(self, class_names: list[str]) -> Accuracy:
        n = int(self.count.sum())
        per_class = {
            name: round(float(self.hits1[i]) / int(self.count[i]), 6)
            for i, name in enumerate(class_names)
            if int(self.count[i])
        }
        return Accuracy(
            top1=float(self.hits1.sum()) / max(n, 1),
            top5=float(self.hits5.sum()) / max(n, 1),
            n=n,
            skipped=self.skipped,
            per_class=per_class,
        )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    class_names: list[str],
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    desc: str = "eval",
    world: World | None = None,
) -> Accuracy:
    """Top-1/top-5 and per-class accuracy of ``dataset``; skipped samples are counted.

    In a joined process group of several ranks (``world`` defaults to it) call this from every
    rank: each evaluates its strided shard, without padding, and all return the same result.
    A DDP-wrapped model is unwrapped (``bare_model``).
    """
    world = joined_world() if world is None else world
    model = bare_model(model)
    if world.is_distributed:
        dataset = Subset(dataset, shard_indices(len(dataset), world))
    was_training = model.training
    model.eval()
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_skipping,
        worker_init_fn=shield_worker,  # a SIGTERM to the process group must reach the loop's handler, not kill workers
        pin_memory=device.type == "cuda",
    )
    counter = AccuracyCounter(len(class_names))
    quiet = not (progress and world.is_main)
    for clips, labels, _, skipped in tqdm(loader, desc=desc, leave=False, disable=True if quiet else None):
        counter.skipped += skipped
        if clips is None:
            continue
        with autocast(device):
            counter.update(predict_views(model, clips.to(device, non_blocking=True)), labels)
    model.train(was_training)
    return counter.summed(world).result(class_names)
