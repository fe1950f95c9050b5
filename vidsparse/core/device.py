"""The machine a job runs on: which torch device, and how many data-loader workers it can feed."""

from __future__ import annotations

import os

import torch

from vidsparse.errors import UserError

DEFAULT_WORKERS = 4  # data-loader workers a dataset recipe asks for, where the machine has the cores


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; a CUDA device without CUDA is a one-line error."""
    if name in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity mask
        return os.cpu_count() or 1


def default_workers(wanted: int = DEFAULT_WORKERS) -> int:
    """``wanted`` loader workers, but no more than the CPUs available: more only make PyTorch warn
    and the processes compete for the same cores."""
    return min(wanted, available_cpus())


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the GPU has it (same range as fp32: no loss scaling), fp16 otherwise."""
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> torch.autocast:
    """Mixed precision for inference-like work (evaluation, EL2N, attacks) on CUDA; off on the
    CPU, whose numbers stay exactly those of fp32."""
    on = device.type == "cuda"
    return torch.autocast(device.type, dtype=autocast_dtype(device) if on else torch.bfloat16, enabled=on)
