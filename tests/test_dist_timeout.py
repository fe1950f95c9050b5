"""Distributed timeouts: a setting for tensor collectives, and no rank held in one while a
single rank does long work (a dataset build in ``in_turns``, an uneven evaluation shard)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.fork_ranks import run_ranks
from vidsparse.core import distributed
from vidsparse.errors import UserError

SLOW_S = 3.0  # rank 0's long work: longer than the collective timeout below
COLLECTIVE_MIN = 1.0 / 60  # one second


def test_timeouts_are_settings_with_generous_defaults(monkeypatch):
    monkeypatch.delenv("VIDSPARSE_DIST_TIMEOUT", raising=False)
    monkeypatch.delenv("VIDSPARSE_DIST_WAIT_TIMEOUT", raising=False)
    assert distributed.collective_timeout() == timedelta(minutes=60)
    assert distributed.wait_timeout() == timedelta(hours=24)
    monkeypatch.setenv("VIDSPARSE_DIST_TIMEOUT", "90")
    assert distributed.collective_timeout() == timedelta(minutes=90)
    for bad in ("soon", "0"):
        monkeypatch.setenv("VIDSPARSE_DIST_TIMEOUT", bad)
        with pytest.raises(UserError, match="VIDSPARSE_DIST_TIMEOUT"):
            distributed.collective_timeout()


def _long_single_rank_work() -> tuple:
    import torch

    world = distributed.current_world()
    built = distributed.in_turns(world, lambda: time.sleep(SLOW_S if world.rank == 0 else 0) or world.rank)
    time.sleep(SLOW_S if world.rank == 1 else 0)  # an uneven shard, then the final gather
    gathered = distributed.gather_objects(built, world)
    total = distributed.sum_across_ranks([1.0], world, torch.device("cpu"))  # the short-timeout group works
    return gathered, total


def test_ranks_wait_for_long_single_rank_work_beyond_the_collective_timeout():
    outcomes = run_ranks(_long_single_rank_work, env={"VIDSPARSE_DIST_TIMEOUT": str(COLLECTIVE_MIN)})
    assert outcomes == [([0, 1], [2.0]), ([0, 1], [2.0])]
