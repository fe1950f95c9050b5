"""Resampling shared by the frame-level corruptions: zooms, PIL-style box resizes, warps.

Each helper names the reference operation it reproduces, so the corruption modules read like
the published definitions. Warps go through grid_sample, whose two conventions match the two
reference border rules: align_corners=True reflects about the edge pixel centres (OpenCV's
reflect-101), align_corners=False about the image border (scipy's 'reflect').
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from corruptions.errors import CorruptionError


# Glass and elastic warps work on neighbourhoods and anchor triangles that stop making sense
# below this side (elastic's anchors would sit 2 px from the centre).
MIN_WARP_SIDE = 8


def require_min_side(x: torch.Tensor, minimum: int, name: str, reason: str) -> None:
    """One-line CorruptionError when the frames of ``x`` are smaller than a corruption supports."""
    height, width = x.shape[-2:]
    if min(height, width) < minimum:
        raise CorruptionError(
            f"{name} needs frames of at least {minimum}x{minimum} px ({reason}); got {height}x{width}: "
            "resize the input or use the parameter table for this image size")


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Hendrycks' clipped_zoom: magnify the centre by ``factor``, keep the frame size.

    The centre ceil(H / factor) rows/cols are zoomed with scipy.ndimage.zoom(order=1), i.e.
    bilinear with aligned corners to round(crop * factor) pixels, then centre-trimmed.
    """
    height, width = x.shape[-2:]
    crop_h, crop_w = math.ceil(height / factor), math.ceil(width / factor)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    out_h, out_w = round(crop_h * factor), round(crop_w * factor)
    crop = x[..., top : top + crop_h, left : left + crop_w]
    zoomed = F.interpolate(crop, size=(out_h, out_w), mode="bilinear", align_corners=True)
    trim_h, trim_w = (out_h - height) // 2, (out_w - width) // 2
    return zoomed[..., trim_h : trim_h + height, trim_w : trim_w + width]


def pil_box_weights(out_size: int, in_size: int) -> torch.Tensor:
    """(out x in) weights of Pillow's BOX resampling along one axis.

    Output pixel i averages the input pixels whose centres fall in (i * s, (i + 1) * s] with
    s = in / out (full weights, no partial pixels); when enlarging it is a nearest lookup.
    """
    scale = in_size / out_size
    half_window = max(scale, 1.0) / 2  # Pillow never makes the window narrower than one pixel
    inputs = torch.arange(in_size, dtype=torch.float64)[None, :] + 0.5
    centres = (torch.arange(out_size, dtype=torch.float64)[:, None] + 0.5) * scale
    weights = ((inputs > centres - half_window) & (inputs <= centres + half_window)).to(torch.float64)
    return weights / weights.sum(dim=1, keepdim=True)


@lru_cache(maxsize=64)
def box_shrink_matrix(size: int, small: int, device: torch.device) -> torch.Tensor:
    """(small x size) matrix of Pillow's BOX shrink along one axis."""
    return pil_box_weights(small, size).to(device=device, dtype=torch.float32)


def _pixel_grid(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(height, device=device, dtype=torch.float32)
    cols = torch.arange(width, device=device, dtype=torch.float32)
    return torch.meshgrid(rows, cols, indexing="ij")


def warp_affine(x: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """cv2.warpAffine (bilinear, reflect-101 border) of ``x`` [T, C, H, W].

    ``inverse`` [T or 1, 2, 3] maps output (x, y) pixel coordinates to input coordinates.
    """
    height, width = x.shape[-2:]
    rows, cols = _pixel_grid(height, width, x.device)
    points = torch.stack([cols, rows, torch.ones_like(rows)], dim=-1)  # [H, W, 3]
    source = torch.einsum("hwk,tjk->thwj", points, inverse.to(torch.float32))  # [T', H, W, 2]
    scale = torch.tensor([2 / max(width - 1, 1), 2 / max(height - 1, 1)], device=x.device)
    grid = (source * scale - 1).expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)


def displace(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """scipy map_coordinates(order=1, mode='reflect') at (row + dy, col + dx).

    ``dy``/``dx`` [T or 1, H, W] in pixels.
    """
    height, width = x.shape[-2:]
    rows, cols = _pixel_grid(height, width, x.device)
    grid = torch.stack([(2 * (cols + dx) + 1) / width - 1, (2 * (rows + dy) + 1) / height - 1], dim=-1)
    grid = grid.expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
