"""The training loop: one readable loop for dense and sparse runs, in one process or under
torchrun (DDP), resumable mid-epoch.

The sparse engine plugs in through one object (``vidsparse.sparse.build_sparsifier``): the
loop calls ``before_step`` after backward (gradients are dense and, under DDP, averaged),
``after_step`` after the optimizer step, and ``on_epoch_end`` for its metrics. ``dense``
is a no-op sparsifier, so there is one code path.

Under DDP every rank runs this same loop on its shard of the epoch's order; rank 0 writes
every output. A world of one process takes no collective and trains exactly as before.
A checkpoint records the position inside the epoch (batches done, running sums), so a run
killed at any point continues from its last checkpoint to the same final numbers.

Seeds, optimizer, LR schedule and the epoch's loader come from ``training.setup``; metrics.csv
is ``training.metrics_log``; what goes to TensorBoard / W&B / MLflow (``--log``) is ``training.track``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from vidsparse.config import RunConfig, check_values, save_config
from vidsparse.core.checkpoint import (load_latest_checkpoint, remove_partial_writes, restore_scaler, rng_state,
                                       save_checkpoint, set_rng_state)
from vidsparse.core.device import resolve_device
from vidsparse.core.distributed import (World, barrier, broadcast_buffers, broadcast_object, gather_objects, in_turns,
                                        max_across_ranks, process_group, sum_across_ranks)
from vidsparse.core.graceful_stop import StopSignals, TrainingInterrupted
from vidsparse.core.io import atomic_write_json
from vidsparse.data.build import DataBundle, build_datasets
from vidsparse.data.registry import get_dataset
from vidsparse.data.video.decoded_cache import decoded_videos_cached
from vidsparse.errors import UserError, did_you_mean
from vidsparse.evaluation.accuracy import evaluate
from vidsparse.models import get_model_entry, load_pretrained, model_from_config
from vidsparse.run_dir import RunDir
from vidsparse.sparse import SparseContext, Sparsifier, build_sparsifier, list_methods, training_epochs
from vidsparse.sparse.config import validate
from vidsparse.sparse.density import DISTRIBUTIONS
from vidsparse.tracking import parse_backends
from vidsparse.training import setup
from vidsparse.training.metrics_log import MetricsLog
from vidsparse.training.setup import (OPTIMIZERS, TrainLoader, channels_last, kernel_settings,
                                      make_deterministic_on_cuda, make_optimizer, make_scheduler, per_rank_items,
                                      seed_everything, steps_per_epoch, train_loader)
from vidsparse.training.track import TrainTracking

# -------------------------------------------------------------------------------------------
# the run


@dataclass
class TrainResult:
    run_dir: Path
    best_top1: float
    metrics: list[dict[str, Any]]


def check_names(cfg: RunConfig) -> None:
    """Fail on a bad name or value before any data is read or generated."""
    kind = get_dataset(cfg.data.dataset).kind
    if get_model_entry(cfg.model.name).is_video != (kind == "video"):
        wanted = "a video" if kind == "video" else "an image"
        raise UserError(f"model {cfg.model.name!r} cannot train on {kind} dataset {cfg.data.dataset!r}; "
                        f"pick {wanted} model (see 'vidsparse list models')")
    validate(cfg.sparse, [name for name, _ in list_methods()], list(DISTRIBUTIONS))
    if cfg.optim.name not in OPTIMIZERS:
        raise did_you_mean(cfg.optim.name, list(OPTIMIZERS), "optimizer")
    check_values(cfg)
    parse_backends(cfg.train.log)


def train(cfg: RunConfig, resume: bool = False, log: Callable[[str], None] = print,
          prepare: Callable[[RunConfig], None] | None = None) -> TrainResult:
    """Train one run; under torchrun every rank calls this and rank 0 writes the outputs.

    ``prepare(cfg)`` runs before the datasets are built, one rank at a time per filesystem
    (e.g. a dataset download). SIGINT/SIGTERM stop the run at the next step boundary after
    saving ``last.pt``, raising ``TrainingInterrupted``.
    """
    device = resolve_device(cfg.train.device)
    check_names(cfg)
    with (kernel_settings(cfg.train.deterministic, device), process_group(device) as (world, device),
          decoded_videos_cached(cfg.data.decode_cache_mb << 20)):
        job = build_job(cfg, resume, log if world.is_main else _quiet, prepare, world, device)
        start_epoch, progress = job.restore() if resume else job.start()
        try:
            job.run(start_epoch, progress)
        finally:
            job.tracking.close()
        return job.result()


SYNC_EVERY = 25  # batches between reads of the device-side loss/accuracy sums (each read waits for the GPU)


def read_sums(progress: EpochProgress, sums: torch.Tensor) -> EpochProgress:
    """Copy the device-side running sums into ``progress`` (one device-to-host sync)."""
    loss_sum, correct = sums.tolist()
    progress.loss_sum, progress.correct = loss_sum, int(correct)
    return progress


def _quiet(message: str) -> None:
    """The log of ranks other than 0: one voice per job."""


@dataclass
class EpochProgress:
    """Where one rank is inside an epoch; checkpointed so a resumed epoch adds up exactly."""

    batches: int = 0  # loader batches consumed, trained on or skipped as undecodable
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    skipped: int = 0


@dataclass
class TrainingJob:
    """One run's objects and counters: built by ``build_job``, then started or restored, then run."""

    cfg: RunConfig
    world: World
    device: torch.device
    log: Callable[[str], None]
    bundle: DataBundle
    model: nn.Module  # the sparsifier, checkpoints and evaluation use it directly
    net: nn.Module  # ``model``, wrapped in DDP under torchrun: forward/backward only
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    sparsifier: Sparsifier
    epochs: int  # epochs in all: --epochs, times the rounds of LTH/IMP (sparse.training_epochs)
    metrics: MetricsLog = field(default_factory=lambda: MetricsLog(None))
    tracking: TrainTracking = field(default_factory=lambda: TrainTracking(None))
    step: int = 0
    best_top1: float = -1.0
    _loader: TrainLoader | None = None

    @property
    def loader(self) -> TrainLoader:
        """Built on first use and kept for the run: its workers persist across epochs."""
        if self._loader is None:
            self._loader = TrainLoader(self.bundle, self.cfg, self.device, self.world)
        return self._loader

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir()

    @property
    def files(self) -> RunDir:
        return RunDir(self.run_dir)

    @property
    def last_path(self) -> Path:
        return self.files.last

    # ----- start or continue -------------------------------------------------------------
    def start(self) -> tuple[int, EpochProgress]:
        if self.world.is_main:
            save_config(self.cfg, self.files.config)
            atomic_write_json(self.files.sparsity, self.sparsifier.report())
        self.log(self.sparsifier.format_report())
        return self._begin(0, EpochProgress(), resumed=False)

    def restore(self) -> tuple[int, EpochProgress]:
        """Continue from last.pt (or last.prev.pt), mid-epoch if it was saved there."""
        warn = partial(print, file=sys.stderr)
        state = broadcast_object(load_latest_checkpoint(self.last_path, warn) if self.world.is_main else None,
                                 self.world)
        check_world_size(state, self.world, self.last_path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        lost = restore_scaler(self.scaler, state["scaler"])
        self.sparsifier.load_state_dict(state["sparsifier"])
        mine = state.get("ranks", [{"rng": state["rng"]}])[self.world.rank]
        lost += set_rng_state(mine["rng"]) + self.sparsifier.restore_notes
        progress = EpochProgress(**mine.get("progress", {}))
        epoch, self.step, self.best_top1 = state["epoch"], state["step"], state["best_top1"]
        where = f"in epoch {epoch + 1} after {progress.batches} batches" if progress.batches else f"at epoch {epoch}"
        self.log(f"resumed {self.run_dir} {where} (step {self.step})")
        if lost:
            self.log(f"resumed on {self.device.type}, saved on {state.get('device', '?')}: not carried over: "
                     f"{'; '.join(lost)}; random draws from here differ from an uninterrupted run")
        return self._begin(epoch, progress, resumed=True)

    def _begin(self, epoch: int, progress: EpochProgress, resumed: bool) -> tuple[int, EpochProgress]:
        if self.world.is_main:
            self.metrics = MetricsLog.load(self.files.metrics, epoch)
            self.tracking = TrainTracking.open(self.cfg, self.run_dir, self.step if resumed else None,
                                               self.world.size, self.sparsifier)
        cfg, bundle = self.cfg, self.bundle
        processes = f", {self.world.size} processes x batch {cfg.train.batch_size}" if self.world.is_distributed else ""
        self.log(f"training {cfg.model.name} ({cfg.sparse.method}) on {cfg.data.dataset}: {len(bundle.train)} "
                 f"train / {len(bundle.test)} test samples, {len(bundle.classes)} classes, {self.epochs} "
                 f"epochs on {self.device}{processes}")
        return epoch, progress

    # ----- the loop ----------------------------------------------------------------------
    def run(self, start_epoch: int, progress: EpochProgress) -> None:
        """Train the remaining epochs; SIGINT/SIGTERM end it at the next step boundary."""
        with StopSignals() as stop:
            for epoch in range(start_epoch, self.epochs):
                started = time.time()
                self.train_epoch(epoch, progress, stop)
                self.end_epoch(epoch, progress, started)
                progress = EpochProgress()

    def train_epoch(self, epoch: int, progress: EpochProgress, stop: StopSignals) -> None:
        cfg, world, device = self.cfg, self.world, self.device
        every = cfg.train.checkpoint_every_steps
        self.model.train()
        loader = self.loader.epoch(epoch, skip_batches=progress.batches)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                   disable=None if world.is_main else True,
                   initial=progress.batches, total=progress.batches + len(loader))
        # loss and hit sums stay on the device, in the order they were added, and are read back
        # (a sync) only every SYNC_EVERY batches, before a checkpoint and at the epoch's end
        sums = torch.tensor([progress.loss_sum, progress.correct], dtype=torch.float64, device=device)
        for clips, labels, _, bad in bar:
            # one collective per step under DDP: ranks stop, or skip an empty batch, together
            signum, missing = max_across_ranks([stop.received, clips is None], world, device)
            if signum:
                self.interrupt(signum, epoch, read_sums(progress, sums))
            progress.batches += 1
            progress.skipped += bad
            if missing:  # a batch of undecodable videos, here or on another rank
                continue
            self.train_step(clips.to(device, non_blocking=True), labels.to(device, non_blocking=True), progress, sums)
            if progress.batches % SYNC_EVERY == 0:
                read_sums(progress, sums)
                bar.set_postfix(loss=f"{progress.loss_sum / progress.seen:.3f}",
                                acc=f"{progress.correct / progress.seen:.3f}")
            if every and self.step % every == 0:
                self.save_last(epoch, read_sums(progress, sums))
        read_sums(progress, sums)
        signum = max_across_ranks([stop.received], world, device)[0]
        if signum:  # before the epoch-end evaluation, which may be long
            self.interrupt(signum, epoch, progress)

    def train_step(self, clips: torch.Tensor, labels: torch.Tensor, progress: EpochProgress,
                   sums: torch.Tensor) -> None:
        optimizer, scaler, sparsifier = self.optimizer, self.scaler, self.sparsifier
        with torch.autocast(self.device.type, enabled=scaler.is_enabled()):
            logits = self.net(clips)
            loss = self.criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        sparsifier.before_step(self.step)  # checks masks identical across ranks after an update
        if self.cfg.optim.grad_clip > 0:  # after masking: the norm of the gradients that update weights
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        sparsifier.after_step(self.step)
        lr = optimizer.param_groups[0]["lr"]  # the rate this step used
        self.scheduler.step()
        self.step += 1
        hits = (logits.argmax(-1) == labels).sum()
        sums += torch.stack((loss.detach().double() * labels.numel(), hits.double()))  # no sync
        progress.seen += labels.numel()
        self.tracking.after_step(self.step, loss, labels.numel(), lr, sparsifier)

    def end_epoch(self, epoch: int, progress: EpochProgress, started: float) -> None:
        """Metrics, evaluation, best.pt and last.pt of a finished epoch."""
        cfg, world = self.cfg, self.world
        row = epoch_row(epoch, progress, world, self.device)
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        improved = False
        # The model this epoch trained is evaluated (and saved as best.pt) before the
        # sparsifier's epoch end, which may prune and rewind it (an LTH round's end).
        if (epoch + 1) % cfg.train.eval_every == 0 or epoch + 1 == self.epochs:
            broadcast_buffers(self.model, world)
            acc = evaluate(self.model, self.bundle.test, self.bundle.classes, self.device,
                           cfg.train.eval_batch_size, cfg.data.workers, progress=world.is_main, desc="test")
            row.update(test_top1=acc.top1, test_top5=acc.top5)
            row["skipped"] += acc.skipped
            # best.pt only from the final topology (GMP/GraNet/LTH/MEST pass through denser stages)
            improved = acc.top1 > self.best_top1 and self.sparsifier.at_target_density
            self.best_top1 = acc.top1 if improved else self.best_top1
        if improved:  # every rank agrees (same accuracy), so the collective inside is safe
            best = self.checkpoint(epoch + 1, EpochProgress())
            if world.is_main:
                save_checkpoint(self.files.best, best)
        row.update(self.sparsifier.on_epoch_end(epoch))
        state = self.checkpoint(epoch + 1, EpochProgress())
        row["time_s"] = time.time() - started
        if world.is_main:
            self.metrics.append(row)  # before last.pt: a run is complete once last.pt says so
            self.tracking.epoch(self.step, row)
            self.tracking.commit(self.step)
            save_checkpoint(self.last_path, state, keep_previous=True)
        self.log(_epoch_line(row))

    # ----- checkpoints -------------------------------------------------------------------
    def checkpoint(self, epoch: int, progress: EpochProgress) -> dict[str, Any]:
        """Everything a resume needs. Collective: RNG and epoch progress are the only per-rank
        state, gathered into ``ranks``; the rest is identical on every rank."""
        ranks = gather_objects({"rng": rng_state(), "progress": asdict(progress)}, self.world)
        return {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "sparsifier": self.sparsifier.state_dict(), "rng": ranks[0]["rng"],
            "epoch": epoch, "batch": progress.batches, "step": self.step, "best_top1": self.best_top1,
            "world_size": self.world.size, "ranks": ranks, "config": self.cfg.to_dict(), "device": self.device.type,
            "classes": self.bundle.classes,
        }

    def save_last(self, epoch: int, progress: EpochProgress) -> None:
        state = self.checkpoint(epoch, progress)
        if self.world.is_main:
            self.tracking.commit(self.step)
            save_checkpoint(self.last_path, state, keep_previous=True)

    def interrupt(self, signum: int, epoch: int, progress: EpochProgress) -> NoReturn:
        """Every rank comes here at the same step (the signal number is agreed on collectively)."""
        self.save_last(epoch, progress)
        barrier(self.world)  # no rank exits (and makes torchrun kill the others) before rank 0 saved
        raise TrainingInterrupted(signum, epoch + 1, self.step)

    def result(self) -> TrainResult:
        skipped = sum(int(r.get("skipped") or 0) for r in self.metrics.rows)
        if skipped and self.world.is_main:
            print(f"warning: {skipped} undecodable videos were skipped (see 'skipped' in metrics.csv; "
                  "'vidsparse data check --data-root ROOT' lists them and why)", file=sys.stderr)
        return TrainResult(self.run_dir, self.best_top1, self.metrics.rows)


