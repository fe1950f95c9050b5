"""Noise corruptions (Hendrycks et al.): sensor-like noise added independently per pixel.

Every function takes a clip x [T, 3, H, W] in [0, 1], one severity's parameter, and a
torch.Generator; coherent=True draws one noise field for the clip instead of one per frame.
"""

from __future__ import annotations

from typing import Callable

import torch

from corruptions import _random
from corruptions.registry import FRAME


def gaussian_noise(x: torch.Tensor, param: float, generator: torch.Generator, *,
                   coherent: bool = False) -> torch.Tensor:
    """x + N(0, sigma), sigma = ``param``."""
    noise = _random.normal(_random.field_shape(x, coherent), generator)
    return torch.add(x, noise, alpha=float(param)).clamp_(0, 1)


def shot_noise(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Photon noise: Poisson(x * lambda) / lambda, lambda = ``param`` photons at full scale."""
    photons = float(param)
    return _random.poisson(x, photons, generator, coherent).div_(photons).clamp_(0, 1)


def impulse_noise(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Salt and pepper: each value turns 0 or 1 (equally likely) with probability ``param``.

    One uniform u per value does both draws: u < amount flips it, u < amount / 2 salts it.
    """
    amount = float(param)
    u = _random.uniform(_random.field_shape(x, coherent), generator)
    return torch.where(u < amount, (u < amount / 2).to(x.dtype), x)


def speckle_noise(x: torch.Tensor, param: float, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
    """Multiplicative noise: x + x * N(0, s), s = ``param``."""
    noise = _random.normal(_random.field_shape(x, coherent), generator)
    return torch.addcmul(x, x, noise, value=float(param)).clamp_(0, 1)


# uint8 kernels: the functions above on v / 255, rounded back to uint8, bit for bit, with fewer
# full-size passes (no float copy of untouched values, no separate rounding and clamping).
# tests/test_corruptions_batch.py checks each against its float form.


def _to_levels(x: torch.Tensor) -> torch.Tensor:
    """Float in [0, 1] -> uint8, in place (x * 255 <= 255 after a clamp to [0, 1], so no second clamp)."""
    return x.mul_(255).round_().to(torch.uint8)


def gaussian_noise_uint8(v: torch.Tensor, param: float, generator: torch.Generator, *,
                         coherent: bool = False) -> torch.Tensor:
    noise = _random.normal(_random.field_shape(v, coherent), generator)
    return _to_levels(v.float().div_(255).add_(noise, alpha=float(param)).clamp_(0, 1))


def shot_noise_uint8(v: torch.Tensor, param: float, generator: torch.Generator, *,
                     coherent: bool = False) -> torch.Tensor:
    """uint8 frames are already the table's levels: no check that the input is 8-bit, no float copy."""
    photons = float(param)
    return _to_levels(_random.poisson_levels(v, photons, generator, coherent).div_(photons).clamp_(0, 1))


def impulse_noise_uint8(v: torch.Tensor, param: float, generator: torch.Generator, *,
                        coherent: bool = False) -> torch.Tensor:
    """Untouched values stay v exactly (round(v / 255 * 255) == v for every level)."""
    amount = float(param)
    u = _random.uniform(_random.field_shape(v, coherent), generator)
    return torch.where(u < amount, (u < amount / 2).to(torch.uint8).mul_(255), v)


def speckle_noise_uint8(v: torch.Tensor, param: float, generator: torch.Generator, *,
                        coherent: bool = False) -> torch.Tensor:
    noise = _random.normal(_random.field_shape(v, coherent), generator)
    x = v.float().div_(255)
    return _to_levels(x.addcmul_(x, noise, value=float(param)).clamp_(0, 1))


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
}

SCOPE = dict.fromkeys(FUNCTIONS, FRAME)  # fresh noise per frame

UINT8: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": gaussian_noise_uint8,
    "shot_noise": shot_noise_uint8,
    "impulse_noise": impulse_noise_uint8,
    "speckle_noise": speckle_noise_uint8,
}
