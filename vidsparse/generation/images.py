"""Corrupted copies of image datasets, as the published -C sets are laid out.

CIFAR test batches become CIFAR-10-C style ``<corruption>.npy`` + ``labels.npy``; ImageNet /
Tiny-ImageNet class folders become ``<corruption>/<severity>/<class>/<image>`` JPEGs (quality
85). Images are seeded by the ids the on-the-fly evaluation uses, so both agree bit for bit.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import corruptions
from vidsparse.core.io import atomic_write
from vidsparse.data.image.datasets import Prepare
from vidsparse.data.image.io import PUBLISHED_JPEG_QUALITY, read_rgb
from vidsparse.data.image.readers import CIFAR, annotation_rows, cifar_batch, cifar_folder, class_tree
from vidsparse.data.registry import get_dataset
from vidsparse.errors import UserError
from vidsparse.generation.config import JobConfig, Summary
from vidsparse.generation.manifest import Manifest, failure_row, output_row, sha256_file, sha256_tree

JPEG_QUALITY = PUBLISHED_JPEG_QUALITY  # ImageNet-C / Tiny-ImageNet-C


@dataclass(frozen=True)
class ArrayTask:
    """CIFAR: every severity of one corruption over the whole test batch -> one .npy."""

    source: str
    name: str
    preset: str | None
    severities: tuple[int, ...]
    images: np.ndarray  # uint8 [N, 32, 32, 3]
    out: Path
    variant: str
    seed: int

    @property
    def size(self) -> int:
        """Outputs this task stands for (for the progress bar): one per severity."""
        return len(self.severities)

    @property
    def targets(self) -> tuple[str, ...]:
        return (f"{self.name}.npy",)


@dataclass(frozen=True)
class FolderTask:
    """ImageNet / Tiny-ImageNet: one class folder at one (corruption, severity)."""

    source: str  # class folder, relative to the data root
    label: str  # class name; images are seeded by "<class>/<file name>"
    images: tuple[tuple[Path, str], ...]  # (file, output name)
    name: str
    preset: str | None
    severity: int
    output: str  # <corruption>/<severity>/<class>
    out: Path
    variant: str
    seed: int
    prepare: Prepare | None  # the dataset's test preparation (ImageNet-C: ResizeCrop(256, 224)) before corrupting

    size = 1  # outputs this task writes (for the progress bar)

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.output,)


def load_cifar(dataset: str, root: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 [N, 32, 32, 3], labels int64 [N], source path) of the CIFAR test batch,
    parsed by the training reader so both see the same images in the same order."""
    layout = CIFAR[dataset]
    path = cifar_folder(layout, root) / layout.test_file
    if not path.is_file():
        raise UserError(f"no CIFAR test batch at {root / layout.folder / layout.test_file} (or "
                        f"{root / layout.test_file}); extract the python version there")
    images, labels = cifar_batch(path, layout.label_key)
    return np.ascontiguousarray(images), labels, str(path.relative_to(root))


def corrupt_array(task: ArrayTask) -> list[dict[str, Any]]:
    """Each image on its own (T = 1), seeded by its index in the test set: the ids and the
    apply arguments the on-the-fly evaluation uses (``ImageSource``), so a generated set and
    on-the-fly corruption agree bit for bit. One call per image, since a call draws from one
    generator: 200 images x 5 severities take 0.08 s (gaussian_noise) to 1.3 s (jpeg)."""
    output = f"{task.name}.npy"
    try:
        images = torch.from_numpy(task.images).permute(0, 3, 1, 2)
        stacked = np.empty((len(task.severities), *task.images.shape), np.uint8)
        params, info = [], None
        for k, severity in enumerate(task.severities):
            for index, image in enumerate(images):
                corrupted, info = corruptions.apply_with_info(
                    image, task.name, severity, seed=task.seed, preset=task.preset, variant=task.variant,
                    video_id=str(index),
                )
                stacked[k, index] = corrupted.permute(1, 2, 0).numpy()
            params.append(info.params)
        target = task.out / output
        _atomic_npy(target, stacked.reshape(-1, *task.images.shape[1:]))
        row = output_row(task.source, output, info, sha256_file(target))
        row.update(severity=list(task.severities), parameters=params, frames_in=len(images), frames_out=len(images))
        return [row]
    except Exception as err:
        return [failure_row(task.source, output, err)]


def _atomic_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.save would append .npy to the temporary name
            np.save(handle, array)

    atomic_write(path, write)


