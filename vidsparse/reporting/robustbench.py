"""``vidsparse report --format robustbench``: evaluated runs in the community's formats.

Image runs (CIFAR-10/100-C, Tiny-ImageNet-C, ImageNet-C) follow RobustBench's corruptions
leaderboard:

* ``<dataset>/corruptions/<run>.json``: its model-info fields (``clean_acc``, ``corruptions_acc``
  as percent strings with two decimals, ``architecture``, ...) plus ours: ``method``,
  ``sparsity``, ``training_flops_ratio`` and the set the headline was computed on.
* ``<dataset>/corruptions/unaggregated_results.csv``: one row per run, two header rows
  (corruption, then severity), accuracies as fractions, the 15 common corruptions x severities
  1-5 in RobustBench's column order; a cell the run was not evaluated on is left empty.

The headline (``corruptions_acc``) is the convention's: the mean over the 15 common
corruptions x 5 severities, never the 4 "extra" ones. It is computed only from the cells
present, and the JSON says how many (``corruptions_cells``: "75/75" for a complete run).

Video runs have no RobustBench board; the video robustness papers report one row per model
with its backbone, clip length and frame sampling, clean accuracy, mPC, rPC and the accuracy
per corruption family. ``video_robustness.csv`` has those columns (accuracies in percent), and
its ``corruption_set`` column names the preset and how many corruptions and severities the row
averages.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Sequence

from corruptions.selection import COMMON15
from vidsparse.config import load_run_config
from vidsparse.core.io import atomic_write_text
from vidsparse.data.registry import get_dataset
from vidsparse.errors import UserError
from vidsparse.evaluation.results import severity_order
from vidsparse.reporting.groups import training_flops_ratio, warn
from vidsparse.run_dir import RunDir

# RobustBench's column order in unaggregated_results.csv (the same 15 as COMMON15).
ROBUSTBENCH_ORDER = ("shot_noise", "motion_blur", "snow", "pixelate", "gaussian_noise", "defocus_blur",
                     "brightness", "fog", "zoom_blur", "frost", "glass_blur", "impulse_noise", "contrast",
                     "jpeg_compression", "elastic_transform")
SEVERITIES = ("1", "2", "3", "4", "5")
HEADLINE_SET = "common15: the 15 ImageNet-C/CIFAR-10-C corruptions x severities 1-5 (the 4 extra ones excluded)"
VIDEO_FIELDS = ("run", "dataset", "backbone", "method", "sparsity", "clip_length", "sampling", "clean", "mPC",
                "rPC", "training_flops_ratio", "corruption_set")
assert set(ROBUSTBENCH_ORDER) == set(COMMON15)


@dataclass
class Evaluated:
    """One run directory with an eval.json: what every format reads."""

    path: Path
    cfg: object
    data: dict
    kind: str  # "image" | "video"

    @property
    def name(self) -> str:
        return self.path.name

    def top1(self, corruption: str, severity: str) -> float | None:
        entry = (self.data.get("corruptions") or {}).get(corruption, {}).get(severity)
        return None if entry is None else float(entry["top1"])

    @property
    def clean(self) -> float | None:
        return (self.data.get("clean") or {}).get("top1")


def load_evaluated(path: str | Path) -> Evaluated:
    run = RunDir(path)
    if not run.path.is_dir():
        raise UserError(f"run directory not found: {run.path}")
    data = run.read_eval()
    if data is None:
        raise UserError(f"{run.path} has no eval.json; evaluate it first with 'vidsparse eval --run {run.path}'")
    cfg = load_run_config(run.path)
    return Evaluated(run.path, cfg, data, get_dataset(cfg.data.dataset).kind)


def _pct2(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.2f}"


def model_info(run: Evaluated) -> dict:
    """RobustBench's model-info record for one image run, with our additions."""
    cells = [run.top1(c, s) for c in ROBUSTBENCH_ORDER for s in SEVERITIES]
    present = [v for v in cells if v is not None]
    cfg = run.cfg
    method = cfg.sparse.method
    return {
        "link": "", "name": run.name, "authors": "", "additional_data": False, "number_forward_passes": 1,
        "dataset": cfg.data.dataset, "venue": "", "architecture": cfg.model.name, "eps": None,
        "clean_acc": _pct2(run.clean), "reported": "", "corruptions_acc": _pct2(fmean(present) if present else None),
        "footnote": f"{method} at sparsity {cfg.sparse.sparsity:g}" if method != "dense" else "dense",
        # ours
        "method": method, "sparsity": 0.0 if method == "dense" else float(cfg.sparse.sparsity),
        "training_flops_ratio": training_flops_ratio(RunDir(run.path).metrics),
        "corruptions_set": HEADLINE_SET, "corruptions_cells": f"{len(present)}/{len(cells)}",
    }


