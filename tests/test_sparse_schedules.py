"""The pure schedule functions."""

from __future__ import annotations

import math

import pytest

from vidsparse.sparse.schedules import (Schedule, cubic_density, decaying_extra, drop_fraction,
                                        is_update_step, last_update_step)


def test_update_steps_every_dt_inside_the_window():
    steps = [t for t in range(1000) if is_update_step(t, 100, 0, 750)]
    assert steps == [100, 200, 300, 400, 500, 600, 700]
    assert last_update_step(100, 0, 750) == 700
    assert [t for t in range(60) if is_update_step(t, 10, 25, 60)] == [35, 45, 55]
    assert last_update_step(100, 0, 50) is None


def test_drop_fraction_cosine_and_constant():
    assert drop_fraction(0, 0.3, 750, "cosine") == pytest.approx(0.3)
    assert drop_fraction(375, 0.3, 750, "cosine") == pytest.approx(0.15)
    assert drop_fraction(750, 0.3, 750, "cosine") == pytest.approx(0.0)
    assert drop_fraction(250, 0.3, 750, "cosine") == pytest.approx(0.15 * (1 + math.cos(math.pi / 3)))
    assert drop_fraction(500, 0.3, 750, "constant") == 0.3


def test_cubic_density_endpoints_and_shape():
    assert cubic_density(0, 0, 100, 1.0, 0.2) == 1.0
    assert cubic_density(100, 0, 100, 1.0, 0.2) == 0.2
    assert cubic_density(500, 0, 100, 1.0, 0.2) == 0.2
    assert cubic_density(50, 0, 100, 0.8, 0.2) == pytest.approx(0.2 + 0.6 * 0.125)
    # sparsity form from the spec: s_t = s_f + (s_i - s_f) (1 - (t - t0)/(n dT))^3
    s_i, s_f = 0.2, 0.8
    assert 1 - cubic_density(30, 10, 110, 1 - s_i, 1 - s_f) == pytest.approx(
        s_f + (s_i - s_f) * (1 - 20 / 100) ** 3)


def test_decaying_extra():
    assert decaying_extra(0, 0.1, 500) == pytest.approx(0.1)
    assert decaying_extra(250, 0.1, 500) == pytest.approx(0.05)
    assert decaying_extra(900, 0.1, 500) == 0.0


def test_schedule_in_epochs_and_snapped_prune_window():
    s = Schedule.build(2, "epochs", steps_per_epoch=10, total_steps=100,
                       update_window=(0.0, 0.75), prune_window=(0.1, 0.75))
    assert s.every == 20 and (s.update_start, s.update_end) == (0, 75)
    # the pruning window [10, 75) is cut to whole dT: the cubic ends at an update step
    assert (s.prune_start, s.prune_end) == (10, 70)
    assert [t for t in range(100) if s.is_update(t)] == [20, 40, 60]
    assert [t for t in range(100) if s.is_prune(t)] == [30, 50, 70]
    short = Schedule.build(50, "steps", 10, 100, (0, 1), (0.0, 0.2))
    assert [t for t in range(100) if short.is_prune(t)] == [50]  # window < dT: one step
