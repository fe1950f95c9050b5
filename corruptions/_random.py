"""Random fields for the frame-level corruptions, all drawn from one explicit torch.Generator.

``coherent`` decides how many independent draws a clip gets: one per frame (the references'
behaviour, fresh noise on every frame) or one for the whole clip, broadcast over the frames
(a temporally coherent corruption: a static scene stays static).
"""

from __future__ import annotations

import functools

import torch

from corruptions import poisson as _poisson


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


def poisson(x: torch.Tensor, scale: float, generator: torch.Generator, coherent: bool) -> torch.Tensor:
    """Exact Poisson counts of rate x * scale for x [T, C, H, W] >= 0 (corruptions.poisson).

    An 8-bit image (x = v / 255, what corruptions.apply passes) has at most 256 rates, so each
    draw is one lookup in their cached inverse-CDF table. Other input takes the general sampler,
    frame by frame, so that a clip consumes the generator as its frames one after another do.
    coherent=True draws one uniform per pixel and takes each frame's quantile of it: the count
    follows the rate while the randomness stays fixed.
    """
    levels = _eight_bit_levels(x)
    if levels is not None:
        return poisson_levels(levels, scale, generator, coherent, x.dtype)
    rate = x * scale
    if coherent:
        return _poisson.quantile(_poisson.uniform_bits(field_shape(x, True), generator), rate)
    return torch.stack([_poisson.sample(frame, generator) for frame in rate])


def poisson_levels(levels: torch.Tensor, scale: float, generator: torch.Generator, coherent: bool,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Poisson counts of rate (levels / 255) * scale for uint8 ``levels`` [T, C, H, W]: one table lookup each."""
    table = _eight_bit_table(float(scale), dtype, levels.device)
    if coherent:
        return table.quantile(levels, _poisson.uniform_bits(field_shape(levels, True), generator), dtype)
    return table.sample(levels, generator, dtype)


def _eight_bit_levels(x: torch.Tensor) -> torch.Tensor | None:
    """v (uint8) when every value of x is exactly v / 255 for an integer v in [0, 255], else None."""
    flat = x.reshape(-1)
    levels = torch.empty(flat.shape, dtype=torch.uint8, device=x.device)
    for part in _poisson.blocks(flat.numel(), x.device):  # block-sized temporaries (see blocks)
        level = flat[part].mul(255).round_()
        low, high = level.aminmax()
        if not (bool(low >= 0) and bool(high <= 255) and torch.equal(level.div(255), flat[part])):
            return None
        levels[part] = level
    return levels.view(x.shape)


@functools.lru_cache(maxsize=16)
def _eight_bit_table(scale: float, dtype: torch.dtype, device: torch.device) -> _poisson.LevelTable:
    """Inverse CDFs of the 256 rates (v / 255) * scale, computed exactly as x * scale computes them."""
    return _poisson.LevelTable.build(torch.arange(256, dtype=dtype, device=device).div(255).mul(scale))


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
