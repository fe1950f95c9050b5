"""Corruption evaluation: top-1/top-5 per (corruption, severity), on the fly or from a generated set.

On the fly, every test sample is decoded once (the whole video: temporal corruptions act on
the full video before clips are sampled) and every requested (corruption, severity) variant is
made from those frames in memory and batched through the model; nothing is written to disk.
Where a corruption allows it (``corruptions.supports_frames``: noise, blur, weather, digital,
camera motion, and MPEG-2/4 up to the last frame read), only the frames the test views read
are corrupted. Each variant is seeded from (seed, video id, corruption, severity) by
``corruptions.apply``, exactly as ``vidsparse corrupt`` seeds the copies it writes (per-frame
draws are seeded per frame), so both modes see the same corrupted frames. Predictions are kept
per sample and every finished sample is appended to a log, so an evaluation that is
interrupted, even killed, resumes where it stopped. Under DDP
each rank takes a strided share of the samples and the predictions are gathered.

Reading a generated set instead is ``vidsparse.evaluation.video.evaluate_generated``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

import corruptions
from vidsparse.core.distributed import World, broadcast_object, gather_objects, joined_world, shard_indices
from vidsparse.core.device import autocast
from vidsparse.errors import one_line
from vidsparse.evaluation.accuracy import Accuracy, AccuracyCounter, bare_model, predict_views
from vidsparse.evaluation.cells import Cell, CorruptionOptions, unchanged
from vidsparse.evaluation.on_device import RawSample, device_batches, device_cells, ship
from vidsparse.evaluation.partial import PartialLog, fingerprint
from vidsparse.evaluation.sources import FramePlan, Sample, Source

ON_DEVICE = -2  # _Item.cell of a sample shipped whole for the cells made on the model's device


@dataclass
class _Item:
    cell: int
    index: int
    views: torch.Tensor | None = None
    error: str = ""  # set when the sample (cell < 0) or this variant could not be made
    noop: bool = False  # the corruption left the frames the views read unchanged
    raw: RawSample | None = None  # cell == ON_DEVICE: the frames the device cells are made from


class _VariantStream(IterableDataset):
    """Yields every pending (cell, sample) pair; each sample is loaded once per pass."""

    def __init__(self, source: Source, cells: Sequence[Cell], options: CorruptionOptions, pending: list[int],
                 on_device: frozenset[int] = frozenset()):
        self.source, self.cells, self.options, self.pending = source, list(cells), options, pending
        self.on_device = on_device  # cells the main process makes on the model's device (evaluation.on_device)

    def variant_views(self, sample: Sample, cell: Cell, plan: FramePlan | None) -> torch.Tensor:
        """The model input of one variant; only the frames in ``plan`` are made where the corruption allows."""
        return self.variant(sample, cell, plan)[0]

    def variant(self, sample: Sample, cell: Cell, plan: FramePlan | None) -> tuple[torch.Tensor, bool]:
        """The model input of one variant, and whether the corruption left its frames unchanged.

        Only the frames in ``plan`` are made where the corruption allows (and compared with the
        clean ones); otherwise the whole corrupted video is compared with the clean video.
        """
        if cell.is_clean:
            return self.source.views(sample.frames), False
        opts = self.options
        if plan is None or not corruptions.supports_frames(cell.corruption, opts.preset, opts.variant):
            plan = None
        frames = corruptions.apply(sample.frames, cell.corruption, cell.severity, seed=opts.seed, preset=opts.preset,
                                   variant=opts.variant, coherent=opts.coherent, video_id=sample.sample_id,
                                   fps=sample.fps, frames=None if plan is None else plan.frames)
        clean = sample.frames if plan is None else sample.frames[plan.frames]
        return self.source.corrupted_views(frames, plan), bool(unchanged(clean, frames))

    def __iter__(self) -> Iterator[_Item]:
        worker = get_worker_info()
        mine = self.pending if worker is None else self.pending[worker.id :: worker.num_workers]
        for index in mine:
            try:
                sample = self.source.load(index)
                plan = self.source.plan(sample.frames.shape[0])  # which frames the views read
            except Exception as err:  # undecodable sample: skipped and counted for every cell
                yield _Item(-1, index, error=one_line(err))
                continue
            if self.on_device:
                yield _Item(ON_DEVICE, index, raw=ship(sample, plan, [self.cells[c] for c in self.on_device],
                                                       self.options))
            for c, cell in enumerate(self.cells):
                if c in self.on_device:
                    continue
                try:
                    views, noop = self.variant(sample, cell, plan)
                except Exception as err:  # one variant failed (e.g. frames too small for it)
                    yield _Item(c, index, error=one_line(err))
                else:
                    yield _Item(c, index, views, noop=noop)


def _collate(items: list[_Item]):
    good = [i for i in items if i.views is not None]
    views = torch.stack([i.views for i in good]) if good else None
    cells = torch.tensor([i.cell for i in good], dtype=torch.long)
    indices = torch.tensor([i.index for i in good], dtype=torch.long)
    noops = torch.tensor([i.noop for i in good], dtype=torch.bool)
    raws = [(i.index, i.raw) for i in items if i.raw is not None]
    return views, cells, indices, noops, [i for i in items if i.views is None and i.raw is None], raws


class PredictionStore:
    """Top-k predictions per (cell, sample), with what failed and why."""

    PENDING, PREDICTED, FAILED = 0, 1, 2

    def __init__(self, num_cells: int, num_samples: int, k: int) -> None:
        self.top = torch.full((num_cells, num_samples, k), -1, dtype=torch.int32)
        self.state = torch.zeros((num_cells, num_samples), dtype=torch.int8)
        self.noop = torch.zeros((num_cells, num_samples), dtype=torch.bool)  # variant == clean frames
        self.messages: dict[tuple[int, int], str] = {}  # (cell, sample) -> why it failed

    def put(self, cells: torch.Tensor, indices: torch.Tensor, top: torch.Tensor,
            noops: torch.Tensor | None = None) -> None:
        self.top[cells, indices] = top.to(torch.int32).cpu()
        self.state[cells, indices] = self.PREDICTED
        if noops is not None:
            self.noop[cells, indices] = noops.cpu()

    def fail(self, item: _Item) -> None:
        cells = range(self.state.shape[0]) if item.cell < 0 else [item.cell]
        for c in cells:
            self.state[c, item.index] = self.FAILED
            self.messages[(c, item.index)] = item.error

    @property
    def errors(self) -> dict[int, str]:
        """The first failure message per cell, in sample order."""
        first: dict[int, str] = {}
        for (c, _), message in sorted(self.messages.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            first.setdefault(c, message)
        return first

    def finished(self) -> torch.Tensor:
        """[samples] bool: every cell of the sample is predicted or failed."""
        return (self.state != self.PENDING).all(0)

    def rows(self, indices: Sequence[int]) -> list[dict]:
        """One JSON-ready row per sample (for the partial log)."""
        out = []
        for i in indices:
            row = {"i": int(i), "state": self.state[:, i].tolist(), "top": self.top[:, i].tolist()}
            if bool(self.noop[:, i].any()):
                row["noop"] = [int(c) for c in self.noop[:, i].nonzero().flatten().tolist()]
            errors = {str(c): self.messages[(c, i)] for c in range(self.state.shape[0]) if (c, i) in self.messages}
            out.append({**row, "errors": errors} if errors else row)
        return out

    def load_rows(self, rows: Sequence[dict]) -> int:
        """Take in rows of finished samples; malformed ones (wrong shape or index) are ignored."""
        cells, samples, k = self.top.shape
        taken = 0
        for row in rows:
            try:
                i = int(row["i"])
                top = torch.tensor(row["top"], dtype=torch.int32)
                state = torch.tensor(row["state"], dtype=torch.int8)
                errors = {int(c): str(m) for c, m in row.get("errors", {}).items()}
                noop = [int(c) for c in row.get("noop", []) if 0 <= int(c) < cells]
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if not 0 <= i < samples or top.shape != (cells, k) or state.shape != (cells,) or \
                    bool((state == self.PENDING).any()):
                continue
            self.top[:, i], self.state[:, i] = top, state
            self.noop[:, i] = False
            self.noop[noop, i] = True
            self.messages.update({(c, i): message for c, message in errors.items()})
            taken += 1
        return taken

    def part(self, indices: Sequence[int]) -> dict:
        """These samples' predictions, to send to another rank (see ``merge``)."""
        wanted = set(indices)
        index = torch.tensor(sorted(wanted), dtype=torch.long)
        return {"index": index, "top": self.top[:, index], "state": self.state[:, index],
                "noop": self.noop[:, index], "messages": {key: m for key, m in self.messages.items() if key[1] in wanted}}

    def merge(self, part: dict) -> None:
        index = part["index"]
        self.top[:, index], self.state[:, index] = part["top"], part["state"]
        self.noop[:, index] = part["noop"]
        self.messages.update(part["messages"])

    def noops(self, cell: int) -> int:
        """Predicted samples whose variant equals the clean frames (see ``cells.unchanged``)."""
        return int((self.noop[cell] & (self.state[cell] == self.PREDICTED)).sum())

    def accuracy(self, cell: int, labels: torch.Tensor, class_names: list[str]) -> Accuracy:
        counter = AccuracyCounter(len(class_names))
        predicted = self.state[cell] == self.PREDICTED
        counter.update_topk(self.top[cell][predicted], labels[predicted])
        counter.skipped = int((self.state[cell] == self.FAILED).sum())
        return counter.result(class_names)


