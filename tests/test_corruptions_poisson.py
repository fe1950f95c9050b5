"""The exact Poisson sampler (corruptions.poisson) and shot noise's use of it.

Every path (general sampler, inverse CDF, level table) is checked against the exact Poisson pmf
with a chi-square test; the same test is shown to reject near-miss samplers, so it has teeth.
"""

from __future__ import annotations

import math

import pytest
import torch

from corruptions import CorruptionError, _random, noise
from corruptions import poisson as P

RATES = [0.3, 4.0, 9.99, 10.0, 30.0, 1e3, 6e4]  # both sides of each switch (10, 32) and far beyond
DRAWS = 200_000
ALPHA = 1e-4  # per test; the seeds are fixed, so a pass is a pass on every run


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pmf(k: int, lam: float) -> float:
    return math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) if lam > 0 else float(k == 0)


def chi_square_p(counts: torch.Tensor, lam: float) -> float:
    """p-value of the chi-square goodness of fit to Poisson(lam), bins pooled to >= 20 expected."""
    counts = counts.reshape(-1).long()
    n, top = counts.numel(), int(lam + 12 * math.sqrt(lam) + 40)
    observed = torch.bincount(counts.clamp(max=top), minlength=top + 1).tolist()
    bins, obs, exp = [], 0.0, 0.0
    for k in range(top + 1):
        obs, exp = obs + observed[k], exp + n * pmf(k, lam)
        if exp >= 20:
            bins.append((obs, exp))
            obs, exp = 0.0, 0.0
    last_obs, last_exp = bins.pop()
    bins.append((last_obs + obs, n - sum(e for _, e in bins)))  # the pooled upper tail
    statistic = sum((o - e) ** 2 / e for o, e in bins)
    dof = len(bins) - 1
    return float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=torch.float64),
                                         torch.tensor(statistic / 2, dtype=torch.float64)))


def assert_poisson(counts: torch.Tensor, lam: float) -> None:
    if lam == 0:
        assert counts.eq(0).all()
        return
    n = counts.numel()
    mean, var = counts.double().mean().item(), counts.double().var().item()
    assert abs(mean - lam) < 5 * math.sqrt(lam / n), (lam, mean)
    assert abs(var - lam) < 5 * math.sqrt((lam + 2 * lam * lam) / n), (lam, var)
    assert torch.equal(counts, counts.round()) and counts.min() >= 0
    p = chi_square_p(counts, lam)
    assert p > ALPHA, (lam, p)


# --- exact in distribution -------------------------------------------------------------------------

@pytest.mark.parametrize("lam", RATES)
def test_sample_matches_the_poisson_pmf(lam: float) -> None:
    assert_poisson(P.sample(torch.full((DRAWS,), lam, dtype=torch.float64), gen(1)), lam)


@pytest.mark.parametrize("lam", RATES)
def test_quantile_of_uniforms_matches_the_poisson_pmf(lam: float) -> None:
    bits = P.uniform_bits((DRAWS,), gen(2))
    assert_poisson(P.quantile(bits, torch.full((DRAWS,), lam, dtype=torch.float64)), lam)


@pytest.mark.parametrize("lam", RATES)
def test_level_table_matches_the_poisson_pmf(lam: float) -> None:
    table = P.LevelTable.build(torch.tensor([0.0, lam], dtype=torch.float64))
    level = torch.ones(DRAWS, dtype=torch.int32)
    assert_poisson(table.sample(level, gen(3), torch.float64), lam)


