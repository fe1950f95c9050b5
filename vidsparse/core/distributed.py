"""torchrun support: one process per device, and rank 0 speaks for the job.

``torchrun`` sets RANK / WORLD_SIZE / LOCAL_RANK (and the rendezvous address). Without them
the job is a world of one and every helper here is a no-op, so single-process runs take the
same code path as before and give the same numbers.
"""

from __future__ import annotations

import atexit
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist

from vidsparse.errors import UserError

T = TypeVar("T")
DEFAULT_TIMEOUT_MIN = 60.0  # tensor collectives (per step)
DEFAULT_WAIT_MIN = 24 * 60.0  # barriers and object exchanges: one rank's long work


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def current_world() -> World:
    """The process group's view once initialised, else what the launcher's environment says."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return World(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                 int(os.environ.get("LOCAL_RANK", "0")))


def joined_world() -> World:
    """The process group's world once joined, else a world of one.

    Unlike ``current_world`` it ignores the launcher's variables: collectives need a joined
    group, so code that may run before (or without) ``init_from_env`` asks this.
    """
    if dist.is_available() and dist.is_initialized():
        return current_world()
    return World()


def init_from_env(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun prepared; returns this rank's world and device.

    NCCL for CUDA, gloo otherwise. On CUDA every rank takes the GPU of its LOCAL_RANK, which
    is what one-process-per-GPU launchers expect.
    """
    if not launched_by_torchrun():
        return World(), device
    world = current_world()
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=collective_timeout())
        atexit.register(shutdown)
    return current_world(), device


def _minutes(variable: str, default: float) -> timedelta:
    text = os.environ.get(variable, "")
    try:
        minutes = float(text) if text else default
    except ValueError:
        raise UserError(f"{variable}={text!r} must be a number of minutes") from None
    if not minutes > 0:
        raise UserError(f"{variable}={text!r} must be a positive number of minutes")
    return timedelta(minutes=minutes)


def collective_timeout() -> timedelta:
    """How long a tensor collective (a training step's all-reduce) may wait: VIDSPARSE_DIST_TIMEOUT
    minutes, default 60 (torch's NCCL default of 10 kills a job on one slow step or checkpoint)."""
    return _minutes("VIDSPARSE_DIST_TIMEOUT", DEFAULT_TIMEOUT_MIN)


def wait_timeout() -> timedelta:
    """How long ranks wait for one rank's long work (a dataset build or download, an uneven
    evaluation shard): VIDSPARSE_DIST_WAIT_TIMEOUT minutes, default 24 hours."""
    return _minutes("VIDSPARSE_DIST_WAIT_TIMEOUT", DEFAULT_WAIT_MIN)


_wait_groups: dict[int, Any] = {}


def wait_group() -> Any:
    """A gloo group over all ranks with ``wait_timeout()``, for barriers and object exchanges.

    Waiting ranks sit on the CPU in gloo, not in an NCCL collective whose watchdog would abort
    them after ``collective_timeout()``; objects are pickled either way, so gloo costs nothing.
    Created once per process group (every rank creates it in the same order).
    """
    key = id(dist.group.WORLD)
    if key not in _wait_groups:
        _wait_groups.clear()
        _wait_groups[key] = dist.new_group(backend="gloo", timeout=wait_timeout())
    return _wait_groups[key]


def shutdown() -> None:
    _wait_groups.clear()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/N`` ('2/8' -> (2, 8)): one of N array tasks (SLURM ``--array``, a Kubernetes
    indexed Job) splitting a job without torchrun; None stays None."""
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
        raise UserError(f"--shard expects I/N with 0 <= I < N (e.g. 0/4; SLURM: $SLURM_ARRAY_TASK_ID/N), got {text!r}")
    return int(index), int(count)


def shard_indices(num_items: int, world: World) -> list[int]:
    """This rank's share of an evaluation set: strided, no padding, so every item counts once."""
    return list(range(world.rank, num_items, world.size))


def gather_objects(obj: T, world: World) -> list[T]:
    """Every rank's object, in rank order, on every rank ([obj] outside DDP)."""
    if not world.is_distributed:
        return [obj]
    gathered: list[Any] = [None] * world.size
    dist.all_gather_object(gathered, obj, group=wait_group())  # ranks may arrive far apart
    return gathered


def broadcast_object(obj: T, world: World, src: int = 0) -> T:
    """Rank ``src``'s object on every rank (e.g. a decision only rank 0 may take)."""
    if not world.is_distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, group=wait_group())
    return box[0]


def barrier(world: World) -> None:
    """Wait for every rank, for up to ``wait_timeout()`` (see ``wait_group``)."""
    if world.is_distributed:
        dist.barrier(group=wait_group())


@contextmanager
def process_group(device: torch.device) -> Iterator[tuple[World, torch.device]]:
    """``init_from_env`` for the length of one job.

    On a normal exit every rank meets at a barrier and the group stays up for the next job in
    this process (destroyed at exit): re-creating it would let a fast rank read a slow rank's
    address of the old group from torchrun's store and fail to connect. After an error the
    group is destroyed at once, since waiting for a rank that may have failed would hang.
    """
    created = launched_by_torchrun() and not dist.is_initialized()
    world, device = init_from_env(device)
    try:
        yield world, device
        barrier(world)
    except BaseException:
        if created:
            shutdown()
        raise


def shard_with_padding(order: list[int], world: World) -> list[int]:
    """This rank's share of a training order: strided, after repeating the head of ``order``
    so every rank gets ceil(N / size) items and all ranks take the same number of steps."""
    if not world.is_distributed or not order:
        return order
    total = math.ceil(len(order) / world.size) * world.size
    padded = (order * math.ceil(total / len(order)))[:total]
    return padded[world.rank :: world.size]


def max_across_ranks(values: Sequence[int], world: World, device: torch.device) -> list[int]:
    """Element-wise maximum over ranks in one tiny all_reduce: how ranks agree on a flag
    (stop now, skip this batch) that only some of them raised."""
    if not world.is_distributed:
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.int64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [int(v) for v in tensor.tolist()]


def sum_across_ranks(values: Sequence[float], world: World, device: torch.device) -> list[float]:
    """Element-wise sum over ranks (float64); the values unchanged outside DDP."""
    if not world.is_distributed:
        return list(values)
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast_buffers(module: torch.nn.Module, world: World, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank.

    DDP syncs buffers at the start of each forward, so after the last step of an epoch each
    rank holds statistics of its own batch; evaluation must see the model that rank 0 saves.
    """
    if not world.is_distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=src)


def in_turns(world: World, work: Callable[[], T]) -> T:
    """Run ``work`` on every rank: rank 0 first, then the first rank of each other node, then
    the rest. Data made on first use (synthetic videos, downloads) is then written once per
    filesystem, whether the nodes share one or not, and later ranks find it complete."""
    turn = 0 if world.rank == 0 else 1 if world.local_rank == 0 else 2
    result: Any = None
    for current in range(3):
        if current == turn:
            result = work()
        barrier(world)
    return result
