"""Image datasets: readers for CIFAR-10/100, Tiny-ImageNet, ImageNet and the bundled digits.

Each reader returns a (train, test) pair of image sources: ``ArrayImages`` (the whole split in
memory, as CIFAR pickles and the digits come) or ``FileImages`` (one file per image, read on
demand). ``ImageDataset`` turns either into ``(tensor [C, H, W], label, index)`` samples, with
augmentation drawn from a generator seeded by (epoch seed, index) exactly like the video
datasets, so a run is reproducible with any number of workers. Files of any mode become 8-bit RGB
(``vidsparse.data.image.io``); an unreadable or rejected image gives None, which
``collate_skipping`` drops and counts.
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from http.client import HTTPException
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from vidsparse.data.image.io import read_rgb
from vidsparse.data.video.dataset import sample_generator
from vidsparse.errors import UserError
from vidsparse.evaluation.image import IMAGE_EXTENSIONS, ImageArrays, ImageTransform

# ----------------------------------------------------------------------------------------------
# sources


@dataclass
class ArrayImages:
    """A split held in memory: uint8 [N, H, W, 3] images and int labels."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    ids: list[str] | None = None  # per-image ids that seed on-the-fly corruptions (default: index)
    missing: int = 0

    def __len__(self) -> int:
        return len(self.images)

    def label(self, index: int) -> int:
        return int(self.labels[index])

    def read(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1)

    def to_arrays(self) -> ImageArrays:
        return ImageArrays(self.images, self.labels, self.classes, self.ids)


@dataclass
class FileImages:
    """A split as ``(path, label)`` files; ``missing`` counts files named by an index but absent."""

    items: list[tuple[Path, int]]
    classes: list[str]
    missing: int = 0
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def label(self, index: int) -> int:
        return self.items[index][1]

    def read(self, index: int) -> torch.Tensor:
        return read_rgb(self.items[index][0])

    def to_arrays(self) -> ImageArrays:
        """All readable images stacked in memory (they must share one size, as Tiny-ImageNet's do)."""
        images, labels, ids, unreadable = [], [], [], []
        for k, (path, label) in enumerate(self.items):
            try:
                images.append(self.read(k).permute(1, 2, 0).numpy())
            except Exception as err:  # unreadable: left out of the test set, like a skipped sample
                unreadable.append(f"{path.name} ({str(err).splitlines()[0] if str(err) else type(err).__name__})")
                continue
            labels.append(label)
            ids.append(f"{self.classes[label]}/{path.name}")
        if unreadable:
            print(f"warning: {len(unreadable)} test images cannot be read and are left out: "
                  f"{', '.join(unreadable[:3])}{', ...' if len(unreadable) > 3 else ''}", file=sys.stderr)
        if not images:
            raise UserError("no readable test image; run 'vidsparse data check --data-root ROOT' to see why")
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise UserError(f"test images have {len(shapes)} different sizes; resize them to one size first")
        return ImageArrays(np.stack(images), np.asarray(labels, dtype=np.int64), self.classes, ids)


ImageSplit = ArrayImages | FileImages


# ----------------------------------------------------------------------------------------------
# readers (cfg = DataConfig)


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


