"""Checkpoints: atomic writes, RNG state capture, safe loading, and a clear error for damaged files.

Every load goes through ``safe_load``: ``torch.load(weights_only=True)`` with only the numpy
types of the RNG state allow-listed, so a ``.pt`` from a stranger cannot run code when read.

A resumable checkpoint (``last.pt``) keeps its predecessor as ``last.prev.pt``: a file damaged
after it was written (a full disk, a copy cut short) still leaves one to resume from.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vidsparse.core.io import atomic_write
from vidsparse.errors import UserError


def _numpy_rng_globals() -> list[Any]:
    """The globals numpy's ``get_state()`` tuple pickles to (an uint32 ndarray), under the
    module names both numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) write."""
    reconstruct = np._core.multiarray._reconstruct if hasattr(np, "_core") else np.core.multiarray._reconstruct
    return [np.ndarray, np.dtype, type(np.dtype(np.uint32)),
            (reconstruct, "numpy.core.multiarray._reconstruct"),
            (reconstruct, "numpy._core.multiarray._reconstruct")]


SAFE_GLOBALS = _numpy_rng_globals()


class UnsafeCheckpoint(UserError):
    """A file that names a global outside the allow-list: refused, never retried unsafely."""


def safe_load(path: str | Path, device: torch.device | str = "cpu") -> Any:
    """``torch.load(weights_only=True)``: tensors, containers, numbers, strings and the numpy
    RNG types only. A file that asks for anything else (``os.system``, a class) is refused
    with one line naming it; a damaged file raises the usual exception for the caller."""
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:
            raise
        raise UnsafeCheckpoint(f"{path} refused: it asks to load {found.group(1)}, which is not an allowed "
                               "type (torch.load(weights_only=True)); it may carry code") from None


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def previous_path(path: str | Path) -> Path:
    """Where ``save_checkpoint(..., keep_previous=True)`` moves the file it replaces."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: str | Path, state: dict[str, Any], keep_previous: bool = False) -> Path:
    """Write atomically; with ``keep_previous`` the old file becomes ``NAME.prev.pt`` only
    once the new one is complete, so there is always one whole checkpoint on disk."""
    path = Path(path)

    def write(tmp: Path) -> None:
        torch.save(state, tmp)
        if keep_previous and path.is_file():
            os.replace(path, previous_path(path))

    return atomic_write(path, write)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        return safe_load(path, device)
    except UnsafeCheckpoint:
        raise
    except Exception as err:
        raise UserError(f"checkpoint {path} is unreadable ({type(err).__name__}); it may be truncated") from None


def load_latest_checkpoint(path: str | Path, warn: Callable[[str], None],
                           device: torch.device | str = "cpu") -> dict[str, Any]:
    """``path``, or its kept predecessor when ``path`` is missing or unreadable (with one
    warning); a UserError naming both files when neither loads."""
    path = Path(path)
    candidates = [p for p in (path, previous_path(path)) if p.is_file()]
    if not candidates:
        raise UserError(f"--resume: no checkpoint {path}; start the run without --resume")
    problems = [] if path.is_file() else [f"{path.name} is missing"]
    for candidate in candidates:
        try:
            state = load_checkpoint(candidate, device)
        except UnsafeCheckpoint:
            raise
        except UserError:
            problems.append(f"{candidate.name} is unreadable (truncated?)")
            continue
        if problems:
            warn(f"warning: {'; '.join(problems)}; resuming from {candidate}")
        return state
    raise UserError(f"no readable checkpoint in {path.parent}: {', '.join(problems)}; "
                    "start over with --out NEW_DIR")


def remove_partial_writes(folder: str | Path) -> list[Path]:
    """Delete the temporary files of atomic writes cut short by a hard kill (SIGKILL, power
    loss); call it only when no other process is writing into ``folder``."""
    stale = [p for p in Path(folder).glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink()
    return stale
