"""Small pure schedule functions: when to update the topology, how much to drop, how dense
to be. Steps are global optimizer steps, 0-based; windows are [start, end) in steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vidsparse.sparse.config import DEFAULT_UPDATE_EVERY, MIN_UPDATES


def to_step(fraction: float, total_steps: int) -> int:
    """A fraction of training as a step index."""
    return int(round(fraction * total_steps))


def is_update_step(step: int, every: int, start: int, end: int) -> bool:
    """Every `every` steps after `start`, strictly before `end` (nothing to update at start:
    the masks were just initialised)."""
    return start < step < end and (step - start) % every == 0


def last_update_step(every: int, start: int, end: int) -> int | None:
    """The final step at which is_update_step is true, or None if the window is empty."""
    if end - 1 <= start:
        return None
    last = start + ((end - 1 - start) // every) * every
    return last if last > start else None


def auto_every(default_steps: int, window: int) -> int:
    """dT when none is given: the default (RigL's 100 steps, or one epoch), shortened in a
    short run to a quarter of the update/pruning window, so that at least MIN_UPDATES
    updates happen and gradual pruning ends inside the run whatever the run's length."""
    return max(1, min(default_steps, window // MIN_UPDATES))


def drop_fraction(step: int, alpha: float, end: int, kind: str) -> float:
    """Constant alpha, or RigL's cosine decay alpha/2 * (1 + cos(pi * t / T_end))."""
    if kind == "constant":
        return alpha
    return alpha / 2 * (1 + math.cos(math.pi * min(step, end) / max(end, 1)))


def cubic_density(step: int, start: int, end: int, initial: float, final: float) -> float:
    """Zhu & Gupta's cubic schedule in density form:
    d_t = d_f + (d_i - d_f) * (1 - (t - t0) / (t1 - t0))^3, clamped to [t0, t1]."""
    if end <= start:
        return final if step >= start else initial
    progress = min(max((step - start) / (end - start), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


def decaying_extra(step: int, extra: float, until: int) -> float:
    """MEST EM&S soft memory bound: extra density decaying linearly to 0 at `until`."""
    if until <= 0:
        return 0.0
    return extra * max(0.0, 1.0 - step / until)


@dataclass(frozen=True)
class Schedule:
    """The run's schedule in steps, fixed at start-up from config fractions and run size."""

    every: int  # dT in steps
    update_start: int
    update_end: int
    prune_start: int
    prune_end: int  # snapped down to a whole number of dT after prune_start
    total: int

    @classmethod
    def build(cls, every: int, unit: str, steps_per_epoch: int, total_steps: int,
              update_window: tuple[float, float], prune_window: tuple[float, float]) -> "Schedule":
        p0, p1 = (to_step(f, total_steps) for f in prune_window)
        u0, u1 = (to_step(f, total_steps) for f in update_window)
        if every == 0:
            every_steps = auto_every(steps_per_epoch if unit == "epochs" else DEFAULT_UPDATE_EVERY,
                                     max(u1 - u0, p1 - p0))
        else:
            every_steps = every * steps_per_epoch if unit == "epochs" else every
        # The cubic schedule must reach its final density at an update step: t1 = t0 + n*dT
        # with n >= 1 (a window shorter than dT prunes once, straight to the target).
        p1 = p0 + max(1, (p1 - p0) // every_steps) * every_steps
        return cls(every_steps, u0, u1, p0, p1, total_steps)

    def is_update(self, step: int) -> bool:
        return is_update_step(step, self.every, self.update_start, self.update_end)

    def is_prune(self, step: int) -> bool:
        """Pruning steps: every dT after prune_start, up to and including prune_end."""
        return is_update_step(step, self.every, self.prune_start, self.prune_end + 1)

    @property
    def last_update(self) -> int | None:
        return last_update_step(self.every, self.update_start, self.update_end)

    @property
    def reaches_prune_end(self) -> bool:
        """Whether the final pruning step falls inside the run."""
        return self.prune_end < self.total
