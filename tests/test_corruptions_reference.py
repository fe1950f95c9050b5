"""Agreement with the reference implementation, `imagecorruptions` (the maintained imaug fork).

Deterministic corruptions must match within a mean absolute difference of 2 intensity levels
(0..255); random ones must match the reference's mean and standard deviation of the per-pixel
change within 10%. `imagecorruptions` hard-codes the ImageNet parameters, so at 32 px (CIFAR
parameters) the reference formula is re-run with the reference's own libraries (skimage,
PIL, OpenCV and imagecorruptions' helpers) and the CIFAR values; only the parameter choice
is ours. Elastic warps are compared with Hendrycks' algorithm (cv2 + scipy) on the same draws,
because imagecorruptions ships a different elastic transform.
"""

from __future__ import annotations

import warnings
from io import BytesIO

import numpy as np
import pytest
import torch

from corruptions import _filters, digital
from corruptions.tables_image import CIFAR, IMAGENET
from reference_import import import_reference
from test_corruptions_frame import FUNCTIONS, one_torch_thread, photo  # noqa: F401 (an autouse fixture)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    # installed but not importable = a failure, not a skip (tests/reference_import.py)
    cv2 = import_reference("cv2", ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                                   "opencv-contrib-python-headless", "imagecorruptions-imaug"))
    icc = import_reference("imagecorruptions.corruptions", ("imagecorruptions-imaug", "imagecorruptions"),
                           "the test extra needs imagecorruptions-imaug>=1.1.5; the original imagecorruptions "
                           "1.1.2 imports pkg_resources, which setuptools >= 81 no longer ships")
    import imagecorruptions
    import skimage.color
    import skimage.filters
    from PIL import Image
    from scipy.ndimage import map_coordinates

PHOTOS = ("astronaut", "chelsea", "coffee")


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [0, 1] -> H x W x 3 uint8 (how the package core stores results)."""
    return (x[0] * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def ours(name: str, image: np.ndarray, param, seed: int = 0) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    return as_uint8(FUNCTIONS[name](x, param, torch.Generator().manual_seed(seed)))


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - np.asarray(b, dtype=np.float64)).mean())


@pytest.fixture(scope="module")
def photos_224() -> list[np.ndarray]:
    return [as_uint8(photo(name, 224)) for name in PHOTOS]


@pytest.fixture(scope="module")
def photos_32() -> list[np.ndarray]:
    return [as_uint8(photo(name, 32)) for name in PHOTOS]


DETERMINISTIC = ["brightness", "contrast", "saturate", "jpeg_compression", "pixelate", "defocus_blur", "zoom_blur",
                 "gaussian_blur"]


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_match_imagecorruptions_at_224(name: str, photos_224: list[np.ndarray]) -> None:
    for severity in range(1, 6):
        for image in photos_224:
            reference = imagecorruptions.corrupt(image, severity=severity, corruption_name=name)
            assert mad(ours(name, image, IMAGENET[name][severity - 1]), reference) < 2, severity


def _hsv(image: np.ndarray, channel: int, change) -> np.ndarray:
    hsv = skimage.color.rgb2hsv(image / 255.0)
    hsv[..., channel] = np.clip(change(hsv[..., channel]), 0, 1)
    return np.clip(skimage.color.hsv2rgb(hsv), 0, 1) * 255


def _pil(image: np.ndarray, operation) -> np.ndarray:
    return np.asarray(operation(Image.fromarray(image)))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buffer = BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer)


def _zoom(image: np.ndarray, factors) -> np.ndarray:
    x = (image / 255.0).astype(np.float32)
    total = x + sum(icc.clipped_zoom(x, z)[: x.shape[0], : x.shape[1]] for z in factors)
    return np.clip(total / (len(factors) + 1), 0, 1) * 255


def _defocus(image: np.ndarray, c) -> np.ndarray:
    kernel = icc.disk(radius=c[0], alias_blur=c[1])
    return np.clip(np.stack([cv2.filter2D(image[..., d] / 255.0, -1, kernel) for d in range(3)], -1), 0, 1) * 255


def _contrast(image: np.ndarray, c: float) -> np.ndarray:
    x = image / 255.0
    mean = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - mean) * c + mean, 0, 1) * 255


def _pixelate(img: Image.Image, c: float) -> Image.Image:
    small = img.resize((int(img.width * c), int(img.height * c)), Image.BOX)
    return small.resize(img.size, Image.BOX)


# The reference formulas (Hendrycks' make_cifar_c.py), run with the reference's libraries.
REFERENCE_FORMULAS = {
    "brightness": lambda image, c: _hsv(image, 2, lambda v: v + c),
    "saturate": lambda image, c: _hsv(image, 1, lambda s: s * c[0] + c[1]),
    "contrast": _contrast,
    "jpeg_compression": lambda image, c: _pil(image, lambda img: _jpeg(img, c)),
    "pixelate": lambda image, c: _pil(image, lambda img: _pixelate(img, c)),
    "defocus_blur": _defocus,
    "zoom_blur": _zoom,
    "gaussian_blur": lambda image, c: np.clip(skimage.filters.gaussian(image / 255.0, sigma=c, channel_axis=-1), 0, 1)
    * 255,
}


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_match_the_reference_formulas_with_cifar_parameters(name: str,
                                                                          photos_32: list[np.ndarray]) -> None:
    for severity in range(1, 6):
        for image in photos_32:
            reference = np.floor(REFERENCE_FORMULAS[name](image, CIFAR[name][severity - 1]))  # np.uint8 truncates
            assert mad(ours(name, image, CIFAR[name][severity - 1]), reference) < 2, severity


@pytest.mark.parametrize("radius,sigma", [IMAGENET["motion_blur"][0], IMAGENET["motion_blur"][4],
                                          CIFAR["motion_blur"][3]])
@pytest.mark.parametrize("angle", [-45.0, -12.3, 0.0, 30.0, 45.0, -100.0])
def test_motion_blur_kernel_matches_imagecorruptions(radius: int, sigma: float, angle: float,
                                                     photos_224: list[np.ndarray]) -> None:
    image = photos_224[1]
    reference = np.clip(icc._motion_blur(image, radius=radius, sigma=sigma, angle=angle), 0, 255)
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    out = _filters.line_blur(x, radius, sigma, [angle])[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(out - reference).mean() < 0.01


def hendrycks_elastic(image: np.ndarray, moved: np.ndarray, noise: np.ndarray, c) -> np.ndarray:
    """make_imagenet_c.py's elastic_transform for given random draws (cv2 + skimage + scipy)."""
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


