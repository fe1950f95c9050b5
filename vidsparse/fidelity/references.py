"""The reference code's formulas, run with the reference's own libraries.

Hendrycks' ``make_*_c.py`` scripts (and the maintained ``imagecorruptions`` fork that packages
them with ImageNet parameters) are the definitions our frame-level corruptions follow. Where
the package hard-codes ImageNet parameters, the formula is re-run here with the other tables'
values: only the parameter is ours, the arithmetic and the libraries (PIL, OpenCV,
scikit-image, SciPy) are the reference's. Random corruptions return the float image before
the reference's final ``np.uint8`` cast, so comparisons are free of its truncation.
"""

from __future__ import annotations

import warnings
from io import BytesIO
from typing import Any, Callable

import cv2
import numpy as np
import skimage.color
import skimage.filters
import skimage.util
from PIL import Image
from scipy.ndimage import map_coordinates

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import imagecorruptions
    import imagecorruptions.corruptions as icc

Formula = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]


def _hsv(image: np.ndarray, channel: int, change: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    hsv = skimage.color.rgb2hsv(image / 255.0)
    hsv[..., channel] = np.clip(change(hsv[..., channel]), 0, 1)
    return np.clip(skimage.color.hsv2rgb(hsv), 0, 1) * 255


def _pil(image: np.ndarray, operation: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.asarray(operation(Image.fromarray(image))).astype(np.float64)


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buffer = BytesIO()
    img.save(buffer, "JPEG", quality=int(quality))
    return Image.open(buffer)


def _pixelate(img: Image.Image, c: float) -> Image.Image:
    small = img.resize((int(img.width * c), int(img.height * c)), Image.BOX)
    return small.resize(img.size, Image.BOX)


def _zoom(image: np.ndarray, factors: Any) -> np.ndarray:
    x = (image / 255.0).astype(np.float32)
    total = x + sum(icc.clipped_zoom(x, z)[: x.shape[0], : x.shape[1]] for z in factors)
    return np.clip(total / (len(factors) + 1), 0, 1) * 255


def _defocus(image: np.ndarray, c: Any) -> np.ndarray:
    kernel = icc.disk(radius=c[0], alias_blur=c[1])
    return np.clip(np.stack([cv2.filter2D(image[..., d] / 255.0, -1, kernel) for d in range(3)], -1), 0, 1) * 255


def _contrast(image: np.ndarray, c: float) -> np.ndarray:
    x = image / 255.0
    mean = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - mean) * c + mean, 0, 1) * 255


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(skimage.filters.gaussian(image / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


# Deterministic formulas of make_*_c.py: (image uint8 HxWx3, parameter) -> float image 0..255.
DETERMINISTIC: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "brightness": lambda image, c: _hsv(image, 2, lambda v: v + c),
    "saturate": lambda image, c: _hsv(image, 1, lambda s: s * c[0] + c[1]),
    "contrast": _contrast,
    "jpeg_compression": lambda image, c: _pil(image, lambda img: _jpeg(img, c)),
    "pixelate": lambda image, c: _pil(image, lambda img: _pixelate(img, c)),
    "defocus_blur": _defocus,
    "zoom_blur": _zoom,
    "gaussian_blur": _gaussian_blur,
}

# Random formulas with the parameter explicit: (image, parameter, rng) -> float image 0..255.
NOISES: dict[str, Formula] = {
    "gaussian_noise": lambda image, c, rng: np.clip(image / 255.0 + rng.normal(size=image.shape, scale=c), 0, 1)
    * 255,
    "shot_noise": lambda image, c, rng: np.clip(rng.poisson(image / 255.0 * c) / c, 0, 1) * 255,
    "impulse_noise": lambda image, c, rng: np.clip(
        skimage.util.random_noise(image / 255.0, mode="s&p", amount=c, rng=rng), 0, 1) * 255,
    "speckle_noise": lambda image, c, rng: np.clip(
        image / 255.0 + image / 255.0 * rng.normal(size=image.shape, scale=c), 0, 1) * 255,
}

# Corruptions whose parameters imagecorruptions hard-codes (ImageNet table): called by severity.
IMAGECORRUPTIONS_RANDOM = ("spatter", "snow", "frost", "fog", "glass_blur")


def imagecorruptions_float(name: str, image: np.ndarray, severity: int) -> np.ndarray:
    """imagecorruptions' function for ``name`` at ``severity`` (ImageNet parameters), before its uint8 cast."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(getattr(icc, name)(Image.fromarray(image), severity), dtype=np.float64)


def imagecorruptions_uint8(name: str, image: np.ndarray, severity: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return imagecorruptions.corrupt(image, severity=severity, corruption_name=name)


def motion_blur(image: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """imagecorruptions' line kernel at a given angle (its motion_blur draws the angle itself)."""
    return np.clip(icc._motion_blur(image, radius=radius, sigma=sigma, angle=angle), 0, 255)


def elastic(image: np.ndarray, moved: np.ndarray, noise: np.ndarray, c: Any) -> np.ndarray:
    """make_imagenet_c.py's elastic_transform for given random draws (affine anchors moved, noise fields)."""
    x = image.astype(np.float32) / 255
    height, width = x.shape[:2]
    centre, side = np.float32([width // 2, height // 2]), min(height, width) // 3
    anchors = np.float32([centre + side, [centre[0] + side, centre[1] - side], centre - side])
    matrix = cv2.getAffineTransform(anchors, moved.astype(np.float32))
    x = cv2.warpAffine(x, matrix, (width, height), borderMode=cv2.BORDER_REFLECT_101)
    dx, dy = (skimage.filters.gaussian(n, c[1], mode="reflect", truncate=3) * c[0] for n in noise)
    rows, cols, chans = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    coords = (rows + dy[..., None]).ravel(), (cols + dx[..., None]).ravel(), chans.ravel()
    return np.clip(map_coordinates(x, coords, order=1, mode="reflect").reshape(x.shape), 0, 1) * 255


def temporal_motion_blur(frames: np.ndarray, half_window: int) -> np.ndarray:
    """(Y)'s temporal motion blur: frame i = mean of frames [i - c, i + c] that exist. frames: T x H x W x 3."""
    x = frames.astype(np.float64)
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = x[max(0, i - half_window) : i + half_window + 1].mean(axis=0)
    return out