@dataclass
class CellResults:
    accuracy: dict[Cell, Accuracy]
    errors: dict[Cell, str] = field(default_factory=dict)  # first failure message per cell
    resumed: int = 0  # samples taken from an interrupted earlier evaluation
    noops: dict[Cell, int] = field(default_factory=dict)  # samples the corruption left unchanged


@torch.no_grad()
def predict_cells(
    model: nn.Module,
    source: Source,
    cells: Sequence[Cell],
    options: CorruptionOptions,
    class_names: list[str],
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    partial_path: Path | None = None,
    partial_key: Any = None,
    save_every: float = 0.0,
    resume_from: Sequence[Path] = (),
    world: World | None = None,
    corrupt_on: str = "workers",
    shard: tuple[int, int] | None = None,
) -> CellResults:
    """Accuracy of every cell, each sample loaded once and all its variants made in memory.

    With ``partial_path``, every finished sample's predictions are appended to that file (at
    most every ``save_every`` seconds; 0 = after each batch); a later call with the same
    cells, options, samples and ``partial_key`` resumes from it and from the files in
    ``resume_from`` (other ranks' logs), which are merged into ``partial_path`` and removed.

    Under DDP (``world`` defaults to the joined process group) call it from every rank: rank
    0 decides what is already done, each rank predicts its strided share of the rest, and all
    ranks return the same results. Each rank appends to its own ``partial_path``.

    ``corrupt_on="device"`` makes clean and every non-encoder variant on ``device`` in batches
    (``evaluation.on_device``); ``"workers"`` makes every variant in the loader's workers.
    ``shard`` (I, N), outside DDP: an array task's share, every N-th sample of the whole set
    (not of what is pending, which differs between tasks that resume), logged to
    ``partial_path`` for a later call without ``shard`` to merge; the accuracies it returns
    cover only that share.
    """
    world = joined_world() if world is None else world
    model = bare_model(model)
    model.eval()
    cells = list(cells)
    k = min(5, len(class_names))
    store = PredictionStore(len(cells), len(source), k)
    key = fingerprint([dataclasses.astuple(c) for c in cells], dataclasses.asdict(options),
                      [source.sample_id(i) for i in range(len(source))], partial_key)
    log = PartialLog(partial_path, key) if partial_path else None
    resumed = 0
    if log is not None and world.is_main:
        resumed = _resume(store, log, resume_from)
    if world.is_distributed and log is not None:
        store, resumed = broadcast_object((store, resumed), world)
    if log is not None and not world.is_main:
        log.start([])
    done = store.finished()
    pending = [i for i in range(len(source)) if not bool(done[i])]
    if shard is not None:
        mine = [i for i in shard_indices(len(source), World(*shard)) if not bool(done[i])]
    else:
        mine = [pending[j] for j in shard_indices(len(pending), world)]
    on_device = device_cells(cells, options) if corrupt_on == "device" else frozenset()
    stream = _VariantStream(source, cells, options, mine, on_device)
    loader = DataLoader(stream, batch_size=batch_size, num_workers=workers, collate_fn=_collate,
                        pin_memory=device.type == "cuda")
    labels = torch.tensor([source.label(i) for i in range(len(source))], dtype=torch.long)
    logged, unlogged = done.clone(), set()
    last_save = time.monotonic()
    waiting: list = []  # samples shipped for the device cells, made once a batch of them is in

    def predict_on_device(raws: list) -> None:
        for made in device_batches(source, cells, on_device, options, raws, device):
            for index, error in made.failed:
                store.fail(_Item(made.cell, index, error=error))
            if made.views is not None:
                top = predict_views(model, made.views).topk(k, dim=-1).indices
                store.put(torch.full((len(made.indices),), made.cell, dtype=torch.long),
                          torch.tensor(made.indices, dtype=torch.long), top, made.noops)

    def save() -> None:
        finished = [i for i in sorted(unlogged) if not logged[i] and bool((store.state[:, i] != store.PENDING).all())]
        log.append(store.rows(finished))
        logged[finished] = True
        unlogged.difference_update(finished)

    bar = tqdm(total=len(mine) * len(cells), desc=f"{len(cells)} variants", unit="view-set", leave=False,
               disable=None if progress and world.is_main else True)
    try:
        for views, cell_idx, indices, noops, failed, raws in loader:
            for item in failed:
                store.fail(item)
            if views is not None:
                with autocast(device):
                    probs = predict_views(model, views.to(device, non_blocking=True))
                store.put(cell_idx, indices, probs.topk(k, dim=-1).indices, noops)
            waiting.extend(raws)
            while len(waiting) >= batch_size:
                predict_on_device(waiting[:batch_size])
                del waiting[:batch_size]
            bar.update(len(indices) + sum(len(cells) if f.cell < 0 else 1 for f in failed) + len(raws) * len(on_device))
            if log is not None:
                unlogged.update(indices.tolist(), (f.index for f in failed), (index for index, _ in raws))
                if time.monotonic() - last_save >= save_every:
                    save()
                    last_save = time.monotonic()
        if waiting:
            predict_on_device(waiting)
    finally:
        bar.close()
        if log is not None:
            save()
            log.close()
    if world.is_distributed:
        for part in gather_objects(store.part(mine), world):
            store.merge(part)
    return CellResults({cell: store.accuracy(c, labels, class_names) for c, cell in enumerate(cells)},
                       {cells[c]: msg for c, msg in store.errors.items()}, resumed=resumed,
                       noops={cell: store.noops(c) for c, cell in enumerate(cells) if not cell.is_clean})


def _resume(store: PredictionStore, log: PartialLog, others: Sequence[Path]) -> int:
    """Load every matching log into ``store``, rewrite ours with all of it, remove the others.

    Returns the number of samples taken over.
    """
    for path in [log.path, *others]:
        store.load_rows(PartialLog.read(path, log.fingerprint))
    finished = [i for i, f in enumerate(store.finished().tolist()) if f]
    log.start(store.rows(finished))
    for path in others:
        if Path(path) != log.path:
            Path(path).unlink(missing_ok=True)
    return len(finished)
