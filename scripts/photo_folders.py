"""Class folders of mixed-size JPEG crops of scikit-image's photographs, for the image benchmarks.

Each image is a random crop (at least ``min_fraction`` of each side) resized to a random size
in ``sizes``: real content in the many sizes of an ILSVRC validation folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_mixed_val(root: Path, count: int, photos: dict[str, str], *, min_fraction: int, sizes: tuple[int, int],
                    quality: int, digits: int) -> int:
    """Write ``count`` images to ``root/val/<class>/`` (classes: ``photos`` keys, cycled; values:
    skimage.data names); return the bytes they take decoded (H x W x 3)."""
    import skimage.data  # optional: scikit-image, the sample photographs

    rng = np.random.default_rng(0)
    decoded = 0
    images = {label: getattr(skimage.data, name)() for label, name in photos.items()}
    labels = list(photos)
    for k in range(count):
        label = labels[k % len(labels)]
        image = images[label]
        h, w = image.shape[:2]
        ch, cw = rng.integers(h // min_fraction, h), rng.integers(w // min_fraction, w)
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        size = (int(rng.integers(*sizes)), int(rng.integers(*sizes)))
        out = root / "val" / label
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[top : top + ch, left : left + cw]).resize(size, Image.BILINEAR).save(
            out / f"{k:0{digits}d}.JPEG", quality=quality)
        decoded += size[0] * size[1] * 3
    return decoded