def build_job(cfg: RunConfig, resume: bool, log: Callable[[str], None],
              prepare: Callable[[RunConfig], None] | None, world: World, device: torch.device) -> TrainingJob:
    """Data, model, optimizer, schedule and sparsifier, built alike on every rank."""
    run_dir = cfg.run_dir()
    problem = broadcast_object(run_dir_problem(run_dir, resume) if world.is_main else None, world)
    if problem:
        raise UserError(problem)
    if world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            remove_partial_writes(run_dir)

    seed_everything(cfg.train.seed)
    entry = get_model_entry(cfg.model.name)

    def build_data() -> DataBundle:
        if prepare is not None:
            prepare(cfg)
        return build_datasets(cfg, entry.input.mean, entry.input.std)

    bundle = in_turns(world, build_data)
    model = model_from_config(cfg.model, len(bundle.classes)).to(device)
    if cfg.train.deterministic and device.type == "cuda":  # CPU kernels are deterministic already
        make_deterministic_on_cuda(model, log)
    if cfg.train.channels_last and device.type == "cuda":
        channels_last(model)
    if cfg.model.pretrained and not resume:  # before masks are chosen: magnitude methods see these weights

        load_pretrained(model, cfg.model.pretrained, log=log)
    optimizer = make_optimizer(model, cfg.optim)
    per_epoch = steps_per_epoch(per_rank_items(len(bundle.train), world), cfg.train.batch_size)
    epochs, cycle_epochs = training_epochs(cfg.sparse, cfg.train.epochs)
    total_steps = per_epoch * epochs
    scheduler = make_scheduler(optimizer, cfg.optim, total_steps, per_epoch, per_epoch * cycle_epochs)
    scaler = setup.make_scaler(device, cfg.train.amp)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.optim.label_smoothing)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # Unsharded on every rank: data-driven masks (SNIP) must come out the same everywhere.
        for clips, labels, _, _ in train_loader(bundle, cfg, -1, device):
            if clips is not None:
                yield clips.to(device), labels.to(device)

    example = next(batches(), None)
    if example is None:
        raise UserError("no decodable training video: check the dataset with 'vidsparse data check'")
    cfg.sparse.seed = cfg.sparse.seed or cfg.train.seed
    # DDP first: its constructor copies rank 0's weights to every rank, so the masks are
    # drawn from the same weights everywhere (the sparsifier checks they came out identical).
    net = data_parallel(model, world, device)
    sparsifier = build_sparsifier(
        cfg.sparse, model, optimizer,
        SparseContext(total_steps=total_steps, steps_per_epoch=per_epoch, epochs=epochs,
                      example_input=example[0][:1], loss_fn=criterion, batches=batches,
                      run_dir=run_dir, log=log),
    )
    if world.is_distributed:
        # Weights and masks are drawn above, alike on every rank; from here on each rank draws
        # its own dropout / drop-path masks, as one process would for its larger batch.
        seed_everything(cfg.train.seed * 1_000 + world.rank)
    return TrainingJob(cfg, world, device, log, bundle, model, net, optimizer,
                       scheduler, scaler, criterion, sparsifier, epochs)


