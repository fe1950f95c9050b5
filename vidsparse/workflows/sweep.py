"""Sweeps: a grid YAML expanded into runs, printed for a scheduler or run here, then one report.

A grid file holds ``base:`` (a recipe), ``set:`` (dotted overrides for every run), ``grid:``
(dotted key -> list of values; the runs are the cartesian product), ``variants:`` (a list of
mappings of dotted overrides that belong together, such as a method and its regrowth rule;
each variant is crossed with the grid), ``eval:`` (corruptions,
severities for ``run_eval``) and ``report:`` (default true). Running a sweep again skips
finished runs and resumes interrupted ones, so it is safe to restart after a crash.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import corruptions
from corruptions.selection import parse_severities, select
from vidsparse.config import RunConfig, build_config, load_yaml
from vidsparse.core.checkpoint import load_latest_checkpoint
from vidsparse.data.registry import dataset_defaults as recipe_defaults
from vidsparse.data.registry import get_dataset
from vidsparse.data.video.decoded_cache import decoded_videos_cached
from vidsparse.errors import UserError
from vidsparse.evaluation.run import EvalRequest, run_eval
from vidsparse.reporting.report import build_report
from vidsparse.run_dir import RunDir
from vidsparse.sparse import training_epochs
from vidsparse.training.loop import train

SECTIONS = ("base", "set", "variants", "grid", "eval", "report")
EVAL_KEYS = ("corruptions", "severities")
# Keys already in RunConfig.run_name(); other grid keys are appended to the directory name.
CORRUPTION_CACHE_BYTES = int(os.environ.get("VIDSPARSE_CORRUPTION_CACHE_MB", "2048")) << 20
NAMED_KEYS = ("data.dataset", "model.name", "sparse.method", "sparse.sparsity", "train.seed")


@dataclass
class SweepSpec:
    base: str | None = None
    sets: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    variants: list[dict[str, Any]] = field(default_factory=list)  # [] = one variant with no overrides
    eval: dict[str, str] | None = None  # None = clean accuracy only (what the report needs)
    report: bool = True


@dataclass
class SweepRun:
    cfg: RunConfig
    overrides: dict[str, Any]  # set + this run's grid values, as given to 'vidsparse train --set'

    @property
    def run_dir(self) -> Path:
        return self.cfg.run_dir()


def _mapping(data: Any, what: str, path: Path) -> dict:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UserError(f"{path}: '{what}:' must be a mapping of dotted keys, e.g. {what}: {{train.epochs: 2}}")
    return dict(data)


def load_sweep(path: str | Path) -> SweepSpec:
    path = Path(path)
    data = load_yaml(path)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise UserError(f"{path}: unknown section {unknown[0]!r}; valid sections: {', '.join(SECTIONS)}")
    grid = _mapping(data.get("grid"), "grid", path)
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"{path}: grid key {key!r} needs a non-empty list, e.g. {key}: [a, b]")
    variants = data.get("variants")
    variants = [] if variants is None else variants
    if not isinstance(variants, list) or not all(isinstance(v, Mapping) and v for v in variants):
        raise UserError(f"{path}: 'variants:' must be a list of mappings of dotted keys, e.g. "
                        "variants: [{sparse.method: mest, sparse.grow: random}, {sparse.method: rigl}]")
    clash = sorted({k for v in variants for k in v} & set(grid))
    if clash:
        raise UserError(f"{path}: {clash[0]!r} is both a grid key and a variant key; keep it in one of them")
    eval_spec = data.get("eval")
    if eval_spec is not None:
        eval_spec = _mapping(eval_spec, "eval", path)
        bad = sorted(set(eval_spec) - set(EVAL_KEYS))
        if bad:
            raise UserError(f"{path}: unknown eval key {bad[0]!r}; valid keys: {', '.join(EVAL_KEYS)}")
        eval_spec = {k: ",".join(map(str, v)) if isinstance(v, list) else str(v)
                     for k, v in eval_spec.items() if v is not None}
    base = data.get("base")
    if base is not None:
        base_path = Path(str(base))
        # A relative recipe path is tried as given (from the working directory), then next to the grid file.
        base = os.path.normpath(base_path if base_path.is_file() or base_path.is_absolute() else path.parent / base_path)
    return SweepSpec(base=base, sets=_mapping(data.get("set"), "set", path), grid=grid,
                     variants=[dict(v) for v in variants], eval=eval_spec, report=bool(data.get("report", True)))


def _dir_suffix(combo: Mapping[str, Any]) -> str:
    return "".join(f"-{key.rsplit('.', 1)[-1]}{value}" for key, value in combo.items() if key not in NAMED_KEYS)


def expand(spec: SweepSpec, out_root: str | Path, dataset_defaults: Callable | None = None) -> list[SweepRun]:
    """Every variant x grid combination as a resolved config; all are built first so a bad key
    fails early."""
    dataset_defaults = dataset_defaults or recipe_defaults
    runs: dict[Path, SweepRun] = {}
    keys = list(spec.grid)
    for variant, values in itertools.product(spec.variants or [{}], itertools.product(*(spec.grid[k] for k in keys))):
        combo = {**variant, **dict(zip(keys, values))}
        overrides = {**spec.sets, **combo}
        cfg = build_config(spec.base, overrides, dataset_defaults=dataset_defaults)
        if cfg.sparse.method == "dense" and "sparse.sparsity" in overrides:
            # Dense training has no sparsity: every sparsity value would repeat the same run.
            del overrides["sparse.sparsity"]
            combo.pop("sparse.sparsity", None)
            cfg = build_config(spec.base, overrides, dataset_defaults=dataset_defaults)
        cfg.train.out = str(Path(out_root) / (cfg.run_name() + _dir_suffix(combo)))
        runs.setdefault(cfg.run_dir(), SweepRun(cfg, overrides))
    return list(runs.values())


# ----------------------------------------------------------------------------------------------
# commands for a scheduler


def _set_text(key: str, value: Any) -> str:
    """``key=value`` that ``--set`` reads back (as YAML) to the same value."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = "" if value is None else str(value)
    return shlex.quote(f"{key}={text}")


