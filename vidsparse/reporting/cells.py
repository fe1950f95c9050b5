"""Which corruption x severity cells a robust accuracy averages, and one run's scores over them.

Robust accuracy is the mean top-1 over the cells that *every* evaluated run of a setting
(dataset, model) has, so runs evaluated on different corruption sets are still compared on
equal terms. For an image setting whose shared cells hold the 15 common corruptions and others
besides (the 19 of CIFAR-10-C, ImageNet-C), the headline averages the 15 only: the convention of
the ImageNet-C / CIFAR-10-C papers and of RobustBench, so the numbers compare with published
ones. The report repeats its numbers over all shared cells in an appendix. Video settings have
no such subset and use all shared cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import fmean
from typing import Iterable, Mapping, Sequence

import corruptions
from corruptions.selection import COMMON15
from vidsparse.evaluation.results import severity_order

Cell = tuple[str, str]  # (corruption, severity)


def cell_order(cell: Cell) -> tuple:
    return cell[0], int(cell[1]) if cell[1].isdigit() else cell[1]


@dataclass(frozen=True)
class CellSet:
    """The cells one robust accuracy averages, and what they are called in the report."""

    cells: tuple[Cell, ...]
    name: str  # "common15" | "all shared"

    def describe(self) -> str:
        """E.g. "common15: 75 cells (15 corruptions x severities 1,2,3,4,5)"."""
        names = {c for c, _ in self.cells}
        severities = ",".join(severity_order({s for _, s in self.cells})) or "-"
        return f"{self.name}: {len(self.cells)} cells ({len(names)} corruptions x severities {severities})"


def cell_sets(shared: Sequence[Cell], image: bool) -> tuple[CellSet, CellSet]:
    """(headline, all shared cells) of a setting; the two are equal unless the COMMON15 rule applies."""
    every = CellSet(tuple(sorted(shared, key=cell_order)), "all shared")
    names = {c for c, _ in shared}
    if image and set(COMMON15) <= names and names - set(COMMON15):
        return CellSet(tuple(cell for cell in every.cells if cell[0] in COMMON15), "common15"), every
    return every, every


def family_of(names: Iterable[str]) -> dict[str, str]:
    """Corruption -> family from the corruptions registry ('other' for unknown names)."""
    families = {}
    for name in names:
        try:
            families[name] = corruptions.info(name)["family"]
        except Exception:  # a name from another tool's -C set
            families[name] = "other"
    return families


@dataclass(frozen=True)
class RunScores:
    """One run over one cell set: robust top-1, rPC (robust / clean) and means per family and corruption."""

    robust: float | None = None
    rpc: float | None = None
    families: dict[str, float] = field(default_factory=dict)
    corruptions: dict[str, float] = field(default_factory=dict)


def score_run(grid: Mapping[str, Mapping[str, float]], clean: float | None, cells: Sequence[Cell],
              families: Mapping[str, str]) -> RunScores:
    """Means over ``cells`` of a run's top-1 grid (corruption -> severity -> top-1); empty when not evaluated."""
    if not cells or not grid:
        return RunScores()
    robust = fmean(grid[c][s] for c, s in cells)
    by_family: dict[str, list[float]] = {}
    by_corruption: dict[str, list[float]] = {}
    for c, s in cells:
        by_family.setdefault(families[c], []).append(grid[c][s])
        by_corruption.setdefault(c, []).append(grid[c][s])
    return RunScores(robust, robust / clean if clean else None, {f: fmean(v) for f, v in by_family.items()},
                     {c: fmean(v) for c, v in by_corruption.items()})
