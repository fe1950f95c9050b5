"""Exact Poisson sampling in torch: vectorised, seeded by one explicit generator, on any device.

Why not ``torch.poisson``: on the CPU it draws value by value in a scalar loop (30-45 ns per
value; shot noise spent most of its time there), and its stream cannot be reused across frames.
Everything here is exact in distribution (never a normal approximation):

- ``LevelTable.build(rates).sample(level, generator)``: rates with few distinct values, e.g. an
  8-bit image times a photon count. Inversion through each rate's precomputed CDF: one uniform and one
  guide-table lookup per value; the few values whose guide bucket holds a CDF step finish with
  a short search.
- ``sample(rate, generator)``: any rates. Below a rate of 32, Poisson(rate) = Poisson(the grid
  rate just below, a multiple of 1/8) + Poisson(the remainder): the first from a shared
  ``LevelTable`` of the 256 grid rates, the second (0 with probability > 88%) by inversion.
  From 32 up, Hörmann's transformed rejection with squeeze (PTRS, 1993), in rounds over the
  shrinking set of rejected values.
- ``quantile(bits, rate)`` and ``LevelTable.quantile``: the inverse CDF at given uniforms, for
  noise that reuses one uniform on every frame (temporally coherent shot noise).

Uniforms are 31-bit integers from ``Tensor.random_`` (torch's cheapest draw): u = bits / 2^31 is
exact in float64, so every count probability is exact to 2^-31; rates and CDFs are float64.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from corruptions.errors import CorruptionError

UNIFORM_BITS = 31
_UNIT = 2.0**-UNIFORM_BITS
INVERSION_BELOW = 10.0  # quantile(): search up from 0 below this rate, from a normal guess above
GRID_STEP = 1 / 8  # sample(): the shared table holds the 256 rates 0, 1/8, ..., 31 7/8
GRID_BELOW = 256 * GRID_STEP  # PTRS from here up (its constants are fitted for rates >= 10)
CPU_BLOCK = 2**18  # values per block on the CPU (see blocks)
REJECTION_TRIES = 4  # PTRS candidates per value after the first round (all rejected: p < 3e-4)


def uniform_bits(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """int32 uniforms on [0, 2^31), drawn in element order on the generator's device."""
    return torch.empty(shape, dtype=torch.int32, device=generator.device).random_(generator=generator)


def _unit(bits: torch.Tensor) -> torch.Tensor:
    return bits.to(torch.float64).mul_(_UNIT)


def blocks(n: int, device: torch.device) -> list[slice]:
    """Slices that cover n values: one on an accelerator, blocks of CPU_BLOCK on the CPU.

    On the CPU a fresh multi-megabyte temporary costs more in page faults than the arithmetic
    done on it; block-sized temporaries are reused from the heap and stay in cache.
    """
    step = CPU_BLOCK if device.type == "cpu" else max(n, 1)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _check_generator(data: torch.Tensor, generator: torch.Generator) -> None:
    if data.device != generator.device:
        raise CorruptionError(f"the generator is on {generator.device} but the rates are on {data.device}; "
                              "create the generator on the rates' device")


def _flat_rates(rate: torch.Tensor) -> torch.Tensor:
    """``rate`` flattened and checked to be finite and >= 0 (callers convert to float64 in blocks)."""
    if not rate.is_floating_point():
        raise CorruptionError(f"Poisson rates must be a floating-point tensor, got {rate.dtype}; convert with .float()")
    flat = rate.detach().reshape(-1)
    if flat.numel():
        low, high = flat.aminmax()
        if not (bool(low >= 0) and bool(high < math.inf)):
            raise CorruptionError(f"Poisson rates must be finite and >= 0, got values in [{float(low)}, "
                                  f"{float(high)}]; clamp or fix the rate tensor")
    return flat


