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
    from PIL import Image

    # the reference formulas `vidsparse fidelity` also runs (make_*_c.py with the reference's libraries)
    from vidsparse.fidelity import references

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


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_match_the_reference_formulas_with_cifar_parameters(name: str,
                                                                          photos_32: list[np.ndarray]) -> None:
    for severity in range(1, 6):
        for image in photos_32:
            reference = np.floor(references.DETERMINISTIC[name](image, CIFAR[name][severity - 1]))  # np.uint8 truncates
            assert mad(ours(name, image, CIFAR[name][severity - 1]), reference) < 2, severity


@pytest.mark.parametrize("radius,sigma", [IMAGENET["motion_blur"][0], IMAGENET["motion_blur"][4],
                                          CIFAR["motion_blur"][3]])
@pytest.mark.parametrize("angle", [-45.0, -12.3, 0.0, 30.0, 45.0, -100.0])
def test_motion_blur_kernel_matches_imagecorruptions(radius: int, sigma: float, angle: float,
                                                     photos_224: list[np.ndarray]) -> None:
    image = photos_224[1]
    reference = references.motion_blur(image, radius, sigma, angle)
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    out = _filters.line_blur(x, radius, sigma, [angle])[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(out - reference).mean() < 0.01


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
    reference = references.elastic(image, moved[0].numpy(), noise[0].numpy().astype(np.float64), c)
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
