"""Clip sampling in frames: ``clip_len`` frames ``stride`` apart, as in mmaction2/pytorchvideo.

Videos shorter than a clip's span are looped (frame indices wrap around), which keeps real
motion in the clip instead of freezing on the last frame (the documented policy in
docs/input-policies.md; a one-frame video gives a still clip). Indices count the frames stored
in the file, so variable-frame-rate videos are sampled by frame, not by time.
"""

from __future__ import annotations

import torch


def clip_span(clip_len: int, stride: int) -> int:
    """Number of source frames a clip covers."""
    return (clip_len - 1) * stride + 1


def clip_indices(num_frames: int, start: int, clip_len: int, stride: int) -> list[int]:
    if num_frames <= 0:
        raise ValueError("video has no frames")
    return [(start + i * stride) % num_frames for i in range(clip_len)]


def random_clip(num_frames: int, clip_len: int, stride: int, generator: torch.Generator) -> list[int]:
    """Training: a clip starting uniformly at random among all positions that fit."""
    last_start = max(0, num_frames - clip_span(clip_len, stride))
    start = int(torch.randint(0, last_start + 1, (), generator=generator))
    return clip_indices(num_frames, start, clip_len, stride)


def uniform_clips(num_frames: int, clip_len: int, stride: int, num_clips: int) -> list[list[int]]:
    """Testing: ``num_clips`` clips with evenly spaced starts (one clip = the centred clip)."""
    last_start = max(0, num_frames - clip_span(clip_len, stride))
    if num_clips == 1:
        starts = [last_start // 2]
    else:
        starts = [round(k * last_start / (num_clips - 1)) for k in range(num_clips)]
    return [clip_indices(num_frames, s, clip_len, stride) for s in starts]