def _pmf(k: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """P(X = k) for X ~ Poisson(lam), float64."""
    return torch.exp(torch.xlogy(k, lam) - lam - torch.lgamma(k + 1))


# --- few distinct rates: table inversion ----------------------------------------------------------


@dataclass(frozen=True)
class LevelTable:
    """Inverse CDFs of Poisson(rates[j]) for a few distinct rates (built once, reused per call).

    With M = 2^bucket_bits buckets of u, guide[j * (M + 1) + b] = 2 * Q(b / M) + s, where Q is the
    quantile function and s = 1 when Q(b / M) < Q((b + 1) / M): most uniforms need the lookup
    alone; the others are binary-searched in cdf[j] between those two quantiles.
    """

    rates: torch.Tensor  # [rates] float64
    cdf: torch.Tensor  # [rates, size] float64, cdf[j, k] = P(X <= k)
    guide: torch.Tensor  # [rates * (M + 1)] int16 or int32
    bucket_bits: int
    search_rounds: int  # enough halvings for the widest bucket

    @classmethod
    def build(cls, rates: torch.Tensor, bucket_bits: int = 11) -> LevelTable:
        lam = _flat_rates(rates).to(torch.float64)
        top = float(lam.max()) if lam.numel() else 0.0
        # the tail beyond rate + 12 sd + 40 is < 1e-30, so F(last) rounds to 1 and ends every search
        size = int(top + 12 * math.sqrt(top) + 40)
        k = torch.arange(size, dtype=torch.float64, device=lam.device)
        cdf = torch.special.gammaincc(k + 1, lam[:, None]).cummax(dim=1).values
        edges = torch.arange(2**bucket_bits + 1, dtype=torch.float64, device=lam.device) / 2**bucket_bits
        q = torch.searchsorted(cdf, edges.expand(len(lam), -1).contiguous())  # Q(edge) = #{k: F(k) < edge}
        step_inside = torch.cat([q[:, 1:] != q[:, :-1], torch.zeros_like(q[:, :1], dtype=torch.bool)], dim=1)
        widest = int((q[:, 1:] - q[:, :-1]).max()) if lam.numel() else 0
        dtype = torch.int16 if 2 * size + 1 < 2**15 else torch.int32
        return cls(lam, cdf, (2 * q + step_inside).reshape(-1).to(dtype), bucket_bits, widest.bit_length())

    def quantile(self, level: torch.Tensor, bits: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Inverse CDF of Poisson(rates[level]) at u = bits / 2^31 (``bits`` broadcasts to ``level``)."""
        flat_level, flat_bits = level.reshape(-1), bits.expand(level.shape).reshape(-1)
        counts = torch.empty(flat_level.shape, dtype=dtype, device=level.device)
        for part in blocks(flat_level.numel(), level.device):
            counts[part] = self._invert(flat_level[part], flat_bits[part], dtype)
        return counts.view(level.shape)

    def sample(self, level: torch.Tensor, generator: torch.Generator,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Poisson(rates[level]) counts: one uniform per value, in element order."""
        _check_generator(level, generator)
        flat_level = level.reshape(-1)
        counts = torch.empty(flat_level.shape, dtype=dtype, device=level.device)
        for part in blocks(flat_level.numel(), level.device):
            block = flat_level[part]
            counts[part] = self._invert(block, uniform_bits(block.shape, generator), dtype)
        return counts.view(level.shape)

    def _invert(self, level: torch.Tensor, bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        bucket = (bits >> (UNIFORM_BITS - self.bucket_bits)).add_(level.to(torch.int32), alpha=2**self.bucket_bits + 1)
        code = self.guide.index_select(0, bucket)
        counts = (code >> 1).to(dtype)
        index = (code & 1).nonzero().squeeze(1)
        if index.numel():
            low, high = (code[index] >> 1).long(), (self.guide.index_select(0, bucket[index] + 1) >> 1).long()
            row, u = level[index].long() * self.cdf.shape[1], _unit(bits[index])
            cdf = self.cdf.view(-1)
            for _ in range(self.search_rounds):  # invariant: F(low - 1) < u <= F(high)
                middle = (low + high) >> 1
                below = cdf.take(row + middle) < u
                low = torch.where(below, middle + 1, low)
                high = torch.where(below, high, middle)
            counts[index] = low.to(dtype)
        return counts


# --- inversion at given uniforms ------------------------------------------------------------------


def _invert_from_zero(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """min{k : F(k) >= u}, searching up from k = 0 for all values in lock step (small rates).

    ``gap`` = u - F(k) only shrinks, so counting the steps at which it is still positive gives
    the answer without masking; the finished values are dropped once they are the majority.
    """
    counts = torch.zeros_like(lam)
    pmf = torch.exp(-lam)
    gap = u - pmf
    out, index = counts, None  # index: positions in ``out`` of the values still stepped
    step = 0
    while True:
        above = gap > 0
        pending = int(above.sum())
        if pending == 0:
            break
        if 2 * pending < gap.numel():
            keep = above.nonzero().squeeze(1)
            if index is None:
                index = keep
            else:
                out.index_copy_(0, index, counts)
                index = index[keep]
            lam, pmf, gap, counts = lam[keep], pmf[keep], gap[keep], counts[keep] + 1
        else:
            counts += above
        step += 1
        pmf.mul_(lam).mul_(1.0 / step)  # P(X = step)
        gap.sub_(pmf)
    if index is None:
        return counts
    return out.index_copy_(0, index, counts)


def _walk(k: torch.Tensor, cdf: torch.Tensor, lam: torch.Tensor, u: torch.Tensor) -> None:
    """In place: move k (with cdf = F(k)) to min{k : F(k) >= u}, one step per round."""
    index = (cdf < u).nonzero().squeeze(1)
    while index.numel():  # up while F(k) < u
        up = k[index] + 1
        cdf_up = cdf[index] + _pmf(up, lam[index])
        k[index], cdf[index] = up, cdf_up
        index = index[cdf_up < u[index]]
    index = (k > 0).nonzero().squeeze(1)
    while index.numel():  # down while F(k - 1) >= u
        below = cdf[index] - _pmf(k[index], lam[index])
        move = below >= u[index]
        index = index[move]
        k[index] -= 1
        cdf[index] = below[move]
        index = index[k[index] > 0]


def _invert_from_guess(lam: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """min{k : F(k) >= u} for any rates: start at the Cornish-Fisher quantile (rarely more than a
    step or two off), take the exact F there from the incomplete gamma function, and walk."""
    z = math.sqrt(2) * torch.erfinv(2 * u - 1)
    k = torch.floor(lam + lam.sqrt() * z + (z * z - 1) / 6 + 0.5).clamp_(min=0).nan_to_num_(0.0)
    cdf = torch.special.gammaincc(k + 1, lam)
    _walk(k, cdf, lam, u)
    return k


def quantile(bits: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """Poisson(rate) inverse CDF at u = bits / 2^31 (``bits`` broadcasts to ``rate``; the result
    has the shape and dtype of ``rate``).

    The same uniform gives a count that grows with the rate, which is what coherent noise needs:
    one draw per pixel, a rate per frame.
    """
    lam = _flat_rates(rate).to(torch.float64)
    u = _unit(bits.expand(rate.shape).reshape(-1))
    small = lam < INVERSION_BELOW
    counts = torch.empty_like(lam)
    for part, invert in ((small, _invert_from_zero), (~small, _invert_from_guess)):
        index = part.nonzero().squeeze(1)
        if index.numel():
            counts[index] = invert(lam[index], u[index])
    return counts.view(rate.shape).to(rate.dtype)


# --- any rates: grid table + remainder, transformed rejection -------------------------------------


@functools.lru_cache(maxsize=None)
def _grid_table(device: torch.device) -> LevelTable:
    return LevelTable.build(torch.arange(256, dtype=torch.float64, device=device) * GRID_STEP)


def _sample_on_grid(lam: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rates below 32: the grid rate just below from the table, plus Poisson(remainder < 1/8).

    The remainder's count is 0 when u <= exp(-remainder), which holds whenever u + remainder <= 1:
    only the values failing that squeeze (about 6%) need the inversion.
    """
    scaled = lam / GRID_STEP  # exact: a power of two
    level = scaled.floor()
    remainder = (scaled - level).mul_(GRID_STEP)
    counts = _grid_table(lam.device).sample(level, generator, dtype=torch.float64)
    u = _unit(uniform_bits(lam.shape, generator))
    index = (u + remainder > 1).nonzero().squeeze(1)
    if index.numel():
        counts[index] += _invert_from_zero(remainder[index], u[index])
    return counts


def _ptrs_trial(lam: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One PTRS trial per value (Hörmann 1993, steps 1-3): candidate counts and which are accepted.

    The candidate is a transformed uniform; most are accepted by the cheap squeeze (step 1), and
    the rest are tested against the exact log-pmf (step 3) on the subset that needs it.
    """
    b = lam.sqrt().mul_(2.53).add_(0.931)
    a = b.mul(0.02483).sub_(0.059)
    centred = _unit(uniform_bits(lam.shape, generator)).sub_(0.5)
    v = _unit(uniform_bits(lam.shape, generator))
    us = centred.abs().neg_().add_(0.5)
    k = torch.div(a, us).mul_(2).add_(b).mul_(centred).add_(lam).add_(0.43).floor_()
    accepted = (us >= 0.07) & (v <= (b - 2).reciprocal_().mul_(-3.6224).add_(0.9277))
    test = (~accepted).nonzero().squeeze(1)
    if test.numel():
        lam_t, k_t, us_t, v_t, b_t = lam[test], k[test], us[test], v[test], b[test]
        inv_alpha = 1.1239 + 1.1328 / (b_t - 3.4)
        log_ratio = torch.log(v_t * inv_alpha / (a[test] / (us_t * us_t) + b_t))
        exact = log_ratio <= k_t * lam_t.log() - lam_t - torch.lgamma(k_t + 1)
        accepted[test] = exact & (k_t >= 0) & ((us_t >= 0.013) | (v_t <= us_t))  # step 2 rejects the rest
    return k, accepted


def _transformed_rejection(lam: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """PTRS counts: one trial for every value, then REJECTION_TRIES at once for each value still
    without an accepted candidate (the first accepted one counts, as in a sequential loop)."""
    counts, accepted = _ptrs_trial(lam, generator)
    index = (~accepted).nonzero().squeeze(1)
    while index.numel():
        tries = lam[index, None].expand(-1, REJECTION_TRIES).reshape(-1)
        k, accepted = (t.view(-1, REJECTION_TRIES) for t in _ptrs_trial(tries, generator))
        done = accepted.any(1)
        first = accepted.to(torch.uint8).argmax(1)  # argmax returns the first maximum
        counts[index[done]] = k[done, first[done]]
        index = index[~done]
    return counts


def _sample_block(lam: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    small = lam < GRID_BELOW
    n_small = int(small.sum())
    if n_small == lam.numel():
        return _sample_on_grid(lam, generator)
    if n_small == 0:
        return _transformed_rejection(lam, generator)
    counts = torch.empty_like(lam)
    index = small.nonzero().squeeze(1)
    counts[index] = _sample_on_grid(lam[index], generator)
    index = (~small).nonzero().squeeze(1)
    counts[index] = _transformed_rejection(lam[index], generator)
    return counts


def sample(rate: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson(rate) counts, same shape, dtype and device as ``rate`` (any finite rates >= 0).

    Block by block (see blocks), the rates below 32 draw first (two uniforms each, in element
    order), then the PTRS rounds of the others: the same generator state gives the same counts.
    """
    _check_generator(rate, generator)
    flat = _flat_rates(rate)
    counts = torch.empty_like(flat)
    for part in blocks(flat.numel(), flat.device):
        counts[part] = _sample_block(flat[part].to(torch.float64), generator)
    return counts.view(rate.shape)
