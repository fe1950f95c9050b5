"""``vidsparse data check`` for the image dataset layouts whose content is not one image per file,
or whose files must agree with each other: CIFAR python pickles, CIFAR-10-C / CIFAR-100-C ``.npy``
folders, Tiny-ImageNet's validation annotations, and -C folder trees.

Each check in ``LAYOUT_CHECKS`` says whether a root has its layout and, if so, returns a
``LayoutReport``: facts (counts and shapes, printed as they are) and problems (what would make
training or evaluation fail or silently use wrong labels; the command exits 1). The image files
themselves are checked one by one by ``vidsparse.data.check``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import corruptions
from corruptions.presets import all_names
from vidsparse.core.io import read_jsonl
from vidsparse.data.corrupted import FAILURES, manifest_rows, stacked_severities
from vidsparse.data.image.readers import CIFAR, CifarLayout, _unpickle, annotation_rows, image_files
from vidsparse.errors import UserError, first_line

BLOCK_SAMPLE = 64  # images per severity block compared to find a severity stacked twice
EXAMPLES = 3


@dataclass
class LayoutReport:
    layout: str
    root: Path
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _examples(names: list[str]) -> str:
    return ", ".join(names[:EXAMPLES]) + (f", ... ({len(names)} in all)" if len(names) > EXAMPLES else "")


# ----------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 python pickles


def _cifar_folder(layout: CifarLayout, root: Path) -> Path | None:
    for folder in (root / layout.folder, root):
        if (folder / layout.meta_file).is_file() and (folder / layout.test_file).is_file():
            return folder
    return None


def _check_cifar_batch(report: LayoutReport, path: Path, layout: CifarLayout, classes: int) -> int:
    """Rows, shape and labels of one batch; returns its number of images (0 when unreadable)."""
    if not path.is_file():
        report.problems.append(f"{path.name}: missing")
        return 0
    try:
        batch = _unpickle(path)
    except UserError as err:
        report.problems.append(str(err))
        return 0
    if b"data" not in batch or layout.label_key not in batch:
        report.problems.append(f"{path.name}: lacks 'data' or '{layout.label_key.decode()}'")
        return 0
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[layout.label_key])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        report.problems.append(f"{path.name}: data is {data.dtype} {list(data.shape)}, expected uint8 [N, 3072]")
        return 0
    if len(labels) != len(data):
        report.problems.append(f"{path.name}: {len(data)} images but {len(labels)} labels")
    elif len(labels) and not 0 <= labels.min() <= labels.max() < classes:
        report.problems.append(f"{path.name}: labels {labels.min()}..{labels.max()} outside 0..{classes - 1}")
    report.facts.append(f"{path.name}: {len(data)} images 32x32x3, {len(np.unique(labels))} classes present")
    return len(data)


def _check_cifar(name: str) -> Callable[[Path], LayoutReport | None]:
    layout = CIFAR[name]

    def check(root: Path) -> LayoutReport | None:
        folder = _cifar_folder(layout, root)
        if folder is None:
            return None
        report = LayoutReport(f"{name} python batches", folder)
        meta = _unpickle(folder / layout.meta_file)
        classes = len(meta.get(layout.names_key, []))
        if classes == 0:
            report.problems.append(f"{layout.meta_file}: lacks '{layout.names_key.decode()}'")
        report.facts.append(f"{layout.meta_file}: {classes} class names")
        train = sum(_check_cifar_batch(report, folder / f, layout, classes) for f in layout.train_files)
        test = _check_cifar_batch(report, folder / layout.test_file, layout, classes)
        report.facts.append(f"{len(layout.train_files)} training batches: {train} images; test: {test} images")
        return report

    return check


# ----------------------------------------------------------------------------------------------
# CIFAR-10-C / CIFAR-100-C: <corruption>.npy [S * N, H, W, 3] + labels.npy


def _check_cifar_c(root: Path) -> LayoutReport | None:
    if not (root / "labels.npy").is_file():
        return None
    report = LayoutReport("CIFAR-C style .npy stacks", root)
    labels = np.load(root / "labels.npy", mmap_mode="r")
    rows = manifest_rows(root)[0] + read_jsonl(root / FAILURES)[0]  # a 'vidsparse corrupt' set: what it was asked for
    written = [str(r["output"])[: -len(".npy")] for r in rows
               if isinstance(r, dict) and str(r.get("output", "")).endswith(".npy")]
    expected = list(dict.fromkeys(written)) or corruptions.names("cifar-c")  # else the 19 published files
    absent = [c for c in expected if not (root / f"{c}.npy").is_file()]
    if absent:
        report.problems.append(f"corruption files missing: {_examples([f'{c}.npy' for c in absent])}")
    shapes: Counter = Counter()
    for path in sorted(p for p in root.glob("*.npy") if p.name != "labels.npy"):
        try:
            images = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as err:
            report.problems.append(f"{path.name}: not a readable .npy ({first_line(err)})")
            continue
        severities = stacked_severities(root, path.stem)
        k = len(severities)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            report.problems.append(f"{path.name}: {images.dtype} {list(images.shape)}, expected uint8 [{k}*N, H, W, 3]")
            continue
        if images.shape[0] != len(labels) and images.shape[0] != k * len(labels):
            report.problems.append(f"{path.name}: {images.shape[0]} rows, expected {k} severities x "
                                   f"{len(labels) // k if len(labels) % k == 0 else '?'} = {len(labels)} "
                                   f"(the rows of labels.npy)")
            continue
        shapes[images.shape] += 1
        n = images.shape[0] // k
        blocks = [np.asarray(images[s * n : s * n + min(n, BLOCK_SAMPLE)]) for s in range(k)]
        twice = [f"{severities[s]}={severities[s + 1]}" for s in range(k - 1) if np.array_equal(blocks[s], blocks[s + 1])]
        if twice:
            report.problems.append(f"{path.name}: severity blocks {', '.join(twice)} hold identical images "
                                   "(a severity stacked twice?)")
    if not shapes:
        return report
    (rows, h, w, _), count = shapes.most_common(1)[0]
    report.facts.append(f"{sum(shapes.values())} corruption files, {count} of them uint8 [{rows}, {h}, {w}, 3]")
    k = len(stacked_severities(root, expected[0]))
    if len(labels) == rows and rows % k == 0:
        n = rows // k
        if not all(np.array_equal(labels[s * n : (s + 1) * n], labels[:n]) for s in range(1, k)):
            report.problems.append(f"labels.npy: its {rows} labels are not the same {n} repeated for {k} severities")
        else:
            report.facts.append(f"labels.npy: {n} labels tiled {k} times, one block per severity in order")
    else:
        report.facts.append(f"labels.npy: {len(labels)} labels, one per image of a severity block")
    return report


# ----------------------------------------------------------------------------------------------
# Tiny-ImageNet: wnids.txt, train/<wnid>/images/, val/images + val/val_annotations.txt


def _check_tinyimagenet(root: Path) -> LayoutReport | None:
    annotations = root / "val" / "val_annotations.txt"
    if not (root / "wnids.txt").is_file() or not annotations.is_file():
        return None
    report = LayoutReport("Tiny-ImageNet", root)
    wnids = [line.strip() for line in (root / "wnids.txt").read_text().splitlines() if line.strip()]
    per_class = {w: len(image_files(root / "train" / w / "images")) if (root / "train" / w / "images").is_dir() else -1
                 for w in wnids}
    lacking = [w for w, n in per_class.items() if n < 0]
    if lacking:
        report.problems.append(f"train/<wnid>/images missing for {_examples(lacking)}")
    counts = [n for n in per_class.values() if n >= 0]
    report.facts.append(f"{len(wnids)} classes in wnids.txt; train: {sum(counts)} images "
                        f"({min(counts, default=0)}..{max(counts, default=0)} per class)")
    named, unknown, malformed = Counter(), [], []
    for number, line, fields in annotation_rows(annotations):
        if len(fields) < 2:
            malformed.append(f"line {number}")
            continue
        named[fields[0]] += 1
        if fields[1] not in per_class:
            unknown.append(f"{fields[0]} ({fields[1]})")
    on_disk = {p.name for p in image_files(root / "val" / "images")} if (root / "val" / "images").is_dir() else set()
    absent = sorted(set(named) - on_disk)
    extra = sorted(on_disk - set(named))
    repeated = sorted(n for n, c in named.items() if c > 1)
    for what, names in (("malformed annotation lines", malformed), ("annotated with a class not in wnids.txt", unknown),
                        ("annotated but absent from val/images", absent), ("in val/images but not annotated", extra),
                        ("annotated more than once", repeated)):
        if names:
            report.problems.append(f"val: {len(names)} {what}: {_examples(names)}")
    report.facts.append(f"val: {len(named)} images annotated, {len(on_disk)} in val/images")
    return report


# ----------------------------------------------------------------------------------------------
# -C folder trees: <corruption>/<severity>/<class>/<image>


def _check_c_tree(root: Path) -> LayoutReport | None:
    known = set(all_names())
    grid = {d.name: {s.name: s for s in d.iterdir() if s.is_dir()} for d in root.iterdir()
            if d.is_dir() and d.name in known}
    if not any(grid.values()):
        return None
    report = LayoutReport("-C folder tree (<corruption>/<severity>/<class>/<image>)", root)
    severities = sorted({s for cells in grid.values() for s in cells}, key=lambda s: (len(s), s))
    counts = {(c, s): {k.name: len(image_files(k)) for k in folder.iterdir() if k.is_dir()}
              for c, cells in grid.items() for s, folder in cells.items()}
    classes = sorted({k for per in counts.values() for k in per})
    report.facts.append(f"{len(grid)} corruptions x severities {', '.join(severities)} x {len(classes)} classes")
    missing_cells = [f"{c}/{s}" for c in sorted(grid) for s in severities if s not in grid[c]]
    if missing_cells:
        report.problems.append(f"{len(missing_cells)} corruption/severity folders missing: {_examples(missing_cells)}")
    expected = {k: Counter(per.get(k, 0) for per in counts.values()).most_common(1)[0][0] for k in classes}
    short = [f"{c}/{s}/{k} ({per.get(k, 0)} of {expected[k]})" for (c, s), per in sorted(counts.items())
             for k in classes if per.get(k, 0) != expected[k]]
    if short:
        report.problems.append(f"{len(short)} class folders with another image count than the rest of the grid: "
                               f"{_examples(short)}")
    report.facts.append(f"{sum(expected.values())} images per corruption and severity")
    return report


# ----------------------------------------------------------------------------------------------

LAYOUT_CHECKS: dict[str, Callable[[Path], LayoutReport | None]] = {
    "cifar10": _check_cifar("cifar10"),
    "cifar100": _check_cifar("cifar100"),
    "cifar-c": _check_cifar_c,
    "tinyimagenet": _check_tinyimagenet,
    "c-tree": _check_c_tree,
}


def check_layouts(root: Path) -> list[LayoutReport]:
    """The report of every layout found at ``root`` (none: an empty list)."""
    return [report for check in LAYOUT_CHECKS.values() if (report := check(Path(root))) is not None]
