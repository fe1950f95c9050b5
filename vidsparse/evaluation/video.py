"""The evaluator of video runs: clean and corrupted accuracy, on the fly or from a generated set.

From a generated set (``vidsparse corrupt`` output: ``ROOT/<corruption>/<severity>/<source
layout>``), each cell is read with the ordinary dataset reader; absent cells are reported,
not fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from vidsparse.data.build import build_test_set
from vidsparse.data.corrupted import read_manifest
from vidsparse.errors import UserError
from vidsparse.evaluation.accuracy import Accuracy, evaluate
from vidsparse.evaluation.cells import CLEAN_CELL, Cell
from vidsparse.evaluation.context import Context, warn
from vidsparse.evaluation.results import Setting
from vidsparse.evaluation.sources import video_source
from vidsparse.evaluation.steps import evaluate_adversarial, evaluate_fourier, evaluate_on_the_fly
from vidsparse.models import get_model_entry


def evaluate_video(ctx: Context) -> None:
    """Clean and corrupted accuracy of a video run (on the fly, or from ``--corrupted-root``), then the
    Fourier curves and the attack when asked; under DDP on every rank, each on its share of the videos."""
    req, cfg = ctx.request, ctx.cfg
    if req.published_jpeg:
        raise UserError("--published-jpeg applies to image runs (the published ImageNet-C style JPEG files)")
    spec = get_model_entry(cfg.model.name).input
    test = build_test_set(cfg, spec.mean, spec.std, req.views)
    if ctx.classes and test.classes != ctx.classes:
        raise UserError(f"the test set's classes differ from those the run was trained on ({cfg.data.dataset})")
    ctx.classes = ctx.classes or test.classes
    if test.missing:
        warn(f"{test.missing} test videos listed in the split files are missing on disk (skipped)")
    ds = test.dataset
    setting = ctx.setting(f"{ds.spec.num_clips}x{ds.spec.num_crops}")
    if req.corrupted_root is not None:
        setting = _manifest_setting(Path(req.corrupted_root), setting)
    todo = ctx.pending(setting)
    if req.corrupted_root is None:
        evaluate_on_the_fly(ctx, video_source(test), todo, setting)
    else:
        _from_generated(ctx, test, todo, setting)
    if req.fourier:
        evaluate_fourier(ctx, ds, setting, cfg.data.crop)
    if req.attack is not None:
        evaluate_adversarial(ctx, ds, setting, ds.transform.mean, ds.transform.std)


def _manifest_setting(root: Path, setting: Setting) -> Setting:
    """A generated set was made with the seed/variant in its manifest: record those."""
    made = {json.dumps(v, sort_keys=True) for v in read_manifest(root).values()}
    if len(made) != 1:
        return setting
    values = json.loads(made.pop())
    changed = {k: values[k] for k in ("preset", "variant", "seed") if k in values}
    differ = [f"{k} {v}" for k, v in changed.items() if getattr(setting, k) != v]
    if differ:
        warn(f"{root} was made with {', '.join(differ)} (manifest.jsonl); its results are recorded with those")
    return Setting(**{**setting.__dict__, **changed})


def _from_generated(ctx: Context, test, todo: list[Cell], setting: Setting) -> None:
    req = ctx.request
    if CLEAN_CELL in todo:
        acc = evaluate(ctx.model, test.dataset, ctx.classes, ctx.device, ctx.batch_size, ctx.workers,
                       progress=ctx.progress, desc="clean", world=ctx.world)
        ctx.record(CLEAN_CELL, acc, setting)
    root = Path(req.corrupted_root)

    def store(result) -> None:
        ctx.record(result.cell, result.accuracy, setting, result.reason, source=str(root),
                   missing_videos=result.missing_videos)
        if result.accuracy is not None and result.missing_videos:
            warn(f"{result.cell.corruption} severity {result.cell.severity}: {result.missing_videos} videos "
                  f"absent from the generated set (evaluated on the rest)")

    spec = test.dataset.transform
    evaluate_generated(ctx.model, ctx.cfg, spec.mean, spec.std, root, [c for c in todo if not c.is_clean],
                       ctx.classes, req.views, ctx.device, ctx.batch_size, ctx.workers, ctx.progress, store)


@dataclass
class GeneratedCell:
    cell: Cell
    accuracy: Accuracy | None  # None: the cell is absent from the generated set
    missing_videos: int = 0
    reason: str = ""


def evaluate_generated(
    model: nn.Module,
    cfg,
    mean,
    std,
    root: Path,
    cells: Sequence[Cell],
    class_names: list[str],
    views: tuple[int, int] | None,
    device: torch.device,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
    on_result: Callable[[GeneratedCell], None] | None = None,
) -> list[GeneratedCell]:
    """Evaluate each cell from ``root/<corruption>/<severity>/`` with the normal test reader."""
    results = []
    for cell in cells:
        cell_root = Path(root) / cell.corruption / str(cell.severity)
        if not cell_root.is_dir():
            result = GeneratedCell(cell, None, reason=f"{cell_root} does not exist")
        else:
            try:
                test = build_test_set(cfg, mean, std, views, root=cell_root)
            except UserError as err:
                result = GeneratedCell(cell, None, reason=str(err))
            else:
                if test.classes != class_names:
                    raise UserError(f"classes in {cell_root} differ from the run's classes; "
                                    "was the set generated from the run's dataset?")
                if len(test.dataset) == 0:
                    result = GeneratedCell(cell, None, test.missing, reason=f"no test video in {cell_root}")
                else:
                    acc = evaluate(model, test.dataset, class_names, device, batch_size, workers,
                                   progress=progress, desc=f"{cell.corruption} s{cell.severity}")
                    result = GeneratedCell(cell, acc, test.missing)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
