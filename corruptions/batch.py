"""Batched application: one corruption at one severity over many videos, each with its own seed.

``apply_batch(videos, name, severity, video_ids=[...], seed=0)`` equals
``torch.stack([apply(v, name, severity, video_id=i, seed=0) for v, i in zip(videos, video_ids)])``
bit for bit (on the same device): every sample and frame draws from the generator it would get
alone (``corruptions.api`` seeds them from (seed, video id, corruption, severity) and the frame
index). What the batch shares is the work around the draws: the batch is moved to float and back
to uint8 in one pass each (functions with a uint8 kernel skip both, as ``apply`` does), and a
temporal reordering is one gather over the whole batch. Every
tensor and generator is made on the videos' device, so on a GPU an evaluation corrupts a batch
where its model runs instead of in CPU workers.

Videos come as uint8 ``[B, T, C, H, W]`` (a tensor, result a tensor) or as a sequence of
``[T, C, H, W]`` clips of any lengths and sizes (result a list), for whole decoded videos.
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import torch

from corruptions import api, registry
from corruptions.errors import CorruptionError

Videos = torch.Tensor | Sequence[torch.Tensor]


def _clips(videos: Videos) -> list[torch.Tensor]:
    if isinstance(videos, torch.Tensor):
        if videos.ndim != 5:
            raise CorruptionError(f"expected a batch [B, T, C, H, W], got shape {tuple(videos.shape)}; "
                                  "one video goes to corruptions.apply")
        clips = list(videos.unbind(0))
    else:
        clips = list(videos)
    if not clips:
        raise CorruptionError("empty batch: give at least one video")
    checked = [api._check_video(c) for c in clips]
    if any(c.ndim != 4 for c in clips):
        raise CorruptionError("every video of a batch must be [T, C, H, W]")
    devices = {c.device for c in checked}
    if len(devices) > 1:
        raise CorruptionError(f"the videos of a batch must share one device, got {sorted(map(str, devices))}")
    return checked


def _per_sample(value: Any, count: int, what: str) -> list[Any]:
    """``value`` for every sample: a sequence of ``count`` values, or one value shared by all."""
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise CorruptionError(f"{what} has {len(value)} entries for a batch of {count} videos")
        return list(value)
    return [value] * count


def apply_batch(
    videos: Videos,
    name: str,
    severity: int,
    *,
    video_ids: Sequence[str],
    seed: int | Sequence[int] = 0,
    preset: str | None = None,
    variant: str = "fixed",
    coherent: bool | None = None,
    fps: float | Sequence[float | None] | None = None,
    frame_ids: Sequence[Sequence[int]] | None = None,
) -> Videos:
    """Corrupt every video of a batch as ``corruptions.apply`` corrupts it alone.

    video_ids / seed: per sample (``seed`` may be one int for all), as ``apply``'s.
    fps: the source frame rate, one for all or per sample.
    frame_ids: per sample, which frames of its source video the given clip holds (sorted,
        unique): ``apply_batch([v[f]], ..., frame_ids=[f])[0]`` equals ``apply(v, ..., frames=f)``.
        Only for corruptions whose frames can be made alone (``corruptions.supports_frames``);
        it lets a caller move just the frames it reads to the device.
    Encoders (codecs, JPEG; ``corruptions.runs_on_device`` is False) still run on the CPU, one
    video at a time: an evaluation keeps them in its CPU workers.
    """
    clips = _clips(videos)
    count = len(clips)
    if isinstance(video_ids, str) or len(video_ids) != count:
        raise CorruptionError(f"video_ids must list one id per video ({count}), got {video_ids!r}")
    ids = [str(i) for i in video_ids]
    seeds = [int(s) for s in _per_sample(seed, count, "seed")]
    rates = _per_sample(fps, count, "fps")
    wanted = [None] * count if frame_ids is None else _per_sample(list(frame_ids), count, "frame_ids")
    calls = {size: api.resolve_call(name, severity, preset, variant, coherent, size) for size in _by_size(clips)}
    frame_lists = [_frame_list(c, f, calls[tuple(c.shape[-2:])], name) for c, f in zip(clips, wanted)]
    clip_seeds = [api.derive_seed(s, i, name, calls[tuple(c.shape[-2:])].severity)
                  for s, i, c in zip(seeds, ids, clips)]
    first = next(iter(calls.values()))
    if first.scope != registry.FRAME and first.function.index_plan is not None:
        out = _reorder(clips, first, clip_seeds)
    else:
        out = _compute(clips, calls, frame_lists, clip_seeds, rates)
    return torch.stack(out) if isinstance(videos, torch.Tensor) else out


def _frame_list(clip: torch.Tensor, frame_ids: Sequence[int] | None, call: api.Call, name: str) -> list[int]:
    if frame_ids is None:
        return list(range(clip.shape[0]))
    if call.scope not in (registry.FRAME, registry.SHARED):
        raise CorruptionError(f"{name} needs the whole clip (its frames depend on other frames); "
                              "give whole videos without frame_ids=")
    frames = [int(f) for f in frame_ids]
    if len(frames) != clip.shape[0] or sorted(set(frames)) != frames or min(frames) < 0:
        raise CorruptionError(f"frame_ids must list, sorted and unique, the {clip.shape[0]} frames the clip holds, "
                              f"got {frames!r}")
    return frames


def _reorder(clips: list[torch.Tensor], call: api.Call, clip_seeds: list[int]) -> list[torch.Tensor]:
    """Temporal reorderings: each video's index plan, then one gather per frame size over the batch."""
    device = clips[0].device
    plans = [call.function.index_plan(c.shape[0], call.param, api.seeded(device, s)).to(device)
             for c, s in zip(clips, clip_seeds)]
    out: list[torch.Tensor | None] = [None] * len(clips)
    for members in _by_size(clips).values():
        starts = list(itertools.accumulate([clips[b].shape[0] for b in members], initial=0))
        index = torch.cat([plans[b] + start for b, start in zip(members, starts)])
        frames = torch.cat([clips[b] for b in members])[index]
        for b, result in zip(members, frames.split([len(plans[b]) for b in members])):
            out[b] = result
    return out  # type: ignore[return-value]


