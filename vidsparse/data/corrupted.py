"""Corrupted copies on disk: the manifest ``vidsparse corrupt`` writes, and the published -C formats.

- video and image-folder copies: ``ROOT/<corruption>/<severity>/<source layout>``, read with the
  dataset's own reader (``vidsparse.data.build.build_test_set(root=...)``);
- ``.npy`` stacks (CIFAR-10-C / CIFAR-100-C): ``ROOT/<corruption>.npy`` uint8 [5 * N, H, W, 3],
  severities 1..5 stacked in order, and ``ROOT/labels.npy`` ([5 * N] or [N]); a set
  ``vidsparse corrupt --severities 1,5`` wrote stacks only those, as its manifest records;
- folders (ImageNet-C / Tiny-ImageNet-C): ``ROOT/<corruption>/<severity>/<class>/<image>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from vidsparse.core.io import read_jsonl
from vidsparse.data.image.datasets import ImageArrayDataset, ImageFileDataset, ImageTransform
from vidsparse.data.image.io import IMAGE_EXTENSIONS
from vidsparse.errors import UserError

MANIFEST = "manifest.jsonl"  # one JSON row per finished output of 'vidsparse corrupt'
FAILURES = "failures.jsonl"  # the outputs that failed, with why


def manifest_rows(root: Path) -> tuple[list[dict], bool]:
    """The rows of ``ROOT/manifest.jsonl`` in file order, and whether the file is damaged (a line
    cut short by a kill, or one that does not parse). No file: ([], False)."""
    values, damaged = read_jsonl(Path(root) / MANIFEST)
    return [row for row in values if isinstance(row, dict)], damaged


def read_manifest(root: Path) -> dict[tuple[str, int], dict]:
    """The settings each (corruption, severity) of a generated set was made with."""
    settings: dict[tuple[str, int], dict] = {}
    for row in manifest_rows(root)[0]:
        try:
            cell = (row["name"] if "name" in row else row["corruption"], int(row["severity"]))
        except (ValueError, KeyError, TypeError):
            continue
        settings.setdefault(cell, {k: row[k] for k in ("preset", "variant", "seed") if k in row})
    return settings


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
    severities = [1, 2, 3, 4, 5]
    for row in manifest_rows(root)[0]:
        if row.get("output") == f"{corruption}.npy" and isinstance(row.get("severity"), list):
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
