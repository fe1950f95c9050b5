"""Small-sample statistics for the report: 95% t-intervals of a mean and of paired differences.

Pure functions, no I/O. Why these and not mean ± standard error:

* A study has 3 seeds per group. The normal 1.96 would give intervals 2.2x too narrow at
  n = 3, so the Student-t quantile with n - 1 degrees of freedom is used.
* Every sparse group is trained with the same seeds as dense. Pairing run for run by seed
  (d_s = group_s - dense_s) takes out whatever a seed shares across methods (data order,
  initial draw); an unpaired standard error would count that variation twice. Only seeds present
  in both groups pair, so the interval says its n.

The 97.5% quantiles come from a table for df <= 30 (values of scipy.stats.t.ppf(0.975, df),
6 decimals) and a Cornish-Fisher expansion beyond (error < 1e-7 for df > 30), so the report
needs no scipy (it is not among vidsparse's requirements); tests check both against scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import fmean, stdev
from typing import Iterable, Mapping, Sequence

T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
        2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
        2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272)
Z975 = 1.959963984540054  # the normal 97.5% quantile

BETTER, WORSE, NO_EVIDENCE, NOT_AVAILABLE = "better than dense", "worse than dense", "no evidence", "n/a"


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (two-sided 95%)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T975):
        return T975[df - 1]
    z, v = Z975, float(df)
    return (z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * v ** 3)
            + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / (92160 * v ** 4))


@dataclass(frozen=True)
class Interval:
    """A mean of n values with its 95% t-interval; ``lo``/``hi`` are None when n < 2 (no spread)."""

    mean: float
    lo: float | None
    hi: float | None
    n: int

    @classmethod
    def of_mean(cls, mean: float, sd: float | None, n: int) -> "Interval":
        """mean ± t(0.975, n-1) * sd / sqrt(n); no bounds with one value (or no sd)."""
        if n < 2 or sd is None:
            return cls(mean, None, None, n)
        half = t975(n - 1) * sd / math.sqrt(n)
        return cls(mean, mean - half, mean + half, n)


def t_interval(values: Sequence[float]) -> Interval | None:
    """The 95% t-interval of the mean of ``values``; None when there are none."""
    if not values:
        return None
    return Interval.of_mean(fmean(values), stdev(values) if len(values) > 1 else None, len(values))


def per_seed(values: Iterable[tuple[int, float | None]]) -> dict[int, float]:
    """Seed -> value (None skipped); a seed run twice counts once, as the mean of its runs, so it
    is one pair and not two."""
    runs: dict[int, list[float]] = {}
    for seed, value in values:
        if value is not None:
            runs.setdefault(seed, []).append(float(value))
    return {seed: fmean(v) for seed, v in sorted(runs.items())}


def paired_interval(group: Mapping[int, float], base: Mapping[int, float]) -> Interval | None:
    """Mean of group[s] - base[s] over the seeds s both have, with its 95% t-interval."""
    return t_interval([group[s] - base[s] for s in sorted(group.keys() & base.keys())])


def verdict(interval: Interval | None) -> str:
    """"better than dense" when the whole interval is above 0, "worse than dense" when below,
    "no evidence" when it holds 0, "n/a" without an interval (no dense pairs, or n < 2)."""
    if interval is None or interval.lo is None or interval.hi is None:
        return NOT_AVAILABLE
    if interval.lo > 0:
        return BETTER
    if interval.hi < 0:
        return WORSE
    return NO_EVIDENCE