def unaggregated_csv(runs: Sequence[Evaluated]) -> str:
    """Two header rows (corruption, then severity) and one row of fractions per run."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([""] + [c for c in ROBUSTBENCH_ORDER for _ in SEVERITIES])
    writer.writerow([""] + [s for _ in ROBUSTBENCH_ORDER for s in SEVERITIES])
    for run in runs:
        values = [run.top1(c, s) for c in ROBUSTBENCH_ORDER for s in SEVERITIES]
        writer.writerow([run.name] + ["" if v is None else repr(round(v, 6)) for v in values])
    return out.getvalue()


def _families(runs: Sequence[Evaluated]) -> list[str]:
    seen: dict[str, None] = {}
    for run in runs:
        for family in ((run.data.get("summary") or {}).get("by_family") or {}):
            seen.setdefault(family, None)
    return list(seen)


def video_row(run: Evaluated, families: Sequence[str]) -> dict:
    """One row as the video robustness papers lay it out (percent, rPC as a ratio)."""
    cfg, summary = run.cfg, run.data.get("summary") or {}
    grid = run.data.get("corruptions") or {}
    sevs = severity_order({s for sev in grid.values() for s in sev})
    preset = summary.get("preset") or "-"
    row = {
        "run": run.name, "dataset": cfg.data.dataset, "backbone": cfg.model.name, "method": cfg.sparse.method,
        "sparsity": 0.0 if cfg.sparse.method == "dense" else cfg.sparse.sparsity, "clip_length": cfg.data.clip_len,
        "sampling": f"stride {cfg.data.stride}, {cfg.data.test_clips}x{cfg.data.test_crops} views",
        "clean": _pct2(run.clean), "mPC": _pct2(summary.get("mpc")),
        "rPC": None if summary.get("rpc") is None else f"{summary['rpc']:.3f}",
        "training_flops_ratio": training_flops_ratio(RunDir(run.path).metrics),
        "corruption_set": f"{preset}: {len(grid)} corruptions x severities {','.join(sevs) or '-'}",
    }
    by_family = summary.get("by_family") or {}
    row.update({family: _pct2(by_family.get(family)) for family in families})
    return row


def video_csv(runs: Sequence[Evaluated]) -> str:
    families = _families(runs)
    out = io.StringIO()
    writer = csv.DictWriter(out, [*VIDEO_FIELDS, *families], lineterminator="\n")
    writer.writeheader()
    for run in runs:
        writer.writerow({k: "" if v is None else v for k, v in video_row(run, families).items()})
    return out.getvalue()


def write_robustbench(run_dirs: Sequence[str | Path], out: str | Path) -> list[Path]:
    """Write every file of the format under ``out``; the paths written, in order."""
    runs = [load_evaluated(p) for p in run_dirs]
    out = Path(out)
    written: list[Path] = []
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise UserError("two runs share a directory name; RobustBench rows are keyed by it: rename one")
    images = [r for r in runs if r.kind == "image"]
    for dataset in dict.fromkeys(r.cfg.data.dataset for r in images):
        group = [r for r in images if r.cfg.data.dataset == dataset]
        folder = out / dataset / "corruptions"
        folder.mkdir(parents=True, exist_ok=True)
        for run in group:
            info = model_info(run)
            if info["corruptions_cells"] != "75/75":
                warn(f"{run.name}: corruptions_acc averages {info['corruptions_cells']} of the common15 cells; "
                     f"evaluate it with --corruptions common15 --severities 1-5 for the leaderboard's number")
            written.append(atomic_write_text(folder / f"{run.name}.json", json.dumps(info, indent=2) + "\n"))
        written.append(atomic_write_text(folder / "unaggregated_results.csv", unaggregated_csv(group)))
    videos = [r for r in runs if r.kind == "video"]
    if videos:
        out.mkdir(parents=True, exist_ok=True)
        written.append(atomic_write_text(out / "video_robustness.csv", video_csv(videos)))
    return written
