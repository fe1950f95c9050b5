"""Image robustness: the -C set readers, image datasets and the evaluator for image runs.

Readers for the two published -C formats:

- ``.npy`` stacks (CIFAR-10-C / CIFAR-100-C): ``ROOT/<corruption>.npy`` uint8 [5 * N, H, W, 3],
  severities 1..5 stacked in order, and ``ROOT/labels.npy`` ([5 * N] or [N]); a set
  ``vidsparse corrupt --severities 1,5`` wrote stacks only those, as its manifest records;
- folders (ImageNet-C / Tiny-ImageNet-C): ``ROOT/<corruption>/<severity>/<class>/<image>``.

Images become model input with an InputSpec-like normalisation (square size, mean, std).
Image models take [B, C, H, W], which ``predict_views`` passes through unchanged, so clean,
-C and on-the-fly corrupted images go through the same engine as videos
(``robustness.predict_cells``) with a T = 1 "video" per image.

The clean test set of an image run comes from ``IMAGE_TEST_SETS[dataset](cfg)``, registered by
``vidsparse.data.registry`` for cifar10, cifar100, tinyimagenet and digits (not imagenet: its
validation set is not held in memory, so ImageNet runs are evaluated on an ImageNet-C tree
with ``--corrupted-root``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vidsparse.errors import UserError

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class ImageTransform:
    """uint8 [C, H, W] -> normalised float [C, size, size]: short side to ``size``, centre crop."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = image.float().div(255)
        h, w = x.shape[-2:]
        if min(h, w) != self.size:
            scale = self.size / min(h, w)
            x = F.interpolate(x[None], size=(max(self.size, round(h * scale)), max(self.size, round(w * scale))),
                              mode="bilinear", align_corners=False, antialias=True)[0]
            h, w = x.shape[-2:]
        top, left = (h - self.size) // 2, (w - self.size) // 2
        x = x[:, top : top + self.size, left : left + self.size]
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std


@dataclass
class ImageArrays:
    """A labelled image set in memory: uint8 [N, H, W, 3] and int labels [N]."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    ids: list[str] | None = None  # per-image seed ids (default: the index); see ImageSource


class ImageArrayDataset(Dataset):
    """(image, label, index) from uint8 [N, H, W, 3] arrays (memory-mapped .npy works)."""

    def __init__(self, images: np.ndarray, labels: Sequence[int], transform: ImageTransform) -> None:
        if len(images) != len(labels):
            raise UserError(f"{len(images)} images but {len(labels)} labels")
        self.images, self.labels, self.transform = images, np.asarray(labels), transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1)  # a copy: memmaps are read-only
        return self.transform(image), int(self.labels[index]), index


def read_image(path: Path) -> torch.Tensor:
    """uint8 [3, H, W] RGB from any image mode (vidsparse.data.image.io: 16-bit >> 8, float rejected)."""
    from vidsparse.data.image.io import read_rgb

    return read_rgb(path)


class ImageFileDataset(Dataset):
    """(image, label, index) from files; an unreadable file gives None (skipped and counted)."""

    def __init__(self, items: Sequence[tuple[Path, int]], transform: ImageTransform) -> None:
        self.items, self.transform = list(items), transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, label = self.items[index]
        try:
            image = read_image(path)
        except Exception:
            return None
        return self.transform(image), label, index


# ----------------------------------------------------------------------------------------------
# -C readers


def c_format(root: Path) -> str:
    """'npy' (CIFAR-C stacks) or 'folder' (ImageNet-C layout)."""
    root = Path(root)
    if (root / "labels.npy").is_file():
        return "npy"
    if any(p.is_dir() for p in root.iterdir()):
        return "folder"
    raise UserError(f"{root} is neither a CIFAR-C style folder (<corruption>.npy + labels.npy) nor an "
                    "ImageNet-C style tree (<corruption>/<severity>/<class>/<image>)")


def stacked_severities(root: Path, corruption: str) -> list[int]:
    """Severities stacked in ``<corruption>.npy``, in order: 1..5 (the published sets), or
    the subset ``vidsparse corrupt --severities`` wrote, as its manifest records."""
    import json

    manifest = Path(root) / "manifest.jsonl"
    severities = [1, 2, 3, 4, 5]
    if manifest.is_file():
        for line in manifest.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            ours = isinstance(row, dict) and row.get("output") == f"{corruption}.npy"
            if ours and isinstance(row.get("severity"), list):
                severities = [int(s) for s in row["severity"]]  # a later row replaces an earlier one
    return severities


def read_npy_cell(root: Path, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Images and labels of one severity from ``<corruption>.npy``; None if the file or the
    severity is absent."""
    root = Path(root)
    path = root / f"{corruption}.npy"
    severities = stacked_severities(root, corruption)
    if not path.is_file() or severity not in severities:
        return None
    images = np.load(path, mmap_mode="r")
    labels = np.load(root / "labels.npy")
    k = len(severities)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise UserError(f"{path}: expected uint8 [{k}*N, H, W, 3], got {images.dtype} {images.shape}")
    if images.shape[0] % k:
        raise UserError(f"{path}: {images.shape[0]} images is not {k} severities x N")
    n = images.shape[0] // k
    if len(labels) not in (n, k * n):
        raise UserError(f"{root / 'labels.npy'}: {len(labels)} labels for {n} images x {k} severities in {path.name}; "
                        "regenerate the set with one --severities list")
    part = slice(severities.index(severity) * n, (severities.index(severity) + 1) * n)
    return images[part], (labels[part] if len(labels) == k * n else labels).astype(np.int64)