def test_mixed_rates_across_blocks_and_paths_land_in_place() -> None:
    """Small and large rates interleaved over more than one CPU block: each keeps its own law."""
    n = P.CPU_BLOCK + 40_000
    rate = torch.tensor([3.0, 300.0]).repeat(n // 2)
    counts = P.sample(rate, gen(4))
    assert_poisson(counts[0::2], 3.0)
    assert_poisson(counts[1::2], 300.0)


def test_the_fit_test_rejects_near_miss_samplers() -> None:
    """Samplers a careless implementation could produce all fail the same test."""
    g = gen(5)
    rounded_normal = (torch.randn(DRAWS, generator=g) * math.sqrt(30) + 30).round().clamp(min=0)
    assert chi_square_p(rounded_normal, 30.0) < ALPHA
    assert chi_square_p(P.sample(torch.full((DRAWS,), 30.3), g), 30.0) < ALPHA  # rate 1% off
    assert chi_square_p(P.sample(torch.full((DRAWS,), 4.0), g).clamp(max=10), 4.0) < ALPHA  # search cut at +3 sd
    assert chi_square_p(torch.poisson(torch.full((DRAWS,), 1e3), generator=g), 1e3) > ALPHA  # and passes the real one


# --- inverse CDF: two independent inversions agree, and counts follow the rate ------------------------

def test_table_and_incomplete_gamma_inversions_agree_exactly() -> None:
    rates = torch.tensor([0.0, 0.3, 9.99, 10.0, 31.9, 250.0, 6e4], dtype=torch.float64)
    table = P.LevelTable.build(rates)
    bits = P.uniform_bits((len(rates), 20_000), gen(6))
    bits[:, :4] = torch.tensor([0, 1, 2**31 - 2, 2**31 - 1], dtype=torch.int32)  # extreme uniforms
    level = torch.arange(len(rates), dtype=torch.int32)[:, None].expand_as(bits)
    assert torch.equal(table.quantile(level, bits, torch.float64), P.quantile(bits, rates[:, None].expand_as(bits)))


def test_quantile_is_monotone_in_the_rate_for_one_uniform() -> None:
    bits = P.uniform_bits((1, 5000), gen(7))
    rates = torch.tensor([0.5, 5.0, 9.5, 10.5, 40.0, 400.0])[:, None].expand(-1, 5000)
    counts = P.quantile(bits, rates)
    assert counts.shape == rates.shape and bool((counts[1:] >= counts[:-1]).all())


def test_uniform_bits_cover_31_bits() -> None:
    bits = P.uniform_bits((100_000,), gen(8))
    assert bits.dtype == torch.int32 and bits.min() >= 0
    assert bits.max() > 2**31 - 2**20 and abs(bits.double().mean().item() / 2**31 - 0.5) < 0.01


# --- seeding, shapes, dtypes, devices, bad input -------------------------------------------------------

@pytest.mark.parametrize("lam", [2.5, 40.0])
def test_seeded_draws_are_reproducible_and_ignore_the_global_rng(lam: float) -> None:
    rate = torch.full((3, 50, 50), lam)
    first = P.sample(rate, gen(9))
    torch.manual_seed(123)
    assert torch.equal(first, P.sample(rate, gen(9)))
    assert not torch.equal(first, P.sample(rate, gen(10)))


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_output_keeps_shape_dtype_and_zero_rates(dtype: torch.dtype) -> None:
    rate = torch.tensor([[0.0, 1.0, 50.0], [0.0, 7.0, 1e3]], dtype=dtype)
    for counts in (P.sample(rate, gen()), P.quantile(P.uniform_bits((2, 3), gen()), rate)):
        assert counts.shape == rate.shape and counts.dtype == dtype
        assert counts[:, 0].eq(0).all()
    assert P.sample(torch.empty(0, 4), gen()).shape == (0, 4)


def test_a_generator_on_another_device_is_a_one_line_error() -> None:
    elsewhere = torch.ones(3, device="meta")  # stands in for a GPU tensor with a CPU generator
    table = P.LevelTable.build(torch.ones(1))
    for call in (lambda: P.sample(elsewhere, gen()), lambda: table.sample(elsewhere, gen())):
        with pytest.raises(CorruptionError, match="the generator is on cpu but the rates are on meta"):
            call()


@pytest.mark.parametrize("bad", [torch.tensor([1.0, -0.5]), torch.tensor([1.0, float("nan")]),
                                 torch.tensor([float("inf")]), torch.tensor([3, 4])])
def test_bad_rates_are_one_line_errors(bad: torch.Tensor) -> None:
    with pytest.raises(CorruptionError, match="Poisson rates") as caught:
        P.sample(bad, gen())
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda_with_a_cuda_generator() -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    rate = torch.tensor([0.3, 9.0, 40.0, 6e4], device="cuda").repeat(50_000)
    counts = P.sample(rate, g)
    assert counts.device == rate.device and counts.dtype == rate.dtype
    assert_poisson(counts[2::4].cpu(), 40.0)
    table = P.LevelTable.build(rate[:4])
    level = torch.arange(4, device="cuda", dtype=torch.int32).repeat(50_000)
    assert_poisson(table.sample(level, g)[1::4].cpu(), float(rate[1]))
    bits = P.uniform_bits(level.shape, g)
    assert torch.equal(table.quantile(level, bits, torch.float64), P.quantile(bits, rate.double()))


# --- shot noise --------------------------------------------------------------------------------------

def eight_bit_clip(frames: int = 4, size: int = 48) -> torch.Tensor:
    pixels = torch.randint(0, 256, (frames, 3, size, size), generator=gen(11), dtype=torch.uint8)
    return pixels.float() / 255  # what corruptions.apply passes


def test_eight_bit_levels_are_recognised_and_tabled_at_the_exact_rates() -> None:
    x = eight_bit_clip()
    assert torch.equal(_random._eight_bit_levels(x), (x * 255).round().to(torch.uint8))
    assert _random._eight_bit_levels(x * 0.999) is None and _random._eight_bit_levels(x + 1) is None
    grey = torch.arange(256, dtype=torch.uint8).float() / 255  # as corruptions.apply makes them
    for photons in (3, 12.7, 60, 500):
        table = _random._eight_bit_table(photons, torch.float32, grey.device)
        assert torch.equal(table.rates, (grey * photons).double())


@pytest.mark.parametrize("photons", [3, 60, 500])
def test_counts_on_eight_bit_frames_are_poisson_per_level(photons: int) -> None:
    """Shot noise's table path: every grey level's counts follow Poisson(level / 255 * photons)."""
    levels, per_level = [0, 1, 40, 128, 255], 30_000
    x = (torch.tensor(levels).repeat_interleave(per_level).float() / 255).view(1, 1, len(levels), per_level)
    counts = _random.poisson(x, photons, gen(12), coherent=False)
    for i, level in enumerate(levels):
        assert_poisson(counts[0, 0, i], float(torch.tensor(level, dtype=torch.float32) / 255 * photons))


def test_shot_noise_clip_draws_equal_frame_by_frame_draws_on_eight_bit_frames() -> None:
    x, g = eight_bit_clip(), gen(13)
    frames = torch.cat([noise.shot_noise(frame[None], 25, g) for frame in x])
    assert torch.equal(noise.shot_noise(x, 25, gen(13)), frames)


@pytest.mark.parametrize("quantised", [True, False])
def test_coherent_shot_noise_keeps_one_uniform_per_pixel(quantised: bool) -> None:
    """Equal frames get equal counts and a brighter frame at least as many at every pixel, on
    both paths (8-bit frames: table; other values: incomplete-gamma inversion)."""
    x = eight_bit_clip(frames=1)
    brighter = (x * 255 + 30).clamp(max=255) / 255
    if not quantised:
        x, brighter = x * 0.7 + 1e-3, brighter * 0.7 + 1e-3
    counts = _random.poisson(torch.cat([x, x, brighter]), 60, gen(14), coherent=True)
    assert torch.equal(counts[0], counts[1]) and bool((counts[2] >= counts[0]).all())
    assert counts[2].sum() > counts[0].sum()
