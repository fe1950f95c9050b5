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


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "speckle_noise": speckle_noise,
}

SCOPE = dict.fromkeys(FUNCTIONS, FRAME)  # fresh noise per frame
