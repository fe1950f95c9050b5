"""The training loop: one readable loop for dense and sparse runs, resumable at epoch ends.

The sparse engine plugs in through one object (``vidsparse.sparse.build_sparsifier``): the
loop calls ``before_step`` after backward (gradients are dense and, under DDP, averaged),
``after_step`` after the optimizer step, and ``on_epoch_end`` for its metrics. ``dense``
is a no-op sparsifier, so there is one code path.
"""

from __future__ import annotations

import csv
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from vidsparse.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from vidsparse.config import RunConfig, save_config
from vidsparse.data.build import DataBundle, build_datasets
from vidsparse.data.video_dataset import collate_skipping
from vidsparse.errors import UserError, did_you_mean
from vidsparse.evaluate import evaluate
from vidsparse.io_utils import atomic_write_json, atomic_write_text
from vidsparse.models import create_model, get_model_entry
from vidsparse.sparse import SparseContext, build_sparsifier, list_methods


def resolve_device(name: str) -> torch.device:
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None


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


def make_scheduler(optimizer, optim_cfg, total_steps: int, steps_per_epoch: int):
    if optim_cfg.schedule not in ("cosine", "constant"):
        raise did_you_mean(optim_cfg.schedule, ["cosine", "constant"], "lr schedule")
    warmup = int(round(optim_cfg.warmup_epochs * steps_per_epoch))
    min_ratio = optim_cfg.min_lr / optim_cfg.lr if optim_cfg.lr else 0.0
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup, optim_cfg.schedule, min_ratio)
    )


# -------------------------------------------------------------------------------------------
# data


def train_loader(bundle: DataBundle, cfg: RunConfig, epoch: int, device: torch.device) -> DataLoader:
    """A fresh loader per epoch whose order and augmentation depend only on (seed, epoch)."""
    epoch_seed = cfg.train.seed * 10_000 + epoch
    bundle.train.set_epoch_seed(epoch_seed)
    generator = torch.Generator().manual_seed(epoch_seed)
    return DataLoader(
        bundle.train,
        batch_size=cfg.train.batch_size,
        sampler=RandomSampler(bundle.train, generator=generator),
        num_workers=cfg.data.workers,
        collate_fn=collate_skipping,
        generator=torch.Generator().manual_seed(epoch_seed),  # worker seeds: not the global RNG
        drop_last=len(bundle.train) > cfg.train.batch_size,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def steps_per_epoch(num_train: int, batch_size: int) -> int:
    return num_train // batch_size if num_train > batch_size else 1


# -------------------------------------------------------------------------------------------
# the run


METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "test_top1", "test_top5", "lr", "time_s", "skipped"]


@dataclass
class TrainResult:
    run_dir: Path
    best_top1: float
    metrics: list[dict[str, Any]]


class MetricsLog:
    """metrics.csv with one row per epoch; columns grow when the sparsifier adds metrics."""

    def __init__(self, path: Path, rows: list[dict[str, Any]] | None = None) -> None:
        self.path = path
        self.rows = rows or []

    @classmethod
    def load(cls, path: Path, upto_epoch: int) -> "MetricsLog":
        rows = []
        if path.is_file():
            with path.open() as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) <= upto_epoch]
        return cls(path, rows)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        fields = list(METRIC_FIELDS)
        for r in self.rows:
            fields.extend(k for k in r if k not in fields)
        lines = [",".join(fields)]
        for r in self.rows:
            lines.append(",".join(_fmt(r.get(k, "")) for k in fields))
        atomic_write_text(self.path, "\n".join(lines) + "\n")


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def check_names(cfg: RunConfig) -> None:
    """Fail on a bad name or value before any data is read or generated."""
    from vidsparse.data.registry import get_dataset
    from vidsparse.sparse.config import validate
    from vidsparse.sparse.density import DISTRIBUTIONS

    kind = get_dataset(cfg.data.dataset).kind
    if get_model_entry(cfg.model.name).is_video != (kind == "video"):
        wanted = "a video" if kind == "video" else "an image"
        raise UserError(f"model {cfg.model.name!r} cannot train on {kind} dataset {cfg.data.dataset!r}; "
                        f"pick {wanted} model (see 'vidsparse list models')")
    validate(cfg.sparse, [name for name, _ in list_methods()], list(DISTRIBUTIONS))
    if cfg.optim.name not in OPTIMIZERS:
        raise did_you_mean(cfg.optim.name, list(OPTIMIZERS), "optimizer")


