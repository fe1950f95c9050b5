"""Digital corruptions (Hendrycks et al.): brightness, contrast, saturation, elastic warps,
pixelation and JPEG compression.

Every function takes a clip x [T, 3, H, W] in [0, 1], one severity's parameter, and a
torch.Generator. Only elastic_transform is random (coherent=True: one warp for the clip).
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
import torch.nn.functional as F

from corruptions import _filters, _random
from corruptions._resample import MIN_WARP_SIDE, box_shrink_matrix, displace, require_min_side, warp_affine
from corruptions.errors import CorruptionError
from corruptions.registry import FRAME, SHARED


def brightness(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """HSV value V += ``param`` (clipped), hue and saturation kept.

    With H and S fixed every RGB channel is proportional to V, so the HSV round trip of the
    reference (skimage) is a per-pixel rescale by V'/V; black pixels (V = 0) become grey V'.
    """
    value = x.amax(dim=1, keepdim=True)
    new_value = (value + float(param)).clamp_(0, 1)
    return torch.where(value > 0, x * (new_value / value.clamp_min(1e-12)), new_value).clamp_(0, 1)


def saturate(x: torch.Tensor, param: tuple, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """HSV saturation S = clip(S * a + b), ``param`` = (a, b); hue and value kept.

    In closed form each channel is V - (V - x) * S'/S. Grey pixels (S = 0) have hue 0 in the
    reference, so a positive b tints them red: (V, V(1 - S'), V(1 - S')).
    """
    a, b = float(param[0]), float(param[1])
    value, low = x.amax(dim=1, keepdim=True), x.amin(dim=1, keepdim=True)
    spread = value - low
    sat = torch.where(spread > 0, spread / value.clamp_min(1e-12), 0.0)
    new_sat = (sat * a + b).clamp_(0, 1)
    coloured = value - (value - x) * (new_sat / sat.clamp_min(1e-12))
    grey = torch.cat([value, value * (1 - new_sat), value * (1 - new_sat)], dim=1)
    return torch.where(spread > 0, coloured, grey).clamp_(0, 1)


def contrast(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """(x - mean) * c + mean, with the per-frame, per-channel mean; c = ``param``."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return ((x - mean) * float(param) + mean).clamp_(0, 1)


def _affine_anchors(height: int, width: int, device: torch.device) -> torch.Tensor:
    """The reference's three (x, y) anchor points: the frame centre +- a third of the short side."""
    cx, cy, s = width // 2, height // 2, min(height, width) // 3
    return torch.tensor([[cx + s, cy + s], [cx + s, cy - s], [cx - s, cy - s]], dtype=torch.float64, device=device)


def elastic_warp(x: torch.Tensor, moved: torch.Tensor, noise: torch.Tensor, alpha: float, sigma: float) -> torch.Tensor:
    """The deterministic part of elastic_transform, for given random draws.

    ``moved`` [n, 3, 2]: where the three (x, y) anchors go (cv2.getAffineTransform +
    warpAffine with reflect-101); ``noise`` [n, 2, H, W] in [-1, 1]: the (dx, dy) fields,
    blurred with ``sigma`` (scipy 'reflect', truncate 3), scaled by ``alpha`` and applied with
    map_coordinates(order=1, mode='reflect'). n is 1 or the number of frames.
    """
    height, width = x.shape[-2:]
    anchors = _affine_anchors(height, width, x.device).expand(moved.shape[0], -1, -1)
    homogeneous = torch.cat([moved, torch.ones_like(moved[..., :1])], dim=2)
    inverse = torch.linalg.solve(homogeneous, anchors).transpose(1, 2)  # output (x, y, 1) -> input (x, y)
    shift = _filters.gaussian_filter(noise, sigma, border="reflect", truncate=3.0) * alpha
    return displace(warp_affine(x, inverse), shift[:, 1], shift[:, 0])


def elastic_transform(x: torch.Tensor, param: tuple, generator: torch.Generator, *,
                      coherent: bool = False) -> torch.Tensor:
    """A random affine warp, then a smooth random displacement field.

    ``param`` = (alpha, sigma, affine jitter), all in pixels: the three anchor points move by
    up to ``jitter`` px, and the displacement is uniform(-1, 1) noise blurred with ``sigma``
    times ``alpha``.
    """
    alpha, sigma, jitter = (float(p) for p in param)
    require_min_side(x, MIN_WARP_SIDE, "elastic_transform",
                     "its affine anchors sit a third of the short side from the centre")
    count, (height, width) = _random.draws(x, coherent), x.shape[-2:]
    moved = _affine_anchors(height, width, x.device) + _random.uniform((count, 3, 2), generator, -jitter, jitter,
                                                                       dtype=torch.float64)
    noise = _random.uniform((count, 2, height, width), generator, -1.0, 1.0)
    return elastic_warp(x, moved, noise, alpha, sigma).clamp_(0, 1)


def pixelate(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Box-shrink to ``param`` of the size, then enlarge back with nearest neighbours (Pillow BOX)."""
    height, width = x.shape[-2:]
    small_h, small_w = int(height * float(param)), int(width * float(param))
    if min(small_h, small_w) < 1:
        raise CorruptionError(f"pixelate: a {height}x{width} frame shrinks to nothing at scale {param}: "
                              "use larger frames")
    small = _filters.separable(x, box_shrink_matrix(height, small_h, x.device),
                               box_shrink_matrix(width, small_w, x.device))
    # Pillow enlarges with BOX = nearest: input pixel floor((i + 0.5) * small / size), torch's 'nearest-exact'
    return F.interpolate(small, size=(height, width), mode="nearest-exact").clamp_(0, 1)


def jpeg_compression(x: torch.Tensor, param: int, generator: torch.Generator, *,
                     coherent: bool = False) -> torch.Tensor:
    """Each frame JPEG-encoded at quality ``param`` and decoded (libjpeg, on the CPU)."""
    with warnings.catch_warnings():  # torchvision 0.29 announces a move of its codecs to TorchCodec
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg  # optional: torchvision (heavy), JPEG only

        frames = (x * 255).round_().clamp_(0, 255).to(device="cpu", dtype=torch.uint8)
        encoded = encode_jpeg(list(frames), quality=int(param))
        decoded = decode_jpeg(encoded, mode=ImageReadMode.RGB)
    return torch.stack(decoded).to(device=x.device, dtype=torch.float32).div_(255)


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "brightness": brightness,
    "contrast": contrast,
    "elastic_transform": elastic_transform,
    "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
    "saturate": saturate,
}

MIN_SIZE = {"elastic_transform": MIN_WARP_SIDE}  # smallest frame side per function

SCOPE = {**dict.fromkeys(FUNCTIONS, SHARED), "elastic_transform": FRAME}  # only elastic draws

HOST_ONLY = {"jpeg_compression"}  # libjpeg, on the CPU
