"""Runs grouped by (dataset, model, method, regrowth rule, sparsity), seeds aggregated, each group
compared with dense by seed.

A run whose config sets ``sparse.grow`` explicitly is its own group, named as the papers do
(``mest_r`` = MEST with random regrowth, ``mest_g`` = gradient regrowth), so the two variants are
never averaged together. Robust accuracy averages the cells of ``cells.cell_sets``: the headline
set (COMMON15 for an image setting with more) and all shared cells (the appendix).
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean, stdev
from typing import Callable, Iterable, NamedTuple, Sequence

from vidsparse.config import load_run_config
from vidsparse.data.registry import get_dataset
from vidsparse.errors import UserError
from vidsparse.reporting.cells import Cell, CellSet, RunScores, cell_order, cell_sets, family_of, score_run
from vidsparse.reporting.stats import Interval, paired_interval, per_seed
from vidsparse.run_dir import RunDir

FLOPS_COLUMN = "train_flops_ratio"  # written per epoch by the sparsifier (vidsparse/sparse/sparsifier.py)
GROW_SUFFIX = {"random": "r", "gradient": "g"}  # the papers' names: MEST_R, MEST_G


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class GroupKey(NamedTuple):
    dataset: str
    model: str
    method: str
    sparsity: float
    grow: str = ""  # sparse.grow as set in the config; "" = the method's default rule

    @property
    def setting(self) -> tuple[str, str]:
        return self.dataset, self.model

    @property
    def name(self) -> str:
        """The method with its explicit regrowth rule, e.g. ``mest_g``; the plain method otherwise."""
        return f"{self.method}_{GROW_SUFFIX.get(self.grow, self.grow)}" if self.grow else self.method

    @property
    def label(self) -> str:
        return "dense" if self.method == "dense" else f"{self.name} s={self.sparsity:g}"

    def order(self) -> tuple:
        """Dataset, model, dense first, then method name and sparsity."""
        return self.dataset, self.model, self.method != "dense", self.name, self.sparsity


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
    dense = method == "dense"  # dense ignores sparsity and regrowth: one dense group per setting
    key = GroupKey(cfg.data.dataset, cfg.model.name, method, 0.0 if dense else float(cfg.sparse.sparsity),
                   "" if dense else (cfg.sparse.grow or ""))
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

    def interval(self) -> Interval:
        """The 95% t-interval of the mean over the n runs (what the plots draw)."""
        return Interval.of_mean(self.mean, self.std, self.n)


@dataclass
class View:
    """A group's robustness over one cell set (the headline set, or all shared cells), with the
    paired differences to dense over the same set once ``compare`` has run."""

    cells: CellSet
    scores: list[tuple[int, RunScores]]  # (seed, scores) per run
    robust: Stat | None = None
    rpc: Stat | None = None
    families: dict[str, Stat] = field(default_factory=dict)
    delta_robust: Interval | None = None
    delta_rpc: Interval | None = None
    delta_families: dict[str, Interval] = field(default_factory=dict)

    @classmethod
    def of(cls, cells: CellSet, scores: list[tuple[int, RunScores]]) -> "View":
        view = cls(cells, scores, Stat.of(s.robust for _, s in scores), Stat.of(s.rpc for _, s in scores))
        for fam in sorted({f for _, s in scores for f in s.families}):
            view.families[fam] = Stat.of(s.families.get(fam) for _, s in scores)
        return view

    def by_seed(self, get: Callable[[RunScores], float | None]) -> dict[int, float]:
        return per_seed((seed, get(s)) for seed, s in self.scores)

    def compare(self, dense: "View") -> None:
        """Paired (by seed) differences to the dense group's view of the same cells."""
        def delta(get: Callable[[RunScores], float | None]) -> Interval | None:
            return paired_interval(self.by_seed(get), dense.by_seed(get))

        self.delta_robust = delta(lambda s: s.robust)
        self.delta_rpc = delta(lambda s: s.rpc)
        for fam in self.families:
            found = delta(lambda s: s.families.get(fam))
            if found is not None:
                self.delta_families[fam] = found


