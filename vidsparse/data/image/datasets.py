"""Image datasets: the in-memory image arrays, image files, the test transform, augmentation.

A split is an ``ImageSplit``: ``ImageArrays`` (the whole split in memory, as CIFAR pickles and
the digits come, and as -C ``.npy`` stacks are read) or ``FileImages`` (one file per image, read
on demand: a split of files is never loaded whole, whatever its size); the readers that make
them are in ``vidsparse.data.image.readers``. ``ImageDataset`` turns either into
``(tensor [C, H, W], label, index)`` samples, with augmentation drawn from a generator seeded by
(epoch seed, index) exactly like the video datasets, so a run is reproducible with any number of
workers. Files of any mode become 8-bit RGB
(``vidsparse.data.image.io``); an unreadable or rejected image gives None, which
``collate_skipping`` drops and counts. Test images go through the dataset's preparation
(``ResizeCrop`` for ImageNet: 256, centre 224) and ``ImageTransform`` (``fit``: short side to the
model's size, centre crop), at training and at evaluation alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from vidsparse.data.image.io import read_rgb
from vidsparse.data.video.dataset import sample_generator
from vidsparse.errors import UserError

# ----------------------------------------------------------------------------------------------
# splits


@dataclass
class ImageArrays:
    """A labelled image set in memory: uint8 [N, H, W, 3] images and int labels [N] (memory-mapped .npy works)."""

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
        return torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1)  # a copy: memmaps are read-only

    def sample_id(self, index: int) -> str:
        """The id that seeds this image's corruptions: ``ids[index]``, else its index as text."""
        return self.ids[index] if self.ids else str(index)


@dataclass
class FileImages:
    """A split as ``(path, label)`` files, read one at a time (never held in memory as a whole);
    ``missing`` counts files named by an index but absent."""

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

    def sample_id(self, index: int) -> str:
        """``ids[index]``, else ``<class>/<file name>``: the id ``vidsparse corrupt`` seeds the
        image with in a ``<corruption>/<severity>/<class>/<file>`` copy."""
        if self.ids:
            return self.ids[index]
        path, label = self.items[index]
        return f"{self.classes[label]}/{path.name}"


ImageSplit = ImageArrays | FileImages


# ----------------------------------------------------------------------------------------------
# test transform and datasets


def fit(image: torch.Tensor, size: int) -> torch.Tensor:
    """Short side to ``size`` (bilinear, antialiased), centre crop: the one test-time resize of images."""
    h, w = image.shape[-2:]
    if min(h, w) != size:
        scale = size / min(h, w)
        image = F.interpolate(image[None], size=(max(size, round(h * scale)), max(size, round(w * scale))),
                              mode="bilinear", align_corners=False, antialias=True)[0]
        h, w = image.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top : top + size, left : left + size]


@dataclass(frozen=True)
class ResizeCrop:
    """uint8 [3, H, W] -> uint8 [3, crop, crop]: short side to ``resize`` with Pillow's bilinear
    filter, then the centre ``crop``, with torchvision's ``Resize(resize)`` + ``CenterCrop(crop)``
    arithmetic (long side truncated, crop offset rounded half to even).

    It is ImageNet's standard test preprocessing and the first step of the ImageNet-C generation
    protocol (256 -> 224, then corrupt, then save as JPEG), so clean images, on-the-fly corrupted
    images and ``vidsparse corrupt``'s files all start from the same 224 x 224 pixels.
    """

    resize: int
    crop: int

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise UserError(f"a centre crop of {self.crop} px needs a resize of at least that much, got {self.resize}")

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        picture = Image.fromarray(image.permute(1, 2, 0).numpy())
        w, h = picture.size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(self.resize * long / short)
        size = (self.resize, new_long) if w <= h else (new_long, self.resize)
        if size != (w, h):
            picture = picture.resize(size, Image.BILINEAR)
        top, left = int(round((size[1] - self.crop) / 2.0)), int(round((size[0] - self.crop) / 2.0))
        picture = picture.crop((left, top, left + self.crop, top + self.crop))
        return torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1)


Prepare = Callable[[torch.Tensor], torch.Tensor]  # a dataset's test preprocessing of uint8 images


@lru_cache(maxsize=16)
def cpu_channel_stats(mean: tuple[float, ...], std: tuple[float, ...],
                      dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """[3, 1, 1] CPU mean and std tensors, made once per dtype: building them for every image
    was a quarter of an on-the-fly image evaluation's time (0.35 ms per image and cell)."""
    return (torch.tensor(mean, dtype=dtype).view(3, 1, 1), torch.tensor(std, dtype=dtype).view(3, 1, 1))


@dataclass(frozen=True)
class ImageTransform:
    """uint8 [C, H, W] -> normalised float [C, size, size]: ``fit`` to ``size``, then normalise."""

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """float [C, H, W] in [0, 1] -> (x - mean) / std."""
        if x.device.type == "cpu":  # per image, in loader workers: made once
            mean, std = cpu_channel_stats(self.mean, self.std, x.dtype)
        else:  # a whole batch on its device (GPU, or fake CUDA in tests): made where the input is
            mean, std = (torch.tensor(v, dtype=x.dtype, device=x.device).view(3, 1, 1) for v in (self.mean, self.std))
        return (x - mean) / std

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.normalize(fit(image.float().div(255), self.size))


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


class ImageFileDataset(Dataset):
    """(image, label, index) from files; an unreadable file gives None (skipped and counted)."""

    def __init__(self, items: Sequence[tuple[Path, int]], transform: ImageTransform) -> None:
        self.items, self.transform = list(items), transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, label = self.items[index]
        try:
            image = read_rgb(path)
        except Exception:
            return None
        return self.transform(image), label, index


# ----------------------------------------------------------------------------------------------
# augmentation (float [3, H, W] in [0, 1], already at the model's size)

Augment = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def _randint(high: int, gen: torch.Generator) -> int:
    return int(torch.randint(0, high, (), generator=gen)) if high > 0 else 0


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
# recipes in vidsparse.data.registry turn it off for digits and mnist5k: a mirrored digit is another glyph)
AUGMENTATIONS: dict[str, Augment] = {
    "cifar10": padded_crop(4),
    "cifar100": padded_crop(4),
    "tinyimagenet": resized_crop(),
    "imagenet": resized_crop(),
    "digits": padded_crop(2),  # a small translation
    "mnist5k": padded_crop(2),  # the same small translation
}


# ----------------------------------------------------------------------------------------------
# the training / test dataset


class ImageDataset(Dataset):
    """(image [3, size, size], label, index), one image read per item (a split of files is never
    loaded whole). Test images go through the dataset's ``prepare`` (ImageNet: ``ResizeCrop(256,
    224)``) and then the evaluator's own transform, so ``vidsparse eval`` sees the same pixels."""

    def __init__(self, source: ImageSplit, size: int, mean, std, train: bool,
                 crop: Augment | None = None, hflip: bool = False, seed: int = 0,
                 prepare: Prepare | None = None) -> None:
        self.source = source
        self.prepare = prepare
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
        return self.test_transform.normalize(x)

    def __getitem__(self, index: int):
        try:
            image = self.source.read(index)
        except Exception:  # truncated or not an image: skipped and counted by collate_skipping
            return None
        if self.train:
            return self._augment(image, index), self.source.label(index), index
        if self.prepare is not None:
            image = self.prepare(image)
        x = self.test_transform(image)
        return x, self.source.label(index), index
