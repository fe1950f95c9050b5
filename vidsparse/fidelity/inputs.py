"""Real inputs for the comparisons: scikit-image's photographs and clips filmed over them.

No real video ships with our dependencies, so a clip is a 240x320 window moving across a
large photograph (a slow diagonal pan, as a hand-held camera films a still scene): every
frame is real image content, and consecutive frames differ as footage does.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import skimage.data
import torch
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee")
CLIP_SOURCES = ("rocket", "coffee")


@cache
def photo(name: str, size: int) -> np.ndarray:
    """The photograph ``name``, centre-cropped square and resized to ``size`` px: H x W x 3 uint8."""
    image = getattr(skimage.data, name)()[..., :3]
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))


@cache
def panning_clip(name: str = "rocket", frames: int = 16, height: int = 240, width: int = 320,
                 step: int = 4) -> torch.Tensor:
    """``frames`` windows of height x width moving ``step`` px right and down per frame: uint8 [T, 3, H, W]."""
    image = getattr(skimage.data, name)()[..., :3]
    need_h, need_w = height + step * frames, width + step * frames
    scale = max(need_h / image.shape[0], need_w / image.shape[1], 1.0)
    if scale > 1:
        image = np.asarray(Image.fromarray(image).resize(
            (int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale))), Image.Resampling.LANCZOS))
    windows = [image[t * step : t * step + height, t * step : t * step + width] for t in range(frames)]
    return torch.from_numpy(np.stack(windows)).permute(0, 3, 1, 2).contiguous()


def index_clip(frames: int, size: int = 8) -> torch.Tensor:
    """A clip whose frame t is filled with the value t: an index plan reads back from its output."""
    values = torch.arange(frames, dtype=torch.uint8).view(frames, 1, 1, 1)
    return values.expand(frames, 3, size, size).contiguous()


def plan_of(output: torch.Tensor) -> list[int]:
    """Which input frame each output frame of an :func:`index_clip` came from."""
    return [int(v) for v in output[:, 0, 0, 0]]


def as_float(image: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> [1, 3, H, W] in [0, 1], the corruption functions' input."""
    return torch.tensor(image).permute(2, 0, 1).float()[None] / 255


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [0, 1] -> N x H x W x 3 uint8, rounded as ``corruptions.apply`` stores results."""
    return (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
