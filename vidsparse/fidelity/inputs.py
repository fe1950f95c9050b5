"""Real inputs for the comparisons: scikit-image's photographs, square at a preset's size.

Clips come from ``corruptions.reference_plans.real_clip``: no real video ships with our
dependencies, so a clip is a camera panning and zooming over those photographs, with a cut.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import skimage.data
import torch
from PIL import Image

PHOTOS = ("astronaut", "chelsea", "coffee")


@cache
def photo(name: str, size: int) -> np.ndarray:
    """The photograph ``name``, centre-cropped square and resized to ``size`` px: H x W x 3 uint8."""
    image = getattr(skimage.data, name)()[..., :3]
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(image[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))


def as_float(image: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> [1, 3, H, W] in [0, 1], the corruption functions' input."""
    return torch.tensor(image).permute(2, 0, 1).float()[None] / 255