def run_dir_problem(run_dir: Path, resume: bool) -> str | None:
    files = RunDir(run_dir)
    if resume and not files.has_last():
        return f"--resume: no checkpoint {files.last}; start the run without --resume"
    if not resume and files.metrics.is_file():
        return f"{run_dir} already holds a run; pass --resume to continue it or --out NEW_DIR"
    return None


def epoch_row(epoch: int, progress: EpochProgress, world: World, device: torch.device) -> dict[str, Any]:
    """The epoch's training columns of metrics.csv, summed over ranks."""
    loss_sum, correct, seen, skipped = sum_across_ranks(
        [progress.loss_sum, progress.correct, progress.seen, progress.skipped], world, device)
    return {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
            "skipped": int(skipped)}


def data_parallel(model: nn.Module, world: World, device: torch.device) -> nn.Module:
    """DDP around ``model`` under torchrun; the sparsifier keeps working on ``model`` itself and
    reads gradients after backward, when DDP has already averaged them."""
    if not world.is_distributed:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def check_world_size(state: dict[str, Any], world: World, path: Path) -> None:
    """Per-process batch size and data order depend on the number of processes."""
    saved = int(state.get("world_size", 1))
    if saved != world.size:
        raise UserError(f"{path} was written by a job of {saved} process(es), this one has {world.size}; "
                        f"resume with the same number (torchrun --nproc_per_node x --nnodes)")


def _epoch_line(row: dict[str, Any]) -> str:
    parts = [f"epoch {row['epoch']}", f"loss {row['train_loss']:.4f}", f"train acc {row['train_acc']:.3f}"]
    if "test_top1" in row:
        parts.append(f"test top1 {row['test_top1']:.3f} top5 {row['test_top5']:.3f}")
    if "density" in row:
        parts.append(f"density {row['density']:.3f}")
    parts.append(f"{row['time_s']:.1f}s")
    return " | ".join(parts)