@pytest.mark.parametrize("table,severity", [("imagenet", 1), ("imagenet", 2), ("imagenet", 5), ("cifar", 2),
                                            ("cifar", 5)])
def test_elastic_matches_hendrycks_on_the_same_draws(table: str, severity: int, photos_224, photos_32) -> None:
    image, c = (photos_224[0], IMAGENET["elastic_transform"][severity - 1]) if table == "imagenet" else (
        photos_32[2], CIFAR["elastic_transform"][severity - 1])
    height, width = image.shape[:2]
    generator = torch.Generator().manual_seed(severity)
    anchors = digital._affine_anchors(height, width, torch.device("cpu"))
    moved = anchors + (torch.rand(1, 3, 2, generator=generator, dtype=torch.float64) * 2 - 1) * c[2]
    noise = torch.rand(1, 2, height, width, generator=generator) * 2 - 1
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    out = digital.elastic_warp(x, moved, noise, c[0], c[1]).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    reference = hendrycks_elastic(image, moved[0].numpy(), noise[0].numpy().astype(np.float64), c)
    assert np.abs(out - reference).mean() < 2


# Random corruptions: the reference functions return the float image before np.uint8, so the
# comparison is free of its truncation. Samples: one 224 px photo, N frames per severity.
RANDOM = [("gaussian_noise", 8), ("shot_noise", 8), ("impulse_noise", 8), ("speckle_noise", 8), ("spatter", 24),
          ("snow", 24), ("glass_blur_reference", 8)]


@pytest.mark.parametrize("name,samples", RANDOM)
def test_random_change_statistics_match_imagecorruptions(name: str, samples: int, photos_224) -> None:
    """Mean and std of out - in agree within 10% (the mean within 10% of the mean |change|,
    since a symmetric noise has a mean change near zero)."""
    image = photos_224[0]
    reference_fn = getattr(icc, name.replace("_reference", ""))
    for severity in range(1, 6):
        clip = torch.from_numpy(image).permute(2, 0, 1).float()[None].expand(samples, -1, -1, -1) / 255
        param = IMAGENET[name.replace("_reference", "")][severity - 1]
        out = FUNCTIONS[name](clip.contiguous(), param, torch.Generator().manual_seed(severity))
        change = (out * 255).permute(0, 2, 3, 1).double().numpy() - image
        np.random.seed(severity)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = np.stack([np.asarray(reference_fn(Image.fromarray(image), severity), dtype=np.float64)
                                  for _ in range(samples)]) - image
        scale = np.abs(reference).mean()
        assert abs(change.mean() - reference.mean()) <= 0.1 * scale, (severity, change.mean(), reference.mean())
        assert abs(change.std() - reference.std()) <= 0.1 * reference.std(), (severity, change.std(), reference.std())
