"""The evaluator of image runs: clean, -C and on-the-fly corrupted accuracy.

Image models take [B, C, H, W], which ``predict_views`` passes through unchanged, so clean,
-C and on-the-fly corrupted images go through the same engine as videos
(``engine.predict_cells``) with a T = 1 "video" per image. The -C formats are read by
``vidsparse.data.corrupted``.

The clean test set of an image run is its dataset's ``DatasetSpec.test_arrays`` (cifar10,
cifar100, tinyimagenet and digits; not imagenet: its validation set is not held in memory, so
ImageNet runs are evaluated on an ImageNet-C tree with ``--corrupted-root``).
"""

from __future__ import annotations

from pathlib import Path

from vidsparse.data.corrupted import c_cell_dataset
from vidsparse.data.image.datasets import ImageArrayDataset, ImageTransform
from vidsparse.data.registry import get_dataset
from vidsparse.errors import UserError
from vidsparse.evaluation.accuracy import evaluate
from vidsparse.evaluation.context import Context
from vidsparse.evaluation.sources import ImageSource
from vidsparse.evaluation.steps import evaluate_adversarial, evaluate_fourier, evaluate_on_the_fly
from vidsparse.models import get_model_entry


def evaluate_image_run(ctx: Context) -> None:
    """Clean + corrupted accuracy of an image run (called by vidsparse.evaluation.run; under DDP on
    every rank, each evaluating its share of the images)."""
    req, cfg = ctx.request, ctx.cfg
    spec = get_model_entry(cfg.model.name).input.for_size(cfg.model.size)
    transform = ImageTransform(spec.size, tuple(spec.mean), tuple(spec.std))
    loader = get_dataset(cfg.data.dataset).test_arrays
    clean = loader(cfg.data) if loader is not None else None
    if clean is not None and ctx.classes and clean.classes != ctx.classes:
        raise UserError(f"the test set's classes differ from those the run was trained on ({cfg.data.dataset})")
    ctx.classes = ctx.classes or (clean.classes if clean else [])
    setting = ctx.setting("1x1")
    todo = ctx.pending(setting)

    if req.corrupted_root is None:
        if clean is None:
            raise UserError(f"the clean test set of image dataset {cfg.data.dataset!r} is not available yet; "
                            "evaluate a -C set with --corrupted-root PATH")
        evaluate_on_the_fly(ctx, ImageSource(clean.images, clean.labels, transform, clean.ids), todo, setting)
    else:
        root = Path(req.corrupted_root)
        for cell in todo:
            if cell.is_clean:
                if clean is None:
                    ctx.record(cell, None, setting, "this image dataset has no clean test set loader yet")
                    continue
                dataset = ImageArrayDataset(clean.images, clean.labels, transform)
            else:
                dataset = c_cell_dataset(root, cell.corruption, cell.severity, ctx.classes, transform)
            acc = None if dataset is None or len(dataset) == 0 else evaluate(
                ctx.model, dataset, ctx.classes, ctx.device, ctx.batch_size, ctx.workers,
                progress=ctx.progress, desc=f"{cell.corruption} s{cell.severity}", world=ctx.world)
            ctx.record(cell, acc, setting, "" if acc else f"absent from {root}",
                       **({} if cell.is_clean else {"source": str(root)}))
    if req.fourier:
        if clean is None:
            raise UserError("--fourier needs the clean test set, which this image dataset does not provide yet")
        evaluate_fourier(ctx, ImageArrayDataset(clean.images, clean.labels, transform), setting, spec.size)
    if req.attack is not None:
        if clean is None:
            raise UserError("--attack needs the clean test set, which this image dataset does not provide yet")
        evaluate_adversarial(ctx, ImageArrayDataset(clean.images, clean.labels, transform), setting,
                             transform.mean, transform.std)
