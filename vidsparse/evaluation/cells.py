"""What one evaluated number is of: a (corruption, severity) cell, and the options that make its frames."""

from __future__ import annotations

from dataclasses import dataclass

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