def image_folders(dataset: str, root: Path) -> tuple[Path, dict[str, list[Path]]]:
    """Class -> image files: ``root/val/<class>/`` (or ``root/<class>/``, images also in sub-folders),
    or Tiny-ImageNet's original ``val/images/`` + ``val/val_annotations.txt``; read with the
    dataset readers' functions (``data.image.readers``)."""
    base = root / "val" if (root / "val").is_dir() else root
    annotations = base / "val_annotations.txt"
    classes: dict[str, list[Path]] = {}
    if annotations.is_file() and (base / "images").is_dir():
        for _, _, fields in annotation_rows(annotations):
            if len(fields) >= 2 and (base / "images" / fields[0]).is_file():
                classes.setdefault(fields[1], []).append(base / "images" / fields[0])
    else:
        names, items = class_tree(base, recursive=True)
        for path, label in items:
            if not names[label].startswith("."):
                classes.setdefault(names[label], []).append(path)
    if not classes:
        raise UserError(f"no class folders of images under {base}; expected {base}/<class>/<image>.JPEG")
    return base, {k: sorted(v) for k, v in sorted(classes.items())}


def _jpeg_name(name: str) -> str:
    stem, suffix = os.path.splitext(name)
    return name if suffix.lower() in (".jpeg", ".jpg") else f"{stem}.JPEG"


def corrupt_folder(task: FolderTask) -> list[dict[str, Any]]:
    target = task.out / task.output
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        info, unreadable = None, []
        for path, name in task.images:
            try:
                image = read_rgb(path)
                image = task.prepare(image) if task.prepare is not None else image
            except Exception:  # truncated or not an image: left out and counted, as train and eval do
                unreadable.append(name)
                continue
            corrupted, info = corruptions.apply_with_info(
                image, task.name, task.severity, seed=task.seed,
                preset=task.preset, variant=task.variant, video_id=f"{task.label}/{name}",
            )
            Image.fromarray(corrupted.permute(1, 2, 0).numpy()).save(tmp / _jpeg_name(name), quality=JPEG_QUALITY)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        row = output_row(task.source, task.output, info, sha256_tree(target))
        row.update(images=len(task.images) - len(unreadable), **({"unreadable": unreadable} if unreadable else {}),
                   coding={"codec": "jpeg", "quality": JPEG_QUALITY})
        return [row]
    except Exception as err:
        return [failure_row(task.source, task.output, err)]
    finally:  # also on Ctrl-C / SIGTERM
        shutil.rmtree(tmp, ignore_errors=True)


def array_tasks(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list[ArrayTask]:
    images, labels, source = load_cifar(cfg.dataset, cfg.data_root)
    if cfg.limit:
        images, labels = images[: cfg.limit], labels[: cfg.limit]
    summary.inputs = len(images)
    tasks = []
    for unit, sel in enumerate(cfg.corruptions):
        if not cfg.owns(unit):
            continue
        output = f"{sel.name}.npy"
        summary.outputs.append(output)
        if manifest.is_done(cfg.out, output) and manifest.rows[output].get("severity") == cfg.severities:
            summary.skipped += 1
        else:
            tasks.append(ArrayTask(source, sel.name, sel.preset, tuple(cfg.severities), images, cfg.out,
                                   cfg.variant, cfg.seed))
    return tasks


def prepare_array_out(cfg: JobConfig) -> None:
    """``labels.npy`` (the labels once per severity; identical in every shard: an atomic write)."""
    _, labels, _ = load_cifar(cfg.dataset, cfg.data_root)
    labels = labels[: cfg.limit] if cfg.limit else labels
    label_type = np.uint8 if labels.max() < 256 else np.int64  # CIFAR-10-C stores uint8 labels
    _atomic_npy(cfg.out / "labels.npy", np.tile(labels, len(cfg.severities)).astype(label_type))


def folder_tasks(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list[FolderTask]:
    base, classes = image_folders(cfg.dataset, cfg.data_root)
    if cfg.limit:
        kept, left = {}, cfg.limit
        for name, files in classes.items():
            if left <= 0:
                break
            kept[name], left = files[:left], left - len(files[:left])
        classes = kept
    summary.inputs = sum(len(v) for v in classes.values())
    prepare = get_dataset(cfg.dataset).test_prepare  # what the on-the-fly evaluation does first
    tasks, unit = [], -1
    for sel in cfg.corruptions:
        for severity in cfg.severities:
            for name, files in classes.items():
                unit += 1
                if not cfg.owns(unit):
                    continue
                output = f"{sel.name}/{severity}/{name}"
                summary.outputs.append(output)
                if manifest.is_done(cfg.out, output):
                    summary.skipped += 1
                    continue
                images = tuple((p, p.name) for p in files)
                source = (base / name).relative_to(cfg.data_root).as_posix()
                tasks.append(FolderTask(source, name, images, sel.name, sel.preset, severity, output, cfg.out,
                                        cfg.variant, cfg.seed, prepare))
    return tasks