def train(cfg: RunConfig, resume: bool = False, log: Callable[[str], None] = print) -> TrainResult:
    if cfg.train.deterministic:
        use_deterministic_kernels()
    device = resolve_device(cfg.train.device)
    check_names(cfg)
    run_dir = cfg.run_dir()
    last_path = run_dir / "last.pt"
    if resume and not last_path.is_file():
        raise UserError(f"--resume: no checkpoint {last_path}; start the run without --resume")
    if not resume and (run_dir / "metrics.csv").is_file():
        raise UserError(f"{run_dir} already holds a run; pass --resume to continue it or --out NEW_DIR")
    run_dir.mkdir(parents=True, exist_ok=True)

    seed_everything(cfg.train.seed)
    entry = get_model_entry(cfg.model.name)
    bundle = build_datasets(cfg, entry.input.mean, entry.input.std)
    num_classes = len(bundle.classes)
    model = create_model(
        cfg.model.name, num_classes, size=cfg.model.size, width=cfg.model.width or None,
        dropout=cfg.model.dropout if cfg.model.dropout >= 0 else None,
    ).to(device)
    if cfg.model.pretrained and not resume:  # before masks are chosen: magnitude methods see these weights
        from vidsparse.models import load_pretrained

        load_pretrained(model, cfg.model.pretrained, log=log)
    optimizer = make_optimizer(model, cfg.optim)
    per_epoch = steps_per_epoch(len(bundle.train), cfg.train.batch_size)
    total_steps = per_epoch * cfg.train.epochs
    scheduler = make_scheduler(optimizer, cfg.optim, total_steps, per_epoch)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.train.amp and device.type == "cuda")
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.optim.label_smoothing)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for clips, labels, _, _ in train_loader(bundle, cfg, -1, device):
            if clips is not None:
                yield clips.to(device), labels.to(device)

    example = next(batches(), None)
    if example is None:
        raise UserError("no decodable training video: check the dataset with 'vidsparse data check'")
    cfg.sparse.seed = cfg.sparse.seed or cfg.train.seed
    sparsifier = build_sparsifier(
        cfg.sparse, model, optimizer,
        SparseContext(total_steps=total_steps, steps_per_epoch=per_epoch, epochs=cfg.train.epochs,
                      example_input=example[0][:1], loss_fn=criterion, batches=batches,
                      run_dir=run_dir, log=log),
    )
    del example

    start_epoch, step, best_top1 = 0, 0, -1.0
    if resume:
        state = load_checkpoint(last_path, device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        sparsifier.load_state_dict(state["sparsifier"])
        set_rng_state(state["rng"])
        start_epoch, step, best_top1 = state["epoch"], state["step"], state["best_top1"]
        log(f"resumed {run_dir} at epoch {start_epoch} (step {step})")
    else:
        save_config(cfg, run_dir / "config.yaml")
        atomic_write_json(run_dir / "sparsity.json", sparsifier.report())
        log(sparsifier.format_report())
    metrics = MetricsLog.load(run_dir / "metrics.csv", start_epoch)
    log(f"training {cfg.model.name} ({cfg.sparse.method}) on {cfg.data.dataset}: {len(bundle.train)} train / "
        f"{len(bundle.test)} test samples, {num_classes} classes, {cfg.train.epochs} epochs on {device}")

    def checkpoint(epoch: int) -> dict[str, Any]:
        return {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "sparsifier": sparsifier.state_dict(), "rng": rng_state(),
            "epoch": epoch, "step": step, "best_top1": best_top1, "config": cfg.to_dict(),
            "classes": bundle.classes,
        }

    for epoch in range(start_epoch, cfg.train.epochs):
        started = time.time()
        model.train()
        loss_sum, correct, seen, skipped = 0.0, 0, 0, 0
        loader = train_loader(bundle, cfg, epoch, device)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", leave=False, disable=None)
        for clips, labels, _, bad in bar:
            skipped += bad
            if clips is None:
                continue
            clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=scaler.is_enabled()):
                logits = model(clips)
                loss = criterion(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            if cfg.optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            sparsifier.before_step(step)
            scaler.step(optimizer)
            scaler.update()
            sparsifier.after_step(step)
            scheduler.step()
            step += 1
            loss_sum += float(loss.detach()) * labels.numel()
            correct += int((logits.argmax(-1) == labels).sum())
            seen += labels.numel()
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        row: dict[str, Any] = {
            "epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
            "lr": optimizer.param_groups[0]["lr"],
        }
        row.update(sparsifier.on_epoch_end(epoch))
        is_last = epoch + 1 == cfg.train.epochs
        if (epoch + 1) % cfg.train.eval_every == 0 or is_last:
            acc = evaluate(model, bundle.test, bundle.classes, device, cfg.train.eval_batch_size,
                           cfg.data.workers, desc="test")
            row.update(test_top1=acc.top1, test_top5=acc.top5)
            skipped += acc.skipped
            # best.pt only from the final topology (GMP/GraNet/LTH/MEST pass through denser stages)
            if acc.top1 > best_top1 and sparsifier.at_target_density:
                best_top1 = acc.top1
                save_checkpoint(run_dir / "best.pt", checkpoint(epoch + 1))
        row.update(time_s=time.time() - started, skipped=skipped)
        metrics.append(row)
        save_checkpoint(last_path, checkpoint(epoch + 1))
        log(_epoch_line(row))
    skipped_total = sum(int(r.get("skipped") or 0) for r in metrics.rows)
    if skipped_total:
        print(f"warning: {skipped_total} undecodable videos were skipped (see 'skipped' in metrics.csv)",
              file=sys.stderr)
    return TrainResult(run_dir, best_top1, metrics.rows)


def _epoch_line(row: dict[str, Any]) -> str:
    parts = [f"epoch {row['epoch']}", f"loss {row['train_loss']:.4f}", f"train acc {row['train_acc']:.3f}"]
    if "test_top1" in row:
        parts.append(f"test top1 {row['test_top1']:.3f} top5 {row['test_top5']:.3f}")
    if "density" in row:
        parts.append(f"density {row['density']:.3f}")
    parts.append(f"{row['time_s']:.1f}s")
    return " | ".join(parts)
