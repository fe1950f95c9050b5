"""What one evaluated number is of: a (corruption, severity) cell, and the options that make its frames."""

from __future__ import annotations

from dataclasses import dataclass

import torch

CLEAN = "clean"


@dataclass(frozen=True, order=True)
class Cell:
    """One evaluated condition: a corruption at a severity, or the clean input."""

    corruption: str
    severity: int = 0

    @property
    def is_clean(self) -> bool:
        return self.corruption == CLEAN


CLEAN_CELL = Cell(CLEAN)


@dataclass(frozen=True)
class CorruptionOptions:
    """Everything besides (corruption, severity) that decides the corrupted frames."""

    preset: str
    variant: str = "fixed"
    seed: int = 0
    coherent: bool | None = None


def unchanged(clean: torch.Tensor, corrupted: torch.Tensor, batched: bool = False) -> torch.Tensor:
    """Did the corruption leave the frames exactly as they were? (bool; per sample when ``batched``)

    A variant equal to its clean frames (box_jumble with one segment on a short video, a
    packet loss that hit nothing) measures clean accuracy, not robustness: evaluators count
    these samples per cell (``noop_videos`` in eval.json) so the cell is flagged. ``batched``:
    the first dimension is the sample; a shape change (frame_rate) is never a no-op.
    """
    if clean.shape != corrupted.shape:
        return torch.zeros(clean.shape[0] if batched else (), dtype=torch.bool)
    same = clean == corrupted
    return same.flatten(1).all(1) if batched else same.all()
