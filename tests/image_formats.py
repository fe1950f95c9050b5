"""Image test sets cut from scikit-image's sample photographs, with the oddities of real downloads.

``photo_tree`` writes an ImageNet-style class-folder split of mixed-size real photographs: one
class per photograph (astronaut, cat, coffee), crops at different places and sizes, plus the
files found in real ImageNet folders — a CMYK JPEG, a grayscale JPEG, a PNG named ``.JPEG``, a
16-bit PNG, a JPEG with an EXIF rotation — and optionally one truncated JPEG.
``reference_rgb`` is what torchvision's ImageFolder loader (Pillow, ``convert("RGB")``) sees.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = {"astronaut": "astronaut", "cat": "chelsea", "coffee": "coffee"}  # class -> skimage.data photo


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photograph, uint8 [H, W, 3]."""
    import skimage.data  # a test dependency only

    return getattr(skimage.data, name)()


def crop(image: np.ndarray, k: int, width: int, height: int) -> Image.Image:
    """The k-th crop: a window of about half the photograph at a k-dependent place, resized to
    ``width`` x ``height`` (mixed sizes and aspect ratios, as validation images come)."""
    h, w = image.shape[:2]
    ch, cw = h // 2 + (k * 17) % (h // 3), w // 2 + (k * 29) % (w // 3)
    top, left = (k * 37) % (h - ch + 1), (k * 53) % (w - cw + 1)
    return Image.fromarray(image[top : top + ch, left : left + cw]).resize((width, height), Image.BILINEAR)


def size_of(k: int) -> tuple[int, int]:
    """Mixed sizes: widths 40..94, heights 36..78."""
    return 40 + (k * 23) % 55, 36 + (k * 19) % 43


ODDITIES = ("cmyk.JPEG", "gray.JPEG", "png_named.JPEG", "deep16.png", "exif_rotated.JPEG")


def write_oddity(folder: Path, name: str, picture: Image.Image) -> Path:
    path = folder / name
    if name == "cmyk.JPEG":
        picture.convert("CMYK").save(path, quality=90)
    elif name == "gray.JPEG":
        picture.convert("L").save(path, quality=90)
    elif name == "png_named.JPEG":
        picture.save(path, format="PNG")
    elif name == "deep16.png":
        gray = np.asarray(picture.convert("L")).astype(np.uint16) * 257  # the full 16-bit range
        Image.fromarray(gray).save(path)
    elif name == "exif_rotated.JPEG":
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
        picture.save(path, quality=90, exif=exif)
    else:
        raise ValueError(name)
    return path


def truncated_jpeg(path: Path, picture: Image.Image) -> Path:
    """A JPEG cut at half its bytes (an interrupted download)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def photo_tree(folder: Path, per_class: int, start: int = 0, oddities: bool = True,
               truncated: bool = False) -> int:
    """``folder/<class>/*`` of mixed-size photograph crops; returns the number of readable files."""
    written = 0
    for c, (label, name) in enumerate(PHOTOS.items()):
        image = photo(name)
        out = folder / label
        out.mkdir(parents=True, exist_ok=True)
        for k in range(start, start + per_class):
            crop(image, k, *size_of(k + c)).save(out / f"{label}_{k:05d}.JPEG", quality=90)
            written += 1
        if oddities:  # one of each oddity, spread over the classes
            for j, odd in enumerate(ODDITIES):
                if j % len(PHOTOS) == c:
                    write_oddity(out, odd, crop(image, 1000 + j, *size_of(j)))
                    written += 1
    if truncated:
        truncated_jpeg(folder / "cat" / "truncated.JPEG", crop(photo("chelsea"), 7, 64, 48))
    return written


def reference_rgb(path: Path) -> np.ndarray:
    """What torchvision's default loader reads: Pillow, ``convert("RGB")`` (16-bit: the high byte;
    no EXIF rotation, as torchvision applies none)."""
    with Image.open(path) as image:
        if image.mode.startswith("I"):
            gray = (np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)
            return np.repeat(gray[..., None], 3, axis=-1)
        return np.asarray(image.convert("RGB"))
