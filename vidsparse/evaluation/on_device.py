"""Corrupting on the model's device: CPU workers decode, the device corrupts a batch of samples per cell.

With ``corrupt_on="device"`` the on-the-fly engine (``evaluation.engine``) no longer makes every
variant in its CPU workers (one thread each, while a GPU waits). A worker decodes a sample once and
ships its uint8 frames (just the frames the test views read, when every device cell can make
those alone); the main process moves them to the device once, and for each cell corrupts the
whole batch there with ``corruptions.apply_batch`` (per-sample seeds: the same frames as
``corruptions.apply`` per sample), turns them into test views there, and predicts. Encoders
(codecs, JPEG: ``corruptions.runs_on_device`` is False) stay in the workers, per sample.
On the CPU the device path gives exactly the worker path's numbers; ``auto`` takes it on CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

import corruptions
from vidsparse.errors import UserError, one_line
from vidsparse.evaluation.cells import Cell, CorruptionOptions, unchanged
from vidsparse.evaluation.sources import FramePlan, Sample, Source

CORRUPT_ON = ("auto", "device", "workers")


def resolve_corrupt_on(setting: str, device: torch.device) -> str:
    """``auto`` -> ``device`` on CUDA (the model's GPU corrupts), else ``workers`` (today's CPU path)."""
    if setting not in CORRUPT_ON:
        raise UserError(f"--corrupt-on must be one of {', '.join(CORRUPT_ON)}, got {setting!r}")
    if setting == "auto":
        return "device" if torch.device(device).type == "cuda" else "workers"
    return setting


def device_cells(cells: Sequence[Cell], options: CorruptionOptions) -> frozenset[int]:
    """Positions of the cells made on the device: clean and every corruption that is not an encoder."""
    return frozenset(c for c, cell in enumerate(cells)
                     if cell.is_clean or corruptions.runs_on_device(cell.corruption, options.preset, options.variant))


def _frames_alone(cell: Cell, options: CorruptionOptions) -> bool:
    """Whether the cell's variant can be made from the views' frames alone (clean always can)."""
    return cell.is_clean or corruptions.supports_frames(cell.corruption, options.preset, options.variant)


@dataclass
class RawSample:
    """What a worker ships for the device cells: the decoded frames, whole or only the views' frames."""

    sample: Sample
    plan: FramePlan | None
    whole: bool  # sample.frames is the whole video (else: the frames plan.frames, in order)


def ship(sample: Sample, plan: FramePlan | None, cells: Sequence[Cell], options: CorruptionOptions) -> RawSample:
    """Leave out the frames no device cell reads (a temporal corruption needs the whole video)."""
    if plan is None or not all(_frames_alone(cell, options) for cell in cells):
        return RawSample(sample, plan, whole=True)
    part = sample.frames[plan.frames].contiguous()
    return RawSample(Sample(part, sample.fps, sample.sample_id), plan, whole=False)


@dataclass
class DeviceBatch:
    """One cell's model input for a batch of samples, and the samples whose variant failed."""

    cell: int
    views: torch.Tensor | None  # [samples, views, C, T, H, W] on the device
    indices: list[int]  # dataset index of each row of views
    failed: list[tuple[int, str]]  # (dataset index, why)
    noops: torch.Tensor | None  # bool per row, on the device: the corruption left the frames unchanged


def device_batches(source: Source, cells: Sequence[Cell], on_device: Sequence[int], options: CorruptionOptions,
                   raws: Sequence[tuple[int, RawSample]], device: torch.device) -> Iterator[DeviceBatch]:
    """For each device cell, the batch's variants made and viewed on ``device``."""
    moved = [(index, raw, raw.sample.frames.to(device, non_blocking=True)) for index, raw in raws]
    for c in sorted(on_device):
        cell = cells[c]
        alone = _frames_alone(cell, options)
        inputs = [(index, raw, _input(frames, raw, alone)) for index, raw, frames in moved]
        made = _variants(cell, options, inputs)
        views, indices, failed, noops = [], [], [], []
        for (index, raw, frames), result in zip(inputs, made):
            if isinstance(result, str):
                failed.append((index, result))
                continue
            plan = raw.plan if alone else None
            try:
                views.append(source.views(result, plan) if cell.is_clean else source.corrupted_views(result, plan))
            except Exception as err:  # e.g. a reference variant left too few frames
                failed.append((index, one_line(err)))
            else:
                indices.append(index)
                noops.append(unchanged(frames, result) if not cell.is_clean else torch.zeros((), dtype=torch.bool,
                                                                                           device=frames.device))
        yield DeviceBatch(c, torch.stack(views) if views else None, indices, failed,
                          torch.stack(noops) if noops else None)  # read once per batch, not per sample


def _input(frames: torch.Tensor, raw: RawSample, alone: bool) -> torch.Tensor:
    """The frames one cell corrupts: the views' frames where that suffices, else the whole video."""
    if alone and raw.whole and raw.plan is not None:
        return frames[raw.plan.frames]
    return frames


def _variants(cell: Cell, options: CorruptionOptions,
              inputs: list[tuple[int, RawSample, torch.Tensor]]) -> list[torch.Tensor | str]:
    """The corrupted frames of every sample (or why it failed): the batch at once, else one by one."""
    if cell.is_clean:
        return [frames for _, _, frames in inputs]
    alone = _frames_alone(cell, options)

    def run(part: list[tuple[int, RawSample, torch.Tensor]]) -> list[torch.Tensor]:
        return corruptions.apply_batch(
            [frames for _, _, frames in part], cell.corruption, cell.severity,
            video_ids=[raw.sample.sample_id for _, raw, _ in part], seed=options.seed, preset=options.preset,
            variant=options.variant, coherent=options.coherent, fps=[raw.sample.fps for _, raw, _ in part],
            frame_ids=[raw.plan.frames for _, raw, _ in part] if alone and part[0][1].plan is not None else None)

    try:
        return list(run(inputs))
    except Exception:  # some sample cannot take it (e.g. too small): find which, keep the others
        return [_one(run, item) for item in inputs]


def _one(run: Callable[[list], list[torch.Tensor]], item: tuple) -> torch.Tensor | str:
    try:
        return run([item])[0]
    except Exception as err:
        return one_line(err)
