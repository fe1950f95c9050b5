"""Image files to 8-bit RGB, whatever their mode: one policy for every image reader.

Pillow's ``convert("RGB")`` is right for 8-bit modes but clips 16-bit values at 255 (a dark
16-bit scan turns white), so 16-bit images are scaled by dropping their low byte (``>> 8``,
the same as Pillow does for 16-bit RGB PNGs). Modes with no standard 8-bit mapping are
rejected with a one-line ``ImageDecodeError``; datasets skip and count such files.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vidsparse.errors import UserError

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageDecodeError(UserError):
    """An image file that cannot be turned into 8-bit RGB."""


def to_rgb8(image, path: Path | str = "image"):
    """A PIL image in any mode -> an 8-bit RGB PIL image.

    8-bit modes (L, P, 1, LA, PA, RGBA, CMYK, YCbCr, ...) go through Pillow's conversion, which
    drops alpha as torchvision's loader does. 16-bit grayscale (I;16*, and I when its values fit in
    16 bits, as Pillow stores some 16-bit PNGs) keeps its high byte. 32-bit integer images with
    larger values and float images (F) have no standard range and are rejected.
    """
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        values = np.asarray(image)
        if mode == "I" and values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageDecodeError(f"{path}: 32-bit integer image with values outside 0..65535; "
                                   "convert it to 8 or 16 bits first")
        gray = (values.astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=-1), mode="RGB")
    if mode == "F":
        raise ImageDecodeError(f"{path}: floating-point image (mode F) has no standard 8-bit range; "
                               "convert it to 8-bit first")
    try:
        return image.convert("RGB")
    except ValueError as err:
        raise ImageDecodeError(f"{path}: cannot convert image mode {mode} to RGB ({err})") from None


def open_rgb8(path: Path | str):
    """The image at ``path`` as a loaded 8-bit RGB PIL image (the file is closed on return)."""
    with Image.open(path) as image:
        return to_rgb8(image, path)


def read_rgb(path: Path | str) -> torch.Tensor:
    """uint8 [3, H, W] RGB from any image file Pillow opens (see ``to_rgb8`` for the modes)."""
    array = np.asarray(open_rgb8(path))
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


# ImageNet-C and Tiny-ImageNet-C are published as JPEGs saved by Pillow at this quality; saving a
# corrupted image the same way reproduces their files (``jpeg_roundtrip``, ``vidsparse corrupt``)
PUBLISHED_JPEG_QUALITY = 85


def jpeg_roundtrip(image: torch.Tensor, quality: int = PUBLISHED_JPEG_QUALITY) -> torch.Tensor:
    """uint8 [3, H, W] saved as a Pillow JPEG at ``quality`` (default settings otherwise) and decoded
    again: what a model reads from a published-style -C file of this image."""
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return torch.from_numpy(np.asarray(decoded.convert("RGB")).copy()).permute(2, 0, 1)