def folder_cell_items(root: Path, corruption: str, severity: int,
                      classes: list[str]) -> list[tuple[Path, int]] | None:
    """``(path, label)`` of ``<corruption>/<severity>/<class>/*``; None if the folder is absent.

    Labels follow the run's class list (by folder name), so a -C tree with fewer classes still
    lines up; a class folder the run does not know is an error.
    """
    folder = Path(root) / corruption / str(severity)
    if not folder.is_dir():
        return None
    lookup = {name: i for i, name in enumerate(classes)}
    items = []
    for class_dir in sorted(d for d in folder.iterdir() if d.is_dir()):
        if class_dir.name not in lookup:
            raise UserError(f"class folder {class_dir} is not one of the run's {len(classes)} classes")
        items += [(p, lookup[class_dir.name]) for p in sorted(class_dir.iterdir())
                  if p.suffix.lower() in IMAGE_EXTENSIONS]
    return items


def c_cell_dataset(root: Path, corruption: str, severity: int, classes: list[str],
                   transform: ImageTransform) -> Dataset | None:
    """The dataset of one -C cell in either format; None when the cell is absent."""
    if c_format(root) == "npy":
        cell = read_npy_cell(root, corruption, severity)
        return None if cell is None else ImageArrayDataset(*cell, transform)
    items = folder_cell_items(root, corruption, severity, classes)
    return None if items is None else ImageFileDataset(items, transform)


# ----------------------------------------------------------------------------------------------
# on the fly: images as T = 1 videos through robustness.predict_cells


@dataclass
class ImageSource:
    """Images in memory for on-the-fly corruption, one seed per image.

    ``ids`` seed the corruptions (default: the image's index as text); give the ids a
    generated set used, e.g. ``<class>/<file name>`` for ImageNet-C style folders.
    """

    images: np.ndarray
    labels: np.ndarray
    transform: ImageTransform
    ids: Sequence[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def label(self, index: int) -> int:
        return int(self.labels[index])

    def sample_id(self, index: int) -> str:
        return self.ids[index] if self.ids is not None else str(index)

    def load(self, index: int):
        from vidsparse.evaluation.engine import Sample

        image = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1)  # a copy: memmaps are read-only
        return Sample(image[None], None, self.sample_id(index))

    def plan(self, num_frames: int) -> None:
        """An image is its only frame: nothing to leave out."""
        return None

    def views(self, frames: torch.Tensor, plan: None = None) -> torch.Tensor:
        return self.transform(frames[0])


# ----------------------------------------------------------------------------------------------
# image runs

# dataset name -> cfg -> ImageArrays of the clean test split (registered by the image datasets)
IMAGE_TEST_SETS: dict[str, Callable[[object], ImageArrays]] = {}


def register_image_test_set(name: str, loader: Callable[[object], ImageArrays]) -> None:
    IMAGE_TEST_SETS[name] = loader


def evaluate_image_run(ctx) -> None:
    """Clean + corrupted accuracy of an image run (called by vidsparse.evaluation.run; under DDP on
    every rank, each evaluating its share of the images)."""
    from vidsparse.evaluation.run import evaluate_adversarial, evaluate_fourier, evaluate_on_the_fly
    from vidsparse.evaluation.accuracy import evaluate
    from vidsparse.models import get_model_entry

    req, cfg = ctx.request, ctx.cfg
    spec = get_model_entry(cfg.model.name).input.for_size(cfg.model.size)
    transform = ImageTransform(spec.size, tuple(spec.mean), tuple(spec.std))
    loader = IMAGE_TEST_SETS.get(cfg.data.dataset)
    clean = loader(cfg) if loader is not None else None
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
