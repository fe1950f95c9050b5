"""Runs grouped by (dataset, model, method, sparsity), seeds aggregated, each group compared with dense.

Robust accuracy is the mean top-1 over the corruption x severity cells that *every* evaluated
run of that dataset and model has, so runs evaluated on different corruption sets are still
compared on equal terms.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean, stdev
from typing import Iterable, NamedTuple, Sequence

import corruptions
from vidsparse.config import load_run_config
from vidsparse.errors import UserError
from vidsparse.run_dir import RunDir

FLOPS_COLUMN = "train_flops_ratio"  # written per epoch by the sparsifier (vidsparse/sparse/sparsifier.py)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class GroupKey(NamedTuple):
    dataset: str
    model: str
    method: str
    sparsity: float

    @property
    def setting(self) -> tuple[str, str]:
        return self.dataset, self.model

    @property
    def label(self) -> str:
        return "dense" if self.method == "dense" else f"{self.method} s={self.sparsity:g}"


@dataclass
class RunResult:
    path: Path
    key: GroupKey
    seed: int
    clean_top1: float | None
    grid: dict[str, dict[str, float]]  # corruption -> severity -> top-1
    fourier: dict | None = None
    train_flops_ratio: float | None = None
    adversarial: dict[str, float] = field(default_factory=dict)  # "pgd eps=..." -> attacked top-1


def training_flops_ratio(metrics_csv: Path) -> float | None:
    """Training FLOPs relative to dense: the mean of the per-epoch ratios (equal steps per epoch)."""
    if not metrics_csv.is_file():
        return None
    with metrics_csv.open(newline="") as fh:
        values = [float(r[FLOPS_COLUMN]) for r in csv.DictReader(fh) if r.get(FLOPS_COLUMN) not in (None, "")]
    values = [v for v in values if math.isfinite(v)]
    return fmean(values) if values else None


def load_run(path: str | Path) -> RunResult:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"run directory not found: {path}")
    cfg = load_run_config(path)
    data = RunDir(path).read_eval() or {}
    grid = {name: {s: float(cell["top1"]) for s, cell in severities.items()}
            for name, severities in data.get("corruptions", {}).items() if severities}
    method = cfg.sparse.method
    key = GroupKey(cfg.data.dataset, cfg.model.name, method, 0.0 if method == "dense" else float(cfg.sparse.sparsity))
    clean = data.get("clean", {}).get("top1")
    fourier = data.get("fourier") if data.get("fourier", {}).get("low_pass") else None
    adversarial = {f"{name} {setting}": float(e["top1"])
                   for name, entries in data.get("adversarial", {}).items() for setting, e in entries.items()}
    return RunResult(path, key, cfg.train.seed, clean, grid, fourier, training_flops_ratio(RunDir(path).metrics),
                     adversarial)


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float | None  # sample standard deviation; None with a single value
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> "Stat | None":
        vals = [float(v) for v in values if v is not None]
        if not vals:
            return None
        return cls(fmean(vals), stdev(vals) if len(vals) > 1 else None, len(vals))

    def pair(self) -> tuple[float, float | None]:
        return self.mean, self.std


@dataclass(frozen=True)
class Delta:
    """Group mean minus dense mean, with the standard error of that difference."""

    value: float
    spread: float | None

    @classmethod
    def between(cls, group: Stat | None, dense: Stat | None) -> "Delta | None":
        if group is None or dense is None:
            return None
        spread = None
        if group.std is not None and dense.std is not None:
            spread = math.sqrt(group.std ** 2 / group.n + dense.std ** 2 / dense.n)
        return cls(group.mean - dense.mean, spread)


@dataclass
class Group:
    key: GroupKey
    runs: list[RunResult]
    clean: Stat | None = None
    robust: Stat | None = None
    families: dict[str, Stat] = field(default_factory=dict)
    corruptions: dict[str, Stat] = field(default_factory=dict)
    cells: dict[tuple[str, str], Stat] = field(default_factory=dict)
    flops: Stat | None = None
    adversarial: dict[str, Stat] = field(default_factory=dict)  # attack setting -> attacked top-1
    delta_clean: Delta | None = None
    delta_robust: Delta | None = None

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)


def family_of(names: Iterable[str]) -> dict[str, str]:
    """Corruption -> family from the corruptions registry ('other' for unknown names)."""
    families = {}
    for name in names:
        try:
            families[name] = corruptions.info(name)["family"]
        except Exception:  # a name from another tool's -C set
            families[name] = "other"
    return families


def common_cells(runs: Sequence[RunResult]) -> list[tuple[str, str]]:
    """Cells (corruption, severity) present in every run that has any corruption result."""
    evaluated = [r for r in runs if r.grid]
    if not evaluated:
        return []
    sets = [{(c, s) for c, sev in r.grid.items() for s in sev} for r in evaluated]
    shared = set.intersection(*sets)
    if any(s != shared for s in sets):
        warn(f"runs of {evaluated[0].key.dataset}/{evaluated[0].key.model} were evaluated on different "
              f"corruptions; comparing them on the {len(shared)} cells they share")
    return sorted(shared, key=lambda cell: (cell[0], int(cell[1]) if cell[1].isdigit() else cell[1]))


def _run_means(run: RunResult, cells: list[tuple[str, str]], families: dict[str, str]):
    if not cells or not run.grid:
        return None, {}, {}
    robust = fmean(run.grid[c][s] for c, s in cells)
    by_family: dict[str, list[float]] = {}
    by_corruption: dict[str, list[float]] = {}
    for c, s in cells:
        by_family.setdefault(families[c], []).append(run.grid[c][s])
        by_corruption.setdefault(c, []).append(run.grid[c][s])
    return robust, {f: fmean(v) for f, v in by_family.items()}, {c: fmean(v) for c, v in by_corruption.items()}


def aggregate(runs: Sequence[RunResult]) -> list[Group]:
    """Groups sorted by dataset, model, dense first, then method and sparsity."""
    by_key: dict[GroupKey, list[RunResult]] = {}
    for run in runs:
        by_key.setdefault(run.key, []).append(run)
    settings: dict[tuple[str, str], list[RunResult]] = {}
    for run in runs:
        settings.setdefault(run.key.setting, []).append(run)
    shared = {setting: common_cells(rs) for setting, rs in settings.items()}
    families = family_of({c for cells in shared.values() for c, _ in cells})

    groups = []
    for key in sorted(by_key, key=lambda k: (k.dataset, k.model, k.method != "dense", k.method, k.sparsity)):
        members = by_key[key]
        cells = shared[key.setting]
        means = [_run_means(r, cells, families) for r in members]
        group = Group(key, members, clean=Stat.of(r.clean_top1 for r in members),
                      robust=Stat.of(m[0] for m in means),
                      flops=Stat.of(r.train_flops_ratio for r in members))
        for fam in sorted({f for m in means for f in m[1]}):
            group.families[fam] = Stat.of(m[1].get(fam) for m in means)
        for c in sorted({c for m in means for c in m[2]}):
            group.corruptions[c] = Stat.of(m[2].get(c) for m in means)
        for attack in sorted({a for r in members for a in r.adversarial}):
            group.adversarial[attack] = Stat.of(r.adversarial.get(attack) for r in members)
        for c, s in cells:
            group.cells[(c, s)] = Stat.of(r.grid[c][s] for r in members if r.grid)
        groups.append(group)

    dense = {g.key.setting: g for g in groups if g.key.method == "dense"}
    for g in groups:
        base = dense.get(g.key.setting)
        if base is not None and base is not g:
            g.delta_clean = Delta.between(g.clean, base.clean)
            g.delta_robust = Delta.between(g.robust, base.robust)
    return groups
