"""Run a function on N gloo ranks in forked processes (fast: no re-import), for collective tests."""

from __future__ import annotations

import multiprocessing
import os
import socket
from typing import Any, Callable


def _rank(rank: int, size: int, port: int, env: dict[str, str], fn: Callable[[], Any], results) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), **env)
    import torch

    from vidsparse.core import distributed

    try:
        distributed.init_from_env(torch.device("cpu"))
        results.put((rank, fn()))
    except Exception as err:  # reported to the test, which fails with it
        results.put((rank, f"error: {err!r}"))
    finally:
        distributed.shutdown()


def run_ranks(fn: Callable[[], Any], size: int = 2, env: dict[str, str] | None = None,
              timeout: float = 90) -> list[Any]:
    """``fn()``'s result on every rank, in rank order (a string starting 'error:' if it raised)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [context.Process(target=_rank, args=(r, size, port, env or {}, fn, results)) for r in range(size)]
    for p in processes:
        p.start()
    outcomes = sorted((results.get(timeout=timeout) for _ in processes), key=lambda item: item[0])
    for p in processes:
        p.join(timeout=30)
    return [value for _, value in outcomes]
