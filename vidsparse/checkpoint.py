"""Checkpoints: atomic writes, RNG state capture, and a clear error for damaged files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidsparse.errors import UserError
from vidsparse.io_utils import atomic_torch_save


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


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    return atomic_torch_save(path, state)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        # Our checkpoints hold RNG states and config dicts, not just tensors.
        return torch.load(path, map_location=device, weights_only=False)
    except Exception as err:
        raise UserError(f"checkpoint {path} is unreadable ({type(err).__name__}); it may be truncated") from None
