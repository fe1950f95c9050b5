"""One measured comparison per row, and the registry of the functions that produce them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

MATCHES = "matches"
DIFFERS = "DIFFERS"


@dataclass(frozen=True)
class Row:
    """One corruption (or method) of one preset compared with its reference, per severity.

    ``values`` holds the measured agreement per severity 1..5 in ``unit``; ``rule`` says how they
    are judged against ``tolerance``: "at most" (a distance), "at least" (a percentage of
    identical frames), or "falls" (a PSNR ladder: no severity may be milder than the one
    before by more than ``tolerance``). A deliberate difference names its reason in
    ``deliberate``; its values then measure the size of the difference.
    """

    preset: str
    corruption: str
    reference: str  # repository + file (or paper) the definition comes from
    how: str  # how it was compared
    unit: str
    values: tuple[float, ...]
    tolerance: float
    rule: str = "at most"
    deliberate: str = ""  # reason for a deliberate difference ("" = we follow the reference)
    variant: str = "fixed"
    note: str = ""
    # per severity: the same statistic between two independent runs of the reference itself;
    # a random comparison is within when its gap is at most max(tolerance, 1.5 x this)
    noise_floor: tuple[float, ...] = ()

    def _bound(self, severity_index: int) -> float:
        if self.noise_floor:
            return max(self.tolerance, 1.5 * self.noise_floor[severity_index])
        return self.tolerance

    @property
    def within(self) -> bool:
        if self.rule == "at least":
            return all(v >= self.tolerance for v in self.values)
        if self.rule == "falls":
            return all(b - a <= self.tolerance for a, b in zip(self.values, self.values[1:]))
        return all(v <= self._bound(i) for i, v in enumerate(self.values))

    @property
    def criterion(self) -> str:
        if not self.values:
            return "-"
        if self.rule == "falls":
            return f"each severity at least as damaging (within {self.tolerance:g} {self.unit})"
        if self.noise_floor:
            floors = "/".join(f"{1.5 * n:.3g}" for n in self.noise_floor)
            return f"<= max({self.tolerance:g}, 1.5 x the reference's own run-to-run gap: {floors})"
        return f"{'>=' if self.rule == 'at least' else '<='} {self.tolerance:g}"

    @property
    def status(self) -> str:
        if not self.values:
            return f"not compared ({self.note})" if self.note else "not compared"
        if self.deliberate:
            return f"deliberate difference: {self.deliberate}"
        return MATCHES if self.within else DIFFERS


RowMaker = Callable[["Options"], list[Row]]


@dataclass(frozen=True)
class Options:
    """How much input each comparison uses; ``quick`` is the size the tests run."""

    photos: int = 3  # scikit-image photographs per image comparison
    samples: int = 8  # draws per severity for random corruptions
    clip_frames: int = 16
    quick: bool = False

    @classmethod
    def for_tests(cls) -> "Options":
        return cls(photos=1, samples=4, clip_frames=8, quick=True)


CHECKS: dict[str, RowMaker] = {}


def check(name: str) -> Callable[[RowMaker], RowMaker]:
    """Register a function that measures the rows of one comparison."""
    def register(fn: RowMaker) -> RowMaker:
        if name in CHECKS:
            raise ValueError(f"fidelity check {name!r} registered twice")
        CHECKS[name] = fn
        return fn
    return register


def run_checks(options: Options, names: Sequence[str] | None = None,
               progress: Callable[[str], None] | None = None) -> list[Row]:
    rows: list[Row] = []
    for name in names or list(CHECKS):
        if progress:
            progress(name)
        rows.extend(CHECKS[name](options))
    return rows
