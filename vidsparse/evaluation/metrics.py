"""Robustness summary metrics: pure functions on plain dicts and floats.

A *grid* maps corruption name -> severity -> value (accuracy or error as a fraction in
[0, 1]); severities may be ints or the strings ``"1".."5"`` used as JSON keys. Every metric
here is the definition of the paper that introduced it, so numbers can be compared with
published tables:

- mean robust accuracy: flat mean over all evaluated corruption x severity cells (the metric
  of the DST-vs-dense robustness studies);
- mPC / rPC (Hendrycks & Dietterich 2019; Yi et al. 2021): mean over corruptions of the mean
  over severities, and mPC / clean accuracy;
- gamma_a / gamma_r (Schiappa et al. 2023): absolute and relative robustness,
  1 - (A_clean - A_p) and 1 - (A_clean - A_p) / A_clean;
- CE, mCE, relative mCE (Hendrycks & Dietterich 2019) against a baseline model's errors:
  AlexNet for ImageNet-C (table below) or any evaluated run (e.g. the dense model);
- CIFAR-C mean error: 1 - mean accuracy (CIFAR-C has no baseline normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Iterable, Mapping

from corruptions.selection import COMMON15

Grid = Mapping[str, Mapping["str | int", float]]

# AlexNet top-1 errors on ImageNet-C per severity, the normaliser of mCE. Source: Hendrycks &
# Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
# ICLR 2019 (github.com/hendrycks/robustness). Their means over severities are the per-
# corruption AlexNet errors other code bases hard-code (e.g. ALEXNET_ERR in
# google-research/augmix imagenet.py: gaussian_noise 0.886428, ...); tests check that.
ALEXNET_CLEAN_ERROR = 0.4348
ALEXNET_ERRORS: dict[str, tuple[float, float, float, float, float]] = {
    "gaussian_noise": (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    "shot_noise": (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    "impulse_noise": (0.78374, 0.89808, 0.94870, 0.98720, 0.99548),
    "defocus_blur": (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    "glass_blur": (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    "motion_blur": (0.58430, 0.70048, 0.82108, 0.89750, 0.92638),
    "zoom_blur": (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    "snow": (0.71726, 0.88392, 0.86468, 0.91870, 0.94952),
    "frost": (0.61390, 0.79734, 0.88790, 0.89942, 0.93430),
    "fog": (0.67474, 0.76050, 0.84378, 0.87260, 0.94500),
    "brightness": (0.45140, 0.48502, 0.54048, 0.62166, 0.72440),
    "contrast": (0.64548, 0.76150, 0.88874, 0.97760, 0.99270),
    "elastic_transform": (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    "pixelate": (0.52218, 0.54620, 0.73728, 0.87092, 0.91262),
    "jpeg_compression": (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
}
IMAGENET_C_COMMON: tuple[str, ...] = COMMON15  # the 15 corruptions mCE averages (ALEXNET_ERRORS' keys)


def _cells(grid: Grid) -> list[float]:
    values = [float(v) for severities in grid.values() for v in severities.values()]
    if not values:
        raise ValueError("the corruption grid is empty: evaluate at least one corruption first")
    return values


def errors(grid: Grid) -> dict[str, dict[str, float]]:
    """Accuracy grid -> error grid (1 - accuracy)."""
    return {name: {str(s): 1.0 - float(v) for s, v in sev.items()} for name, sev in grid.items()}


# ----------------------------------------------------------------------------------------------
# accuracy-based summaries


def mean_robust_accuracy(grid: Grid) -> float:
    """Flat mean over every evaluated corruption x severity cell."""
    return fmean(_cells(grid))


def corruption_means(grid: Grid) -> dict[str, float]:
    """Mean over severities, per corruption."""
    return {name: fmean(float(v) for v in sev.values()) for name, sev in grid.items() if sev}


def family_means(grid: Grid, family_of: Mapping[str, str]) -> dict[str, float]:
    """Flat mean over the cells of each family; corruptions without a family go to 'other'."""
    groups: dict[str, dict[str, Mapping]] = {}
    for name, severities in grid.items():
        groups.setdefault(family_of.get(name, "other"), {})[name] = severities
    return {family: mean_robust_accuracy(sub) for family, sub in sorted(groups.items())}


def mpc(grid: Grid) -> float:
    """Mean performance under corruption: mean over corruptions of the mean over severities.

    Equals the flat mean when every corruption has the same severities; when some are
    missing it weights each corruption equally, as the published mPC does.
    """
    means = corruption_means(grid)
    if not means:
        raise ValueError("the corruption grid is empty: evaluate at least one corruption first")
    return fmean(means.values())


def rpc(mpc_value: float, clean: float) -> float:
    """Relative performance under corruption, mPC / clean accuracy."""
    if clean <= 0:
        raise ValueError("rPC is undefined for a clean accuracy of 0")
    return mpc_value / clean


def absolute_robustness(clean: float, perturbed: float) -> float:
    """gamma_a = 1 - (A_clean - A_p); 1 means no drop, above 1 means the corruption helped."""
    return 1.0 - (clean - perturbed)


def relative_robustness(clean: float, perturbed: float) -> float:
    """gamma_r = 1 - (A_clean - A_p) / A_clean: the drop as a share of clean accuracy."""
    if clean <= 0:
        raise ValueError("relative robustness is undefined for a clean accuracy of 0")
    return 1.0 - (clean - perturbed) / clean


def mean_error(grid: Grid) -> float:
    """CIFAR-C summary: mean error over all cells (1 - mean robust accuracy)."""
    return 1.0 - mean_robust_accuracy(grid)


# ----------------------------------------------------------------------------------------------
# corruption errors against a baseline


@dataclass(frozen=True)
class Baseline:
    """The errors CE divides by: a clean error and an error grid over corruption x severity."""

    name: str
    clean_error: float
    errors: dict[str, dict[str, float]]

    @classmethod
    def from_accuracy(cls, name: str, clean_top1: float, grid: Grid) -> "Baseline":
        return cls(name, 1.0 - clean_top1, errors(grid))


def alexnet_baseline() -> Baseline:
    """The ImageNet-C normaliser of Hendrycks & Dietterich."""
    grid = {name: {str(s + 1): e for s, e in enumerate(row)} for name, row in ALEXNET_ERRORS.items()}
    return Baseline("AlexNet (ImageNet-C)", ALEXNET_CLEAN_ERROR, grid)


def _shared_severities(model: Mapping, base: Mapping, name: str) -> list[str]:
    model = {str(s): v for s, v in model.items()}
    shared = sorted(set(model) & {str(s) for s in base})
    if not shared:
        raise ValueError(f"corruption {name!r}: the model and the baseline share no severity")
    return shared


def _ce(model_errors: Mapping, baseline_errors: Mapping, name: str) -> float:
    model = {str(s): float(v) for s, v in model_errors.items()}
    base = {str(s): float(v) for s, v in baseline_errors.items()}
    shared = _shared_severities(model, base, name)
    return sum(model[s] for s in shared) / sum(base[s] for s in shared)


def _relative_ce(model_errors: Mapping, clean_error: float, baseline_errors: Mapping,
                 baseline_clean_error: float, name: str) -> float:
    model = {str(s): float(v) for s, v in model_errors.items()}
    base = {str(s): float(v) for s, v in baseline_errors.items()}
    shared = _shared_severities(model, base, name)
    return sum(model[s] - clean_error for s in shared) / sum(base[s] - baseline_clean_error for s in shared)


def corruption_error(model_errors: Mapping, baseline_errors: Mapping, name: str = "") -> float:
    """CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}, over the severities both have."""
    try:
        return _ce(model_errors, baseline_errors, name)
    except ZeroDivisionError:
        raise ValueError(f"corruption {name!r}: the baseline makes no errors, CE is undefined") from None


def relative_corruption_error(model_errors: Mapping, clean_error: float, baseline_errors: Mapping,
                              baseline_clean_error: float, name: str = "") -> float:
    """Relative CE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)."""
    try:
        return _relative_ce(model_errors, clean_error, baseline_errors, baseline_clean_error, name)
    except ZeroDivisionError:
        raise ValueError(f"corruption {name!r}: the baseline loses no accuracy, relative CE is undefined") from None


@dataclass(frozen=True)
class CorruptionErrors:
    ce: dict[str, float]
    relative_ce: dict[str, float]
    mce: float | None  # None when no corruption has a defined CE
    relative_mce: float | None
    baseline: str
    missing: list[str]  # corruptions the model has but the baseline lacks
    undefined: list[str]  # corruptions left out of a mean: the baseline has no error / no drop there


def _defined(fn, *args) -> float | None:
    try:
        return fn(*args)
    except ZeroDivisionError:
        return None


def corruption_errors(accuracy: Grid, clean_top1: float, baseline: Baseline,
                      corruptions: Iterable[str] | None = None) -> CorruptionErrors:
    """CE and relative CE per corruption and their means (mCE, relative mCE).

    ``corruptions`` restricts the mean (ImageNet-C's mCE is over the 15 common corruptions);
    by default it is every corruption both the model and the baseline have. A corruption on
    which the baseline makes no error (CE) or loses no accuracy (relative CE) has no defined
    ratio; it is listed in ``undefined`` and left out of that mean.
    """
    model_errors = errors(accuracy)
    wanted = list(corruptions) if corruptions is not None else list(model_errors)
    shared = [c for c in wanted if c in model_errors and c in baseline.errors]
    if not shared:
        raise ValueError(f"no corruption is evaluated both for the model and for the baseline {baseline.name}")
    ce, rel, undefined = {}, {}, []
    for c in shared:
        value = _defined(_ce, model_errors[c], baseline.errors[c], c)
        relative = _defined(_relative_ce, model_errors[c], 1.0 - clean_top1, baseline.errors[c],
                            baseline.clean_error, c)
        if value is not None:
            ce[c] = value
        if relative is not None:
            rel[c] = relative
        if value is None or relative is None:
            undefined.append(c)
    missing = [c for c in model_errors if c not in baseline.errors]
    return CorruptionErrors(ce, rel, fmean(ce.values()) if ce else None, fmean(rel.values()) if rel else None,
                            baseline.name, missing, undefined)


# ----------------------------------------------------------------------------------------------
# the eval.json "summary" section


def summarize(clean_top1: float, top1: Grid, top5: Grid | None = None,
              family_of: Mapping[str, str] | None = None, baseline: Baseline | None = None,
              ce_corruptions: Iterable[str] | None = None) -> dict:
    """Everything the report needs, from one run's accuracies (fractions)."""
    summary: dict = {
        "mean_robust_top1": mean_robust_accuracy(top1),
        "mpc": mpc(top1),
        "rpc": rpc(mpc(top1), clean_top1) if clean_top1 > 0 else None,
        "mean_error": mean_error(top1),
        "gamma_a": absolute_robustness(clean_top1, mean_robust_accuracy(top1)),
        "gamma_r": relative_robustness(clean_top1, mean_robust_accuracy(top1)) if clean_top1 > 0 else None,
        "by_corruption": corruption_means(top1),
        "cells": sum(len(s) for s in top1.values()),
    }
    if top5:
        summary["mean_robust_top5"] = mean_robust_accuracy(top5)
    if family_of is not None:
        summary["by_family"] = family_means(top1, family_of)
    if baseline is not None:
        result = corruption_errors(top1, clean_top1, baseline, ce_corruptions)
        summary.update(mce=result.mce, relative_mce=result.relative_mce, ce=result.ce,
                       relative_ce=result.relative_ce, ce_baseline=result.baseline, ce_undefined=result.undefined)
    return summary
