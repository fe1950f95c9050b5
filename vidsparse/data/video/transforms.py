"""Clip transforms in plain torch (pytorchvideo.transforms does not import on torchvision >= 0.28).

Clips arrive as uint8 ``[T, H, W, C]`` and leave as normalised float ``[C, T, H, W]``; every
random choice takes an explicit generator so a run is reproducible regardless of workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


FLOAT_CHUNK_ELEMENTS = 1 << 24  # frames converted to float at once: at most 64 MB before resizing


def _to_float_resized(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    video = frames.permute(0, 3, 1, 2).float().div_(255)
    if size != tuple(video.shape[-2:]):
        video = F.interpolate(video, size=size, mode="bilinear", align_corners=False, antialias=True)
    return video


@dataclass(frozen=True)
class ClipTransform:
    resize: int  # short side after resizing
    crop: int  # square crop size
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    hflip: bool = False

    def _resize(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 [T, H, W, C] -> float [T, C, H', W'] in [0, 1] with the short side = resize.

        Large clips are converted a few frames at a time: the float copy of a full-size clip is
        4x its uint8 size, and resizing frame by frame gives bit-identical results.
        """
        h, w = frames.shape[1:3]
        scale = self.resize / min(h, w)
        size = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        step = max(1, FLOAT_CHUNK_ELEMENTS // frames[0].numel())
        if step >= frames.shape[0]:
            return _to_float_resized(frames, size)
        return torch.cat([_to_float_resized(frames[i : i + step], size) for i in range(0, frames.shape[0], step)])

    def _finish(self, video: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=video.dtype, device=video.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=video.dtype, device=video.device).view(1, 3, 1, 1)
        return ((video - mean) / std).permute(1, 0, 2, 3).contiguous()

    def train(self, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        video = self._resize(frames)
        h, w = video.shape[-2:]
        top = int(torch.randint(0, h - self.crop + 1, (), generator=generator))
        left = int(torch.randint(0, w - self.crop + 1, (), generator=generator))
        video = video[..., top : top + self.crop, left : left + self.crop]
        if self.hflip and bool(torch.rand((), generator=generator) < 0.5):
            video = video.flip(-1)
        return self._finish(video)

    def test(self, frames: torch.Tensor, num_crops: int = 1) -> torch.Tensor:
        """``num_crops`` crops spread along the long side (1 = centre, 3 = the usual 3-crop)."""
        video = self._resize(frames)
        h, w = video.shape[-2:]
        views = []
        for k in range(num_crops):
            frac = 0.5 if num_crops == 1 else k / (num_crops - 1)
            top = round((h - self.crop) * (frac if h > w else 0.5))
            left = round((w - self.crop) * (frac if w >= h else 0.5))
            views.append(self._finish(video[..., top : top + self.crop, left : left + self.crop]))
        return torch.stack(views)