@dataclass
class Group:
    key: GroupKey
    runs: list[RunResult]
    headline: View
    all_cells: View  # the same object as ``headline`` unless the setting has a COMMON15 headline
    clean: Stat | None = None
    corruptions: dict[str, Stat] = field(default_factory=dict)
    cells: dict[Cell, Stat] = field(default_factory=dict)
    flops: Stat | None = None
    adversarial: dict[str, Stat] = field(default_factory=dict)  # attack setting -> attacked top-1
    delta_clean: Interval | None = None

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)

    @property
    def robust(self) -> Stat | None:
        return self.headline.robust

    @property
    def rpc(self) -> Stat | None:
        return self.headline.rpc

    @property
    def families(self) -> dict[str, Stat]:
        return self.headline.families

    @property
    def delta_robust(self) -> Interval | None:
        return self.headline.delta_robust

    @property
    def delta_rpc(self) -> Interval | None:
        return self.headline.delta_rpc

    def clean_by_seed(self) -> dict[int, float]:
        return per_seed((r.seed, r.clean_top1) for r in self.runs)

    def compare(self, dense: "Group") -> None:
        """Fill every paired difference to the dense group of the same setting."""
        self.delta_clean = paired_interval(self.clean_by_seed(), dense.clean_by_seed())
        self.headline.compare(dense.headline)
        if self.all_cells is not self.headline:
            self.all_cells.compare(dense.all_cells)


def common_cells(runs: Sequence[RunResult]) -> list[Cell]:
    """Cells (corruption, severity) present in every run that has any corruption result."""
    evaluated = [r for r in runs if r.grid]
    if not evaluated:
        return []
    sets = [{(c, s) for c, sev in r.grid.items() for s in sev} for r in evaluated]
    shared = set.intersection(*sets)
    if any(s != shared for s in sets):
        warn(f"runs of {evaluated[0].key.dataset}/{evaluated[0].key.model} were evaluated on different "
             f"corruptions; comparing them on the {len(shared)} cells they share")
    return sorted(shared, key=cell_order)


def is_image(dataset: str) -> bool:
    try:
        return get_dataset(dataset).kind == "image"
    except UserError:  # a dataset this version does not know: no image convention applies
        return False


def _group(key: GroupKey, members: list[RunResult], sets: tuple[CellSet, CellSet], families: dict[str, str]) -> Group:
    def view(cells: CellSet) -> View:
        return View.of(cells, [(r.seed, score_run(r.grid, r.clean_top1, cells.cells, families)) for r in members])

    headline, every = sets
    all_view = view(every)
    group = Group(key, members, view(headline) if headline != every else all_view, all_view,
                  clean=Stat.of(r.clean_top1 for r in members), flops=Stat.of(r.train_flops_ratio for r in members))
    for c in sorted({c for _, s in all_view.scores for c in s.corruptions}):
        group.corruptions[c] = Stat.of(s.corruptions.get(c) for _, s in all_view.scores)
    for attack in sorted({a for r in members for a in r.adversarial}):
        group.adversarial[attack] = Stat.of(r.adversarial.get(attack) for r in members)
    for c, s in every.cells:
        group.cells[(c, s)] = Stat.of(r.grid[c][s] for r in members if r.grid)
    seeds = [r.seed for r in members]
    if len(set(seeds)) < len(seeds):
        warn(f"{key.dataset}/{key.model} {key.label} has a seed more than once ({sorted(seeds)}); "
             f"its runs are averaged per seed before pairing with dense")
    return group


def aggregate(runs: Sequence[RunResult]) -> list[Group]:
    """Groups sorted by dataset, model, dense first, then method name and sparsity; every sparse
    group compared with the dense group of its setting, paired by seed."""
    by_key: dict[GroupKey, list[RunResult]] = {}
    settings: dict[tuple[str, str], list[RunResult]] = {}
    for run in runs:
        by_key.setdefault(run.key, []).append(run)
        settings.setdefault(run.key.setting, []).append(run)
    sets = {setting: cell_sets(common_cells(rs), is_image(setting[0])) for setting, rs in settings.items()}
    families = family_of({c for _, every in sets.values() for c, _ in every.cells})
    groups = [_group(key, by_key[key], sets[key.setting], families) for key in sorted(by_key, key=GroupKey.order)]
    dense = {g.key.setting: g for g in groups if g.key.method == "dense"}
    for g in groups:
        base = dense.get(g.key.setting)
        if base is not None and base is not g:
            g.compare(base)
    return groups


def by_setting(groups: Sequence[Group]) -> dict[tuple[str, str], list[Group]]:
    """Groups per (dataset, model), in report order."""
    out: dict[tuple[str, str], list[Group]] = {}
    for g in groups:
        out.setdefault(g.key.setting, []).append(g)
    return out