def train_command(run: SweepRun, base: str | None) -> str:
    parts = ["vidsparse", "train"]
    if base:
        parts += ["--config", shlex.quote(base)]
    for key, value in run.overrides.items():
        parts += ["--set", _set_text(key, value)]
    return " ".join(parts + ["--out", shlex.quote(str(run.run_dir))])


def eval_command(run: SweepRun, eval_spec: Mapping[str, str] | None) -> str:
    parts = ["vidsparse", "eval", "--run", shlex.quote(str(run.run_dir))]
    for key, value in (eval_spec or {}).items():
        parts += [f"--{key}", shlex.quote(value)]
    return " ".join(parts)


def report_command(runs: list[SweepRun], out_root: str | Path) -> str:
    dirs = " ".join(shlex.quote(str(r.run_dir)) for r in runs)
    return f"vidsparse report {dirs} --out {shlex.quote(str(Path(out_root) / 'report'))}"


def commands(spec: SweepSpec, runs: list[SweepRun], out_root: str | Path) -> list[str]:
    """Train commands first (independent: one array task each), then evals, then the report."""
    lines = [train_command(r, spec.base) for r in runs]
    if spec.eval is not None or spec.report:
        lines += [eval_command(r, spec.eval) for r in runs]
    if spec.report:
        lines.append(report_command(runs, out_root))
    return lines


# ----------------------------------------------------------------------------------------------
# running here


def has_checkpoint(run_dir: Path) -> bool:
    return RunDir(run_dir).has_last()


def trained_epochs(run_dir: Path) -> int:
    """Completed epochs in the newest readable checkpoint (0 = none, or only part of epoch 1)."""
    if not has_checkpoint(run_dir) or not RunDir(run_dir).metrics.is_file():
        return 0
    try:
        return int(load_latest_checkpoint(RunDir(run_dir).last, warn=lambda _: None)["epoch"])
    except UserError:
        return 0


def eval_complete(run: SweepRun, eval_spec: Mapping[str, str] | None) -> bool:
    """eval.json holds clean accuracy and every requested corruption x severity cell."""
    data = RunDir(run.run_dir).read_eval()
    if data is None or "top1" not in data.get("clean", {}):
        return False
    spec = eval_spec or {}
    selected, _ = select(spec.get("corruptions"), get_dataset(run.cfg.data.dataset).default_preset, one_preset=True)
    names = [s.name for s in selected]
    severities = parse_severities(spec.get("severities")) if names else []
    done = data.get("corruptions", {})
    return all(str(s) in done.get(name, {}) for name in names for s in severities)


@dataclass
class SweepOutcome:
    trained: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    evaluated: list[Path] = field(default_factory=list)
    report: Path | None = None


def run_sweep(spec: SweepSpec, runs: list[SweepRun], out_root: str | Path,
              log: Callable[[str], None] = print) -> SweepOutcome:
    """Train (or resume) and evaluate each run in turn, then write the report over all of them."""
    outcome = SweepOutcome()
    # Every run sees the same seeded corruptions and the same decoded videos: after the first run
    # both come from memory.
    decode_cache = max((run.cfg.data.decode_cache_mb for run in runs), default=0) << 20
    with corruptions.cached(max_bytes=CORRUPTION_CACHE_BYTES), decoded_videos_cached(decode_cache):
        _train_and_evaluate(spec, runs, outcome, log)
    if spec.report:
        outcome.report = build_report([r.run_dir for r in runs], Path(out_root) / "report").markdown
    return outcome


def _train_and_evaluate(spec: SweepSpec, runs: list[SweepRun], outcome: SweepOutcome,
                        log: Callable[[str], None]) -> None:
    for i, run in enumerate(runs, 1):
        run_dir = run.run_dir
        epochs = trained_epochs(run_dir)
        if epochs >= training_epochs(run.cfg.sparse, run.cfg.train.epochs)[0]:  # LTH/IMP: rounds x epochs
            outcome.skipped.append(run_dir)
            log(f"[{i}/{len(runs)}] {run_dir}: trained")
        else:
            resume = has_checkpoint(run_dir)  # also a mid-epoch checkpoint of the first epoch
            if not resume:
                RunDir(run_dir).metrics.unlink(missing_ok=True)  # rows of an epoch whose checkpoint was never written
            log(f"[{i}/{len(runs)}] {run_dir}: " + (f"resuming at epoch {epochs}" if resume else "training"))
            train(run.cfg, resume=resume, log=log)
            outcome.trained.append(run_dir)
        wants_eval = spec.eval is not None or spec.report
        if wants_eval and (run_dir in outcome.trained or not eval_complete(run, spec.eval)):
            spec_eval = spec.eval or {}
            run_eval(EvalRequest(run_dir=run_dir, device=run.cfg.train.device,
                                 corruptions=spec_eval.get("corruptions"), severities=spec_eval.get("severities")))
            outcome.evaluated.append(run_dir)