def read_cifar(cfg) -> tuple[ArrayImages, ArrayImages]:
    """The python-pickle batches, in ``ROOT/<folder>/`` or in ROOT itself."""
    layout = CIFAR[cfg.dataset]
    root = _root(cfg)
    folder = root / layout.folder if (root / layout.folder).is_dir() else root
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
    train = ArrayImages(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes)
    test = ArrayImages(*cifar_batch(folder / layout.test_file, layout.label_key), classes)
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
        from vidsparse.errors import did_you_mean

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
    text = str(getattr(err, "reason", "") or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _fetch(url: str, path: Path, desc: str, progress: bool) -> str:
    """Stream ``url`` to ``path``; return the md5 of what was written."""
    import hashlib
    import urllib.request

    from tqdm import tqdm

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
    import tarfile
    from pathlib import PurePosixPath

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


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


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
        train_items += [(p, lookup[wnid]) for p in _image_files(folder)]
    test_items, missing, ids = [], 0, []
    for number, line in enumerate(annotations.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
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


def _class_tree(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    items = [(p, k) for k, name in enumerate(classes) for p in _image_files(folder / name)]
    return classes, items


def read_imagenet(cfg) -> tuple[FileImages, FileImages]:
    """``train/<class>/*`` and ``val/<class>/*`` (the usual ImageFolder layout)."""
    root = _root(cfg)
    for part in ("train", "val"):
        if not (root / part).is_dir():
            raise UserError(f"imagenet: {root / part} not found; expected train/<class>/*.JPEG and "
                            f"val/<class>/*.JPEG under --data-root")
    train_classes, train_items = _class_tree(root / "train")
    val_classes, val_items = _class_tree(root / "val")
    if train_classes != val_classes:
        raise UserError(f"imagenet: class folders differ between {root / 'train'} and {root / 'val'}")
    return FileImages(train_items, train_classes), FileImages(val_items, val_classes)


DIGITS_SIZE = 32
DIGITS_TEST_FRACTION = 0.2


@lru_cache(maxsize=1)
def _digits() -> tuple[ArrayImages, ArrayImages]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    gray = torch.from_numpy(bunch.images).float()[:, None] / 16.0  # [N, 1, 8, 8] in [0, 1]
    big = F.interpolate(gray, size=(DIGITS_SIZE, DIGITS_SIZE), mode="bilinear", align_corners=False)
    images = (big.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).permute(0, 2, 3, 1)
    images = images.contiguous().numpy()
    labels = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(0)  # fixed: the split never changes with the run's seed
    test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test[members[: round(len(members) * DIGITS_TEST_FRACTION)]] = True
    classes = [str(int(c)) for c in bunch.target_names]
    return (ArrayImages(images[~test], labels[~test], classes),
            ArrayImages(images[test], labels[test], classes))


def read_digits(cfg) -> tuple[ArrayImages, ArrayImages]:
    """scikit-learn's 1,797 real 8x8 digits, upsampled to 32x32 RGB; stratified 80/20 split."""
    return _digits()


# ----------------------------------------------------------------------------------------------
# augmentation (float [3, H, W] in [0, 1], already at the model's size)

Augment = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def _randint(high: int, gen: torch.Generator) -> int:
    return int(torch.randint(0, high, (), generator=gen)) if high > 0 else 0


def fit(image: torch.Tensor, size: int) -> torch.Tensor:
    """Short side to ``size``, centre crop."""
    h, w = image.shape[-2:]
    if min(h, w) != size:
        scale = size / min(h, w)
        image = F.interpolate(image[None], size=(max(size, round(h * scale)), max(size, round(w * scale))),
                              mode="bilinear", align_corners=False, antialias=True)[0]
        h, w = image.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top : top + size, left : left + size]


def padded_crop(pad: int) -> Augment:
    """Zero-pad by ``pad`` and take a random crop of the original size (the CIFAR standard)."""

    def augment(image: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
        image = F.pad(fit(image, size), (pad, pad, pad, pad))
        top, left = _randint(2 * pad + 1, gen), _randint(2 * pad + 1, gen)
        return image[:, top : top + size, left : left + size]

    return augment


def resized_crop(scale: tuple[float, float] = (0.08, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Augment:
    """A random area/aspect crop resized to ``size`` (Inception-style), centre-fit as a fallback."""

    def augment(image: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
        h, w = image.shape[-2:]
        u = torch.rand(10, 2, generator=gen)
        for a, r in u.tolist():
            area = h * w * (scale[0] + a * (scale[1] - scale[0]))
            aspect = math.exp(math.log(ratio[0]) + r * (math.log(ratio[1]) - math.log(ratio[0])))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                top, left = _randint(h - ch + 1, gen), _randint(w - cw + 1, gen)
                crop = image[:, top : top + ch, left : left + cw]
                return F.interpolate(crop[None], size=(size, size), mode="bilinear", align_corners=False,
                                     antialias=True)[0]
        return fit(image, size)

    return augment


# dataset name -> its standard training crop; flipping is the run's ``data.hflip`` (the dataset
# recipes in vidsparse.data.registry turn it off for digits: a mirrored digit is another glyph)
AUGMENTATIONS: dict[str, Augment] = {
    "cifar10": padded_crop(4),
    "cifar100": padded_crop(4),
    "tinyimagenet": resized_crop(),
    "imagenet": resized_crop(),
    "digits": padded_crop(2),  # a small translation
}


# ----------------------------------------------------------------------------------------------
# the dataset


class ImageDataset(Dataset):
    """(image [3, size, size], label, index); test images use the evaluator's own transform."""

    def __init__(self, source: ImageSplit, size: int, mean, std, train: bool,
                 crop: Augment | None = None, hflip: bool = False, seed: int = 0) -> None:
        self.source = source
        self.size = size
        self.test_transform = ImageTransform(size, tuple(mean), tuple(std))
        self.train = train
        self.crop = crop or padded_crop(0)
        self.hflip = hflip
        self.epoch_seed = seed

    def set_epoch_seed(self, seed: int) -> None:
        """Augmentation derives from (seed, index): identical with any worker count."""
        self.epoch_seed = seed

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> list[int]:
        return [self.source.label(i) for i in range(len(self.source))]

    def _augment(self, image: torch.Tensor, index: int) -> torch.Tensor:
        gen = sample_generator(self.epoch_seed, index)
        x = self.crop(image.float().div(255), self.size, gen)
        if self.hflip and bool(torch.rand((), generator=gen) < 0.5):
            x = x.flip(-1)
        t = self.test_transform
        return (x - torch.tensor(t.mean).view(3, 1, 1)) / torch.tensor(t.std).view(3, 1, 1)

    def __getitem__(self, index: int):
        try:
            image = self.source.read(index)
        except Exception:  # truncated or not an image: skipped and counted by collate_skipping
            return None
        x = self._augment(image, index) if self.train else self.test_transform(image)
        return x, self.source.label(index), index


def clean_test_loader(read: Callable[[object], tuple[ImageSplit, ImageSplit]]) -> Callable[[object], ImageArrays]:
    """A clean-test-set loader for ``image_robustness.register_image_test_set`` (cfg = RunConfig)."""

    def load(cfg) -> ImageArrays:
        return read(cfg.data)[1].to_arrays()

    return load