def _by_size(clips: list[torch.Tensor]) -> dict[tuple[int, int], list[int]]:
    """Batch positions grouped by frame size (H, W): each group is converted or gathered at once."""
    groups: dict[tuple[int, int], list[int]] = {}
    for b, clip in enumerate(clips):
        groups.setdefault((int(clip.shape[-2]), int(clip.shape[-1])), []).append(b)
    return groups


def _compute(clips: list[torch.Tensor], calls: dict[tuple, api.Call], frame_lists: list[list[int]],
             clip_seeds: list[int], rates: list[float | None]) -> list[torch.Tensor]:
    """Pixel corruptions: one float conversion per frame size, the function per video (its draws), one uint8 pass.

    A function with a uint8 kernel (noise) runs it on each video's uint8 frames, as ``apply`` does.
    """
    out: list[torch.Tensor | None] = [None] * len(clips)
    for size, members in _by_size(clips).items():
        call = calls[size]
        kernel = call.function.uint8_fn
        if kernel is not None:
            parts = [clips[b] for b in members]
        else:
            parts = torch.cat([clips[b] for b in members]).float().div_(255).split([clips[b].shape[0] for b in members])
        results = []
        for b, part in zip(members, parts):
            kwargs = {"fps": float(rates[b]) if rates[b] else api.DEFAULT_FPS} if call.function.accepts_fps else {}
            results.append(api.corrupt_frames(kernel or call.function.fn, part, call.param, call.scope,
                                              frame_lists[b], call.coherent, kwargs, clip_seeds[b], None))
        merged = torch.cat(results)
        lengths = [r.shape[0] for r in results]
        for b, result in zip(members, (merged if kernel is not None else api.to_uint8(merged)).split(lengths)):
            out[b] = result
    return out  # type: ignore[return-value]
