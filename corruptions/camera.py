"""Camera-motion corruptions of Schiappa et al. (S): shake (translation) and rotation.

Every one is an affine warp of each frame (``affine_grid`` + ``grid_sample``, bilinear, black
outside the frame), so it runs on any device and any frame size; the output keeps the input's
height and width.

Geometry. The reference values are pixels of the reference frame: (S)'s offline generator
scales the short side to 256 and crops 224 (``translate``), their on-the-fly code shifts a
224 px model input (``translate_reference``). For an input whose short side is S, shifts are
scaled by S / 256 (resp. S / 224), so a severity means the same relative shake at any
resolution.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from corruptions.registry import FRAME, SHARED

CROP_FRACTION = 224 / 256  # (S): short side 256, crop 224


def _warp(x: torch.Tensor, theta: torch.Tensor, *, crisp_edges: bool = False) -> torch.Tensor:
    """Sample every frame of ``x`` [T, C, H, W] through its affine map ``theta`` [T, 2, 3].

    ``theta`` maps output to input positions in normalised coordinates ([-1, 1] across the
    frame, ``align_corners=False``), as ``torch.nn.functional.affine_grid`` expects.
    ``crisp_edges``: a position inside the frame's extent samples the edge pixels (no black
    bleeding into a window that touches the frame edge); only positions past it are black.
    """
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    padding = "border" if crisp_edges else "zeros"
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False).clamp(0, 1)
    if crisp_edges:
        out = out * (grid.abs() <= 1).all(-1).unsqueeze(1).to(out.dtype)
    return out


def _shift_theta(shifts: torch.Tensor, height: int, width: int, zoom: float) -> torch.Tensor:
    """Maps that show a window ``zoom`` x the frame, moved by ``shifts`` [T, 2] = (dy, dx) px."""
    theta = torch.zeros(len(shifts), 2, 3, device=shifts.device)
    theta[:, 0, 0] = zoom
    theta[:, 1, 1] = zoom
    theta[:, 0, 2] = 2 * shifts[:, 1] / width
    theta[:, 1, 2] = 2 * shifts[:, 0] / height
    return theta


def _rotation_theta(degrees: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Maps that turn the content counter-clockwise by ``degrees`` [T] about the frame centre.

    Normalised coordinates stretch x and y differently on non-square frames, hence the
    aspect-ratio factors: the rotation is rigid in pixels.
    """
    rad = degrees * (math.pi / 180)
    cos, sin = torch.cos(rad), torch.sin(rad)
    theta = torch.zeros(len(degrees), 2, 3, device=degrees.device)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * height / width
    theta[:, 1, 0] = sin * width / height
    theta[:, 1, 1] = cos
    return theta


def _per_frame(draw: Callable[[int], torch.Tensor], num_frames: int, coherent: bool) -> torch.Tensor:
    """Fresh draws per frame, or one draw shared by all frames when ``coherent``."""
    if coherent:
        one = draw(1)
        return one.expand(num_frames, *one.shape[1:])
    return draw(num_frames)


def translate(x: torch.Tensor, max_offset: int, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Camera shake as (S)'s offline generator: a 224/256 crop at a random top-left offset per frame.

    The generator crops 224 px out of a 256 px short side starting at (dx, dy), each uniform
    in [0, 8 * severity) px, i.e. 0..``max_offset``. Here the window is 224/256 of each side,
    its offset is drawn in those reference pixels and scaled by S / 256 for short side S, and
    the window is resized back to H x W. The 32-px margin covers offsets up to 31, so
    severities 1-4 never show a border; severity 5 (up to 39) can.
    """
    num_frames, _, height, width = x.shape
    scale = min(height, width) / 256
    offsets = _per_frame(
        lambda n: torch.randint(0, max_offset + 1, (n, 2), generator=generator, device=generator.device),
        num_frames,
        coherent,
    )
    # window top-left at offset * scale px == centred window moved by that minus half the margin
    margin = torch.tensor([height, width], dtype=torch.float32, device=x.device) * (1 - CROP_FRACTION) / 2
    shifts = offsets.to(x.device).float() * scale - margin
    return _warp(x, _shift_theta(shifts, height, width, CROP_FRACTION), crisp_edges=True)


def translate_reference(
    x: torch.Tensor, bound: int, generator: torch.Generator, *, coherent: bool = False
) -> torch.Tensor:
    """(S) on-the-fly code: one offset per clip, each axis uniform in [0, bound) px.

    The frame content moves up/left by the offset and the uncovered border is black (the
    reference crops a window starting at the offset out of the 224 px input and zero-pads).
    """
    num_frames, _, height, width = x.shape
    scale = min(height, width) / 224
    offset = torch.randint(0, bound, (1, 2), generator=generator, device=generator.device).float() * scale
    offsets = offset.round().expand(num_frames, 2)
    return _warp(x, _shift_theta(offsets.to(x.device), height, width, 1.0))


def rotate(x: torch.Tensor, max_degrees: int, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Camera roll: each frame turned by a random integer angle in [-a, a] degrees."""
    _, _, height, width = x.shape
    angles = _per_frame(
        lambda n: torch.randint(-max_degrees, max_degrees + 1, (n,), generator=generator, device=generator.device),
        x.shape[0],
        coherent,
    )
    return _warp(x, _rotation_theta(angles.to(x.device).float(), height, width))


def static_rotate(
    x: torch.Tensor, degrees: float, generator: torch.Generator, *, coherent: bool = False
) -> torch.Tensor:
    """A tilted camera: the whole clip turned counter-clockwise by a fixed angle."""
    _, _, height, width = x.shape
    angles = torch.full((x.shape[0],), float(degrees), device=x.device)
    return _warp(x, _rotation_theta(angles, height, width))


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "translate": translate,
    "translate_reference": translate_reference,
    "rotate": rotate,
    "static_rotate": static_rotate,
}

SCOPE = {"translate": FRAME, "rotate": FRAME,  # a new offset / angle per frame
         "translate_reference": SHARED, "static_rotate": SHARED}  # one per clip / none
