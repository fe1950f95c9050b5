"""Fidelity to (S)'s offline generator and (Y)'s packet-loss simulator (issue 16, items 7-10)."""

from __future__ import annotations

import pytest
import torch

import corruptions
from corruptions import reference_plans
from corruptions.tables_video import TABLES

SEVERITIES = (1, 2, 3, 4, 5)


@pytest.mark.parametrize("num_frames", [70, 48, 33])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_reverse_sampling_reverses_kept_frames_then_repeats(severity, num_frames):
    rate = TABLES["reverse_sampling"].values[severity - 1]
    plan = reference_plans.our_plan("reverse_sampling", num_frames, severity)
    assert plan == reference_plans.offline_reverse_sampling_plan(num_frames, rate)
    if num_frames % rate:  # the last kept frame opens with a full stutter of r frames
        assert plan[:rate] == [(num_frames - 1) // rate * rate] * rate


def test_reverse_sampling_by_hand():
    # T = 10, r = 4: kept 0 4 8 -> reversed 8 4 0 -> repeated, cut to 10 frames
    assert reference_plans.offline_reverse_sampling_plan(10, 4) == [8, 8, 8, 8, 4, 4, 4, 4, 0, 0]
    assert reference_plans.our_plan("reverse_sampling", 10, 2) == [8, 8, 8, 8, 4, 4, 4, 4, 0, 0]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_temporal_plans_agree_with_the_offline_generator(severity):
    assert reference_plans.temporal_plans_agree(severity, num_frames=70)


def test_translate_crops_from_the_top_left_as_the_offline_generator():
    for severity in SEVERITIES:
        stats = reference_plans.translate_offsets(severity, frames=48, seed=3)
        top = 8 * severity - 1  # randint over [0, 8 s): at most 7 15 23 31 39 px at a 256 px short side
        assert stats.min_offset == 0 and top - 3 <= stats.max_offset <= top, (severity, stats)
        assert abs(stats.mean_offset - top / 2) < 0.15 * top + 0.5, (severity, stats)  # uniform over [0, top]
        if severity <= 4:
            assert stats.border_fraction == 0.0  # the 32 px margin of 256 -> 224 covers offsets up to 31
        else:
            assert 0.1 < stats.border_fraction < 0.6  # an offset past 32 on either axis shows the edge
