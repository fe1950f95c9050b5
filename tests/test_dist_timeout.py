"""Distributed timeouts: a setting for tensor collectives, and no rank held in one while a
single rank does long work (a dataset build in ``in_turns``, an uneven evaluation shard)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from datetime import timedelta

import pytest

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


def _rank(rank: int, port: int, results) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), VIDSPARSE_DIST_TIMEOUT=str(COLLECTIVE_MIN))
    import torch

    try:
        world, _ = distributed.init_from_env(torch.device("cpu"))
        built = distributed.in_turns(world, lambda: time.sleep(SLOW_S if world.rank == 0 else 0) or world.rank)
        time.sleep(SLOW_S if world.rank == 1 else 0)  # an uneven shard, then the final gather
        gathered = distributed.gather_objects(built, world)
        total = distributed.sum_across_ranks([1.0], world, torch.device("cpu"))  # the short-timeout group works
        results.put((rank, gathered, total))
    except Exception as err:  # reported to the test, which fails with it
        results.put((rank, repr(err), None))
    finally:
        distributed.shutdown()


def test_ranks_wait_for_long_single_rank_work_beyond_the_collective_timeout():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_rank, args=(rank, port, results)) for rank in range(2)]
    for p in processes:
        p.start()
    outcomes = sorted(results.get(timeout=60) for _ in processes)
    for p in processes:
        p.join(timeout=30)
    assert outcomes == [(0, [0, 1], [2.0]), (1, [0, 1], [2.0])]
