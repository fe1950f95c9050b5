"""The evaluator of image runs: clean, -C and on-the-fly corrupted accuracy.

Image models take [B, C, H, W], which ``predict_views`` passes through unchanged, so clean,
-C and on-the-fly corrupted images go through the same engine as videos
(``engine.predict_cells``) with a T = 1 "video" per image. The -C formats are read by
``vidsparse.data.corrupted``.

The test split is read image by image (``DatasetSpec.read_test_split``): CIFAR's arrays from
memory, ImageNet's and Tiny-ImageNet's files from disk, so memory does not grow with the number
of test images and validation images of any size mix. Each image first gets the dataset's test
preparation (ImageNet: short side 256, centre 224 — the ImageNet-C generation protocol), then is
corrupted on the fly, then the model's transform; ``--published-jpeg`` also saves each corrupted
image as a JPEG (quality 85) and decodes it, as the published files were, so the numbers equal
an evaluation of a ``vidsparse corrupt`` copy (docs/images.md measures the difference without it).
"""

from __future__ import annotations

from pathlib import Path

from vidsparse.data.corrupted import c_cell_dataset
from vidsparse.data.image.datasets import ImageDataset, ImageTransform
from vidsparse.data.image.io import PUBLISHED_JPEG_QUALITY
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
    dataset = get_dataset(cfg.data.dataset)
    test = dataset.read_test_split(cfg.data)
    if ctx.classes and test.classes != ctx.classes:
        raise UserError(f"the test set's classes differ from those the run was trained on ({cfg.data.dataset})")
    if not len(test):
        raise UserError(f"the test split of {cfg.data.dataset} at {cfg.data.root} holds no image")
    ctx.classes = ctx.classes or test.classes
    jpeg = PUBLISHED_JPEG_QUALITY if req.published_jpeg else 0
    if jpeg and dataset.writer != "folder":
        raise UserError(f"--published-jpeg reproduces JPEG -C files (ImageNet-C, Tiny-ImageNet-C); {cfg.data.dataset}'s "
                        "corrupted sets are not JPEG files")
    if jpeg and req.corrupted_root is not None:
        raise UserError("--published-jpeg re-encodes images corrupted on the fly; a --corrupted-root set is read "
                        "as it is")
    # results made with the JPEG save are stored under their own views, never mixed with the others
    setting = ctx.setting(f"1x1 jpeg{jpeg}" if jpeg else "1x1")
    todo = ctx.pending(setting)
    clean = ImageDataset(test, spec.size, spec.mean, spec.std, train=False, prepare=dataset.test_prepare)

    if req.corrupted_root is None:
        evaluate_on_the_fly(ctx, ImageSource(test, transform, dataset.test_prepare, jpeg), todo, setting)
    else:
        root = Path(req.corrupted_root)
        for cell in todo:
            cell_data = clean if cell.is_clean else c_cell_dataset(root, cell.corruption, cell.severity,
                                                                   ctx.classes, transform)
            acc = None if cell_data is None or len(cell_data) == 0 else evaluate(
                ctx.model, cell_data, ctx.classes, ctx.device, ctx.batch_size, ctx.workers,
                progress=ctx.progress, desc=f"{cell.corruption} s{cell.severity}", world=ctx.world)
            ctx.record(cell, acc, setting, "" if acc else f"absent from {root}",
                       **({} if cell.is_clean else {"source": str(root)}))
    if req.fourier:
        evaluate_fourier(ctx, clean, setting, spec.size)
    if req.attack is not None:
        evaluate_adversarial(ctx, clean, setting, transform.mean, transform.std)
