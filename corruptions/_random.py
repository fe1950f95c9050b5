"""Random fields for the frame-level corruptions, all drawn from one explicit torch.Generator.

``coherent`` decides how many independent draws a clip gets: one per frame (the references'
behaviour, fresh noise on every frame) or one for the whole clip, broadcast over the frames
(a temporally coherent corruption: a static scene stays static).
"""

from __future__ import annotations

import math

import torch


def draws(x: torch.Tensor, coherent: bool) -> int:
    """Number of independent random draws for clip ``x`` [T, C, H, W]."""
    return 1 if coherent else x.shape[0]


def field_shape(x: torch.Tensor, coherent: bool, channels: int | None = None) -> tuple[int, ...]:
    """Shape of a per-pixel random field: [T or 1, channels (default C), H, W]."""
    return (draws(x, coherent), x.shape[1] if channels is None else channels, *x.shape[2:])


def uniform(shape: tuple[int, ...], generator: torch.Generator, low: float = 0.0, high: float = 1.0,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, device=generator.device, dtype=dtype)
    return u if (low, high) == (0.0, 1.0) else u * (high - low) + low


def normal(shape: tuple[int, ...], generator: torch.Generator, mean: float = 0.0, std: float = 1.0) -> torch.Tensor:
    z = torch.randn(shape, generator=generator, device=generator.device)
    return z if (mean, std) == (0.0, 1.0) else z * std + mean


def integers(low: int, high: int, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Integers in [low, high) (numpy.random.randint's convention, as the references use it)."""
    return torch.randint(low, high, shape, generator=generator, device=generator.device)


def poisson(rate: torch.Tensor, generator: torch.Generator, coherent: bool) -> torch.Tensor:
    """Poisson counts for ``rate`` [T, C, H, W]; coherent=True shares one uniform per pixel.

    Fresh draws use torch.poisson (exact). A coherent clip needs the *same* randomness on every
    frame while the rate may change, so each count is the Poisson quantile of one shared
    uniform: exact inversion below a rate of 30, the Cornish-Fisher corrected normal quantile
    above (its error in the count distribution is < 1% there).
    """
    if not coherent:
        return torch.poisson(rate, generator=generator)
    u = uniform((1, *rate.shape[1:]), generator, dtype=torch.float64).expand_as(rate)
    lam = rate.double()
    z = math.sqrt(2) * torch.erfinv(2 * u - 1)
    counts = torch.floor(lam + lam.sqrt() * z + (z * z - 1) / 6 + 0.5).clamp_(min=0)
    small = lam < 30
    if small.any():
        lam_s, u_s = lam[small], u[small]
        term = torch.exp(-lam_s)
        cdf, k = term.clone(), torch.zeros_like(lam_s)
        for i in range(1, 100):  # P(count >= 100 | rate < 30) < 1e-20
            above = u_s > cdf
            if not above.any():
                break
            k += above
            term = term * lam_s / i
            cdf += term
        counts[small] = k
    return counts.to(rate.dtype)


def plasma_fractal(count: int, size: int, decay: float, generator: torch.Generator) -> torch.Tensor:
    """``count`` diamond-square height maps [count, size, size] in [0, 1] (size a power of 2).

    The fog texture of Hendrycks et al.: midpoint displacement where the random 'wibble'
    amplitude shrinks by ``decay`` per octave (smaller decay = rougher fog). Each octave
    computes the square centres and the two diamond sets of the current (k x k) corner grid,
    drawn in the reference's order, and interleaves them into the (2k x 2k) grid.
    """
    corners = torch.zeros(count, 1, 1, device=generator.device)
    wibble = 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        return total / 4 + wibble * uniform(total.shape, generator, -wibble, wibble)

    while corners.shape[1] < size:
        squares = corners + corners.roll(-1, dims=1)
        centres = wibbled_mean(squares + squares.roll(-1, dims=2))
        on_rows = wibbled_mean(centres + centres.roll(1, dims=1) + corners + corners.roll(-1, dims=2))
        on_cols = wibbled_mean(centres + centres.roll(1, dims=2) + corners + corners.roll(-1, dims=1))
        grid = torch.stack([torch.stack([corners, on_rows], dim=-1), torch.stack([on_cols, centres], dim=-1)], dim=2)
        corners = grid.reshape(count, 2 * corners.shape[1], 2 * corners.shape[2])
        wibble /= decay
    low = corners.amin(dim=(1, 2), keepdim=True)
    high = corners.amax(dim=(1, 2), keepdim=True)
    return (corners - low) / (high - low).clamp_min(1e-12)


def next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())
