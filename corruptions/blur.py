"""Blur corruptions: defocus, glass, motion, zoom and Gaussian blur (Hendrycks et al.), and the
temporal motion blur of Yi et al. (frames averaged over time).

Every function takes a clip x [T, 3, H, W] in [0, 1], one severity's parameter, and a
torch.Generator; coherent=True draws one random setting (angle, shuffle) for the whole clip.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

from corruptions import _filters, _random
from corruptions._resample import MIN_WARP_SIDE, clipped_zoom, require_min_side
from corruptions.registry import CLIP, FRAME, SHARED


@lru_cache(maxsize=32)
def _disk(radius: float, alias_blur: float) -> torch.Tensor:
    return _filters.disk_kernel(radius, alias_blur)


def defocus_blur(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Out-of-focus lens: convolution with an anti-aliased disk, ``param`` = (radius, alias_blur)."""
    radius, alias_blur = param
    return _filters.filter2d(x, _disk(float(radius), float(alias_blur)), "mirror").clamp_(0, 1)


def gaussian_blur(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Gaussian blur with sigma = ``param`` px (skimage.filters.gaussian: 'nearest' border)."""
    return _filters.gaussian_filter(x, float(param)).clamp_(0, 1)


def motion_blur(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Camera shake: a one-sided line kernel at a random angle in [-45, 45] degrees.

    ``param`` = (radius, sigma) of ImageMagick's motion blur; the angle is redrawn per frame.
    """
    radius, sigma = param
    angles = _random.uniform((_random.draws(x, coherent),), generator, -45.0, 45.0, dtype=torch.float64)
    return _filters.line_blur(x, int(radius), float(sigma), angles.tolist()).clamp_(0, 1)


def zoom_blur(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Zooming during the exposure: the mean of the frame and its centre zooms by ``param``."""
    total = x.clone()
    for factor in param:
        total += clipped_zoom(x, float(factor))
    return total.div_(len(param) + 1).clamp_(0, 1)


def temporal_motion_blur(x: torch.Tensor, param: int, generator: torch.Generator, *,
                         coherent: bool = False) -> torch.Tensor:
    """Yi et al.'s motion blur: frame i becomes the mean of frames [i - c, i + c], c = ``param``.

    Frame indices are clamped at the clip ends, so the clip keeps its length.
    """
    half, frames = int(param), x.shape[0]
    index = torch.arange(-half, frames + half, device=x.device).clamp_(0, frames - 1)
    padded = x.index_select(0, index).transpose(0, 1)[None]  # [1, C, T + 2c, H, W]
    mean = F.avg_pool3d(padded, kernel_size=(2 * half + 1, 1, 1), stride=1)  # every window summed on its own
    return mean[0].transpose(0, 1).clamp_(0, 1)


# --- glass blur -------------------------------------------------------------------------------

def _tile_shuffle_sources(count: int, height: int, width: int, max_delta: int, generator: torch.Generator,
                          top: int, left: int) -> torch.Tensor:
    """Source pixel of every pixel after a random local permutation [count, H * W].

    The frame is cut into (d+1) x (d+1) tiles, the grid shifted by (top, left), and the pixels
    of each tile are randomly permuted: a true shuffle (every value survives exactly once) that
    moves no pixel more than d = ``max_delta`` px along either axis. Tiles cut by the frame
    border permute only their pixels inside the frame.
    """
    side, device = max_delta + 1, generator.device
    tiles_y, tiles_x = -(-(height + top) // side), -(-(width + left) // side)
    inside = torch.zeros(tiles_y * side, tiles_x * side, dtype=torch.bool, device=device)
    inside[top : top + height, left : left + width] = True
    inside = inside.view(tiles_y, side, tiles_x, side).transpose(1, 2).reshape(tiles_y, tiles_x, side * side)
    slot = torch.arange(side * side, device=device)
    in_order = torch.where(inside, slot, slot + side * side).argsort(dim=-1, stable=True)  # inside slots first
    keys = torch.where(inside, _random.uniform((count, tiles_y, tiles_x, side * side), generator), 2.0)
    shuffled = keys.argsort(dim=-1, stable=True)  # inside slots first, in random order
    source = torch.empty_like(shuffled).scatter_(-1, in_order.expand_as(shuffled), shuffled)  # slot <- slot
    source = source.view(count, tiles_y, tiles_x, side, side).transpose(2, 3).reshape(count, tiles_y * side, -1)
    rows = torch.arange(tiles_y * side, device=device)[:, None] // side * side + source // side - top
    cols = torch.arange(tiles_x * side, device=device)[None, :] // side * side + source % side - left
    return (rows * width + cols)[:, top : top + height, left : left + width].reshape(count, -1)


def _copy_chain_sources(dy: torch.Tensor, dx: torch.Tensor, max_delta: int) -> torch.Tensor:
    """Source pixel of every pixel after the reference's sequential copy loop [n, H * W].

    The reference visits rows d+1..H-d and columns d+1..W-d backwards and 'swaps' with
    (h + dy, w + dx), which copies: pixel p takes the *current* value of its source q. A q
    later in raster order was already visited, so p inherits q's own source; an earlier q still
    holds its original value. These chains are resolved by pointer jumping (log2 of the
    longest chain rounds), which reproduces the loop exactly for given offsets.
    """
    count, height, width = dy.shape
    index = torch.arange(height * width, device=dy.device).view(1, height, width).expand(count, -1, -1)
    region = torch.zeros(height, width, dtype=torch.bool, device=dy.device)
    region[max_delta + 1 : height - max_delta + 1, max_delta + 1 : width - max_delta + 1] = True
    source = torch.where(region, index + dy * width + dx, index).flatten(1)
    index = index.flatten(1)
    done = source <= index  # p reads an unvisited pixel: its original value
    answer, link = source.clone(), source.clone()
    while not bool(done.all()):
        linked_done = done.gather(1, link)
        resolve, jump = ~done & linked_done, ~done & ~linked_done
        answer = torch.where(resolve, answer.gather(1, link), answer)
        link = torch.where(jump, link.gather(1, link), link)
        done = done | resolve
    return answer


Shuffles = Callable[[int, int, int, int, int, torch.Generator], Iterator[torch.Tensor]]


def _fixed_shuffles(count: int, height: int, width: int, max_delta: int, iterations: int,
                    generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Tile shuffles on alternating grids (a Margolus neighbourhood): each iteration moves the
    tile grid by half a tile, so repeated shuffles carry pixels across tile borders instead of
    re-mixing the same tiles."""
    side = max_delta + 1
    top, left = _random.integers(0, side, (2,), generator).tolist()
    for i in range(iterations):
        step = i * (side // 2)
        yield _tile_shuffle_sources(count, height, width, max_delta, generator, (top + step) % side,
                                    (left + step) % side)


def _reference_shuffles(count: int, height: int, width: int, max_delta: int, iterations: int,
                        generator: torch.Generator) -> Iterator[torch.Tensor]:
    for _ in range(iterations):
        offsets = _random.integers(-max_delta, max_delta, (2, count, height, width), generator)
        yield _copy_chain_sources(offsets[1], offsets[0], max_delta)


def _glass(x: torch.Tensor, param: tuple, generator: torch.Generator, coherent: bool,
           shuffles: Shuffles, store_uint8: bool = False) -> torch.Tensor:
    sigma, max_delta, iterations = float(param[0]), int(param[1]), int(param[2])
    require_min_side(x, max(MIN_WARP_SIDE, 2 * max_delta + 2), "glass_blur",
                     f"it shuffles pixels up to {max_delta} px, inside a {max_delta + 1} px margin")
    frames, channels, height, width = x.shape
    pixels = _filters.gaussian_filter(x, sigma)
    if store_uint8:  # the reference keeps the first blur as np.uint8 (truncating)
        pixels = pixels.mul(255).floor_().div_(255)
    pixels = pixels.flatten(2)
    for source in shuffles(_random.draws(x, coherent), height, width, max_delta, iterations, generator):
        pixels = pixels.gather(2, source[:, None, :].expand(frames, channels, -1))
    return _filters.gaussian_filter(pixels.view_as(x), sigma).clamp_(0, 1)


def glass_blur(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Frosted glass: blur, shuffle pixels locally, blur again; ``param`` = (sigma, max_delta,
    iterations). The shuffle is a true local permutation (see docs/corruptions_frame.md)."""
    return _glass(x, param, generator, coherent, _fixed_shuffles)


def glass_blur_reference(x: torch.Tensor, param: tuple, generator: torch.Generator, *,
                         coherent: bool = False) -> torch.Tensor:
    """Glass blur exactly as the reference: copy semantics (its 'swap' duplicates pixels) and
    the first blur truncated to 8 bits."""
    return _glass(x, param, generator, coherent, _reference_shuffles, store_uint8=True)


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "defocus_blur": defocus_blur,
    "glass_blur": glass_blur,
    "glass_blur_reference": glass_blur_reference,
    "motion_blur": motion_blur,
    "zoom_blur": zoom_blur,
    "gaussian_blur": gaussian_blur,
    "temporal_motion_blur": temporal_motion_blur,
}

# Smallest frame side per function (glass blur also needs 2 * max_delta + 2 px; it checks that itself).
MIN_SIZE = {"glass_blur": MIN_WARP_SIDE, "glass_blur_reference": MIN_WARP_SIDE}

SCOPE = {"defocus_blur": SHARED, "gaussian_blur": SHARED, "zoom_blur": SHARED,  # deterministic
         "motion_blur": FRAME, "glass_blur": FRAME, "glass_blur_reference": FRAME,
         "temporal_motion_blur": CLIP}  # averages neighbouring frames
