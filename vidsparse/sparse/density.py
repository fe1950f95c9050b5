"""Layer-wise density: how an overall sparsity S is shared among layers.

Pure functions of weight shapes. `layer_counts` turns densities into exact integer counts
whose sum is the rounded global target, so "density 0.5" means the same number of active
weights in every run.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from vidsparse.errors import UserError

Shape = Sequence[int]
DensityFn = Callable[[list[Shape], float, list[bool]], list[float]]
DISTRIBUTIONS: dict[str, DensityFn] = {}


def register_distribution(name: str) -> Callable[[DensityFn], DensityFn]:
    def add(fn: DensityFn) -> DensityFn:
        DISTRIBUTIONS[name] = fn
        return fn
    return add


@register_distribution("uniform")
def uniform(shapes: list[Shape], sparsity: float, dense: list[bool]) -> list[float]:
    """Every layer not kept dense gets density 1 - S (layers kept dense add to the total)."""
    return [1.0 if d else 1.0 - sparsity for d in dense]


def _scaled_raw_densities(raw: list[float], shapes: list[Shape], sparsity: float,
                          dense: list[bool]) -> list[float]:
    """Solve eps * sum_{sparse} raw_l N_l = (1 - S) sum_all N_l - sum_{dense} N_l, moving the
    layers with the largest raw_l to the dense set until every density is <= 1."""
    numels = [math.prod(s) for s in shapes]
    budget_total = (1.0 - sparsity) * sum(numels)
    is_dense = list(dense)
    while True:
        budget = budget_total - sum(n for n, d in zip(numels, is_dense) if d)
        if budget < -1e-9 * budget_total:
            raise UserError(f"sparsity {sparsity} is too high for the layers kept dense; lower "
                            f"it or drop sparse.dense_first_layer / sparse.dense_classifier")
        weight = sum(r * n for r, n, d in zip(raw, numels, is_dense) if not d)
        if weight == 0:  # everything ended up dense
            return [1.0] * len(shapes)
        eps = max(budget, 0.0) / weight
        largest = max(r for r, d in zip(raw, is_dense) if not d)
        if eps * largest <= 1.0:
            return [1.0 if d else eps * r for r, d in zip(raw, is_dense)]
        is_dense = [d or r == largest for r, d in zip(raw, is_dense)]


@register_distribution("erk")
def erdos_renyi_kernel(shapes: list[Shape], sparsity: float, dense: list[bool]) -> list[float]:
    """ERK: raw_l = sum(shape) / prod(shape) over every dim, so any kernel rank works
    (Linear, Conv1d/2d, Conv3d [out, in, kT, kH, kW])."""
    raw = [sum(s) / math.prod(s) for s in shapes]
    return _scaled_raw_densities(raw, shapes, sparsity, dense)


@register_distribution("er")
def erdos_renyi(shapes: list[Shape], sparsity: float, dense: list[bool]) -> list[float]:
    """ER: like ERK but only the two channel dims (out, in) enter raw_l."""
    raw = [(s[0] + s[1]) / (s[0] * s[1]) if len(s) >= 2 else 1.0 for s in shapes]
    return _scaled_raw_densities(raw, shapes, sparsity, dense)


def layer_counts(shapes: list[Shape], densities: list[float]) -> list[int]:
    """Exact active counts: floor(d_l N_l), plus one for the layers with the largest
    remainders until the total equals round(sum d_l N_l) (largest-remainder rounding)."""
    numels = [math.prod(s) for s in shapes]
    ideal = [d * n for d, n in zip(densities, numels)]
    counts = [min(n, math.floor(x + 1e-9)) for x, n in zip(ideal, numels)]
    missing = round(sum(ideal)) - sum(counts)
    by_remainder = sorted(range(len(shapes)), key=lambda i: counts[i] - ideal[i])
    for i in by_remainder:
        if missing <= 0:
            break
        if counts[i] < numels[i]:
            counts[i] += 1
            missing -= 1
    return counts


def distribute(name: str, shapes: list[Shape], sparsity: float, dense: list[bool]) -> list[int]:
    """Active counts per layer for the named distribution."""
    return layer_counts(shapes, DISTRIBUTIONS[name](shapes, sparsity, dense))
