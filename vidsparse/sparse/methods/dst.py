"""Dynamic sparse training: every dT steps each layer drops its lowest-scoring active
weights and grows as many of the highest-scoring inactive ones. The methods differ only in
their drop score, their grow score and how many weights a layer holds.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

from vidsparse.errors import UserError
from vidsparse.sparse.density import distribute
from vidsparse.sparse.masks import drop_lowest, grow_highest
from vidsparse.sparse.schedules import cubic_density, decaying_extra, drop_fraction, to_step
from vidsparse.sparse.sparsifier import Sparsifier, check_prune_schedule, register_method
from vidsparse.sparse.targets import SparseTensor


def _gradient(t: SparseTensor) -> Tensor:
    """|dense gradient| (zero for a layer that got none this step)."""
    grad = t.param.grad
    return torch.zeros_like(t.param) if grad is None else grad.detach().abs()


GROW_SCORES: dict[str, Callable[["DynamicSparsifier", SparseTensor], Tensor]] = {
    # Random regrowth draws from the sparsifier's generator, seeded alike on every rank.
    "random": lambda s, t: torch.rand(t.shape, generator=s.generator, device=s.generator.device),
    "gradient": lambda s, t: _gradient(t),
}


class DynamicSparsifier(Sparsifier):
    """Drop-and-grow engine shared by SET, RigL, MEST and GraNet."""

    grows = True
    default_grow = "random"

    def check(self) -> None:
        if self.schedule.last_update is None:
            self.ctx.log(f"sparse: warning: no topology update falls inside this run "
                         f"({self.ctx.total_steps} steps, update_every={self.schedule.every} "
                         f"steps); lower sparse.update_every to let {self.name} change masks")

    def initialize(self) -> None:
        self.random_masks([self.initial_count(t) for t in self.sparse_tensors])

    @property
    def reads_dense_gradient(self) -> bool:
        return self.grow == "gradient"

    def update(self, step: int) -> bool:
        if not self.schedule.is_update(step):
            return False
        if self.reads_dense_gradient and not self._gradients_finite():
            # An AMP overflow step (GradScaler skips the optimizer step too): scores would be
            # inf/NaN, so this update is skipped rather than growing on garbage.
            self.ctx.log(f"sparse: step {step}: non-finite gradients, topology update skipped")
            return False
        alpha = self.drop_fraction_at(step)
        for t in self.sparse_tensors:
            count = self.count_after_update(t, step)
            if count < t.numel or t.active < t.numel:
                self.drop_and_grow(t, alpha, count)
        return True

    def drop_fraction_at(self, step: int) -> float:
        return drop_fraction(step, self.cfg.drop_fraction, self.schedule.update_end, self.cfg.drop_schedule)

    def _gradients_finite(self) -> bool:
        """One sum per gradient (inf and NaN propagate), much cheaper than isfinite()."""
        sums = [t.param.grad.sum() for t in self.sparse_tensors if t.param.grad is not None]
        return not sums or bool(torch.stack(sums).isfinite().all())

    def drop_and_grow(self, t: SparseTensor, alpha: float, count: int) -> None:
        """Leave `count` active: swap floor(alpha * count) weights, and drop any surplus
        first (a shrinking layer, as in MEST's decaying extra density)."""
        swap = self.swap_count(t, alpha, count)
        n_drop = max(0, t.active - count + swap)
        kept = self.drop(t, t.active_mask, n_drop)
        n_kept = t.active - n_drop
        grown = grow_highest(kept, GROW_SCORES[self.grow](self, t), count - n_kept, n_kept)
        self.set_mask(t, grown, active=count)

    def swap_count(self, t: SparseTensor, alpha: float, count: int) -> int:
        """Weights dropped and regrown on top of any surplus: floor(alpha * count)."""
        return math.floor(alpha * count)

    def drop(self, t: SparseTensor, mask: Tensor, n: int) -> Tensor:
        """Remove the n lowest drop scores among active weights."""
        return drop_lowest(mask, self.drop_score(t), n, t.active)

    def drop_score(self, t: SparseTensor) -> Tensor:
        return t.param.detach().abs()

    def initial_count(self, t: SparseTensor) -> int:
        return t.target

    def count_after_update(self, t: SparseTensor, step: int) -> int:
        return t.active


@register_method
class SET(DynamicSparsifier):
    name = "set"
    description = "SET: drop smallest |w|, regrow at random (Mocanu et al. 2018)"

    def drop(self, t: SparseTensor, mask: Tensor, n: int) -> Tensor:
        """With set_signed_drop, drop the weights closest to zero separately among positive
        and negative ones, in proportion to their counts (the SET reference code)."""
        if not self.cfg.set_signed_drop or n <= 0:
            return super().drop(t, mask, n)
        w = t.param.detach()
        positive = mask & (w > 0)
        negative = mask & ~positive
        n_pos, n_neg = int(positive.count_nonzero()), int(negative.count_nonzero())
        n_positive = min(n_pos, max(n - n_neg, round(n * n_pos / max(n_pos + n_neg, 1))))
        magnitude = w.abs()
        return (drop_lowest(positive, magnitude, n_positive)
                | drop_lowest(negative, magnitude, n - n_positive))


@register_method
class RigL(DynamicSparsifier):
    name = "rigl"
    description = "RigL: drop smallest |w|, regrow largest |dense gradient| (Evci et al. 2020)"
    default_grow = "gradient"


@register_method
class MEST(DynamicSparsifier):
    name = "mest"
    description = ("MEST: drop smallest |w| + lambda|grad|, regrow at random, with a decaying "
                   "extra-density soft memory bound (Yuan et al. 2021)")

    @property
    def reads_dense_gradient(self) -> bool:
        return self.grow == "gradient" or self.cfg.mest_lambda > 0

    def drop_score(self, t: SparseTensor) -> Tensor:
        score = t.param.detach().abs()
        if self.cfg.mest_lambda > 0 and t.param.grad is not None and bool(t.param.grad.isfinite().all()):
            score = score + self.cfg.mest_lambda * _gradient(t)
        return score

    def initial_count(self, t: SparseTensor) -> int:
        return self._with_extra(t, 0)

    def count_after_update(self, t: SparseTensor, step: int) -> int:
        return self._with_extra(t, step)

    @property
    def _until(self) -> int:
        return to_step(self.cfg.mest_extra_until, self.ctx.total_steps)

    def _with_extra(self, t: SparseTensor, step: int) -> int:
        """EM&S: the target count plus an extra share that shrinks to zero by
        mest_extra_until; the last update of the run always returns to the target."""
        extra = 0.0 if step == self.schedule.last_update else MEST_EXTRA[self.cfg.mest_schedule](
            step, self.cfg.mest_extra_density, self._until)
        return min(t.numel, round(t.target * (1.0 + extra)))

    def swap_count(self, t: SparseTensor, alpha: float, count: int) -> int:
        """`bounds` (the MEST code's EM&S): prune down to the target (its lower bound), then
        grow up to `count` (its upper bound); the drop fraction does not apply, so once the
        bounds meet (the last stage) the mask no longer changes, as in that code."""
        if self.cfg.mest_schedule == "bounds":
            return max(0, count - t.target)
        return super().swap_count(t, alpha, count)

    def update(self, step: int) -> bool:
        """A scheduled update; or, when no scheduled update is left (none fell late enough,
        or an AMP overflow skipped the last one) and the extra density is due to be gone (at
        the latest on the run's last step), a drop-only trim to the target: the run never
        ends above it. Runs whose last update happened are unchanged (it lands on the target)."""
        if super().update(step):
            return True
        last = self.schedule.last_update
        if ((last is not None and step <= last) or step < min(self._until, self.ctx.total_steps - 1)
                or self.at_target_density):
            return False
        for t in self.sparse_tensors:
            if t.active > t.target:
                self.drop_and_grow(t, 0.0, t.target)
        self.ctx.log(f"sparse: mest step {step}: surplus weights dropped, at target density")
        return True


def _bounds_extra(step: int, extra: float, until: int) -> float:
    """The MEST code's soft memory bound steps down by epoch (its EM&S script: grow-to
    sparsity 0.85-0.875-0.9, prune-to 0.9, stepping at epochs 90 and 120 of 160, i.e. extra
    density 50%, 25%, 0% of the target): here MEST_BOUND_STAGES - 1 equal stages before
    `until`, the extra share falling linearly from stage to stage, and zero from `until` on."""
    if until <= 0 or step >= until:
        return 0.0
    stage = min(step * (MEST_BOUND_STAGES - 1) // until, MEST_BOUND_STAGES - 1)
    return extra * (1.0 - stage / (MEST_BOUND_STAGES - 1))


MEST_BOUND_STAGES = 3
# mest_schedule -> extra density share at a step: linear decay, or the code's stepped bounds.
MEST_EXTRA: dict[str, Callable[[int, float, int], float]] = {
    "linear": decaying_extra,
    "bounds": _bounds_extra,
}


@register_method
class GraNet(DynamicSparsifier):
    name = "granet"
    description = ("GraNet: gradual global magnitude pruning from initial_density on a cubic "
                   "schedule, plus drop/regrow by |gradient| (Liu et al. 2021)")
    default_grow = "gradient"
    prunes = True
    default_prune_scope = "global"

    def check(self) -> None:
        super().check()
        check_prune_schedule(self)
        if self.cfg.initial_density < 1.0 - self.cfg.sparsity:
            raise UserError(f"sparse.initial_density={self.cfg.initial_density} is below the "
                            f"target density {1 - self.cfg.sparsity:.3g}; raise it")
        self.start_counts = distribute(self.cfg.distribution, [t.shape for t in self.tensors],
                                       1.0 - self.cfg.initial_density,
                                       [t.dense for t in self.tensors])
        self.start_counts = [c for c, t in zip(self.start_counts, self.tensors) if not t.dense]

    def initialize(self) -> None:
        self.random_masks(self.start_counts)

    def update(self, step: int) -> bool:
        pruned = self.schedule.is_prune(step)
        if pruned:
            s = self.schedule
            self.prune_to(lambda d0, d1: cubic_density(step, s.prune_start, s.prune_end, d0, d1),
                          self.start_counts)
        return super().update(step) or pruned
