"""Severity tables (1..5) of every frame-level corruption: the one place for their parameters.

Each table maps a corruption *function* name to its five per-severity parameters, stored
exactly as the function takes them. Sources:

(H) Hendrycks & Dietterich, ICLR 2019 -- github.com/hendrycks/robustness,
    ``ImageNet-C/create_c/make_imagenet_c.py`` (IMAGENET), ``make_tinyimagenet_c.py``
    (TINYIMAGENET), ``make_cifar_c.py`` (CIFAR).
(Y) Yi et al., NeurIPS 2021 D&B -- github.com/Newbeeyoung/Video-Corruption-Robustness,
    ``create_mini_kinetics_c.py`` and ``create_mini_ssv2_c.py`` (MINI_KINETICS, MINI_SSV2).
(S) Schiappa et al., CVPR 2023 -- github.com/Maddy12/ActionRecognitionRobustnessEval,
    ``core/video_perturb.py`` (UCF101_P: its per-frame spatial perturbations).

Parameter layouts (one severity):
  glass_blur (sigma, max_delta, iterations)    defocus_blur (radius, alias_blur)
  motion_blur (radius, sigma)                  zoom_blur  tuple of zoom factors
  snow (loc, scale, zoom, threshold, blur radius, blur sigma, blend)
  frost (image weight, frost weight, photo scale)   fog (strength, wibble decay)
  elastic_transform (alpha, sigma, affine jitter) in pixels   saturate (a, b): S = S * a + b
  spatter (loc, scale, sigma, threshold, strength, mode 0 water / 1 mud)
  rain (pixels per drop, streak length, darken)  temporal_motion_blur  half window c (frames)
"""

from __future__ import annotations

from typing import Any

import numpy as np

Table = dict[str, tuple[Any, ...]]


def _zoom_factors(stop: float, step: float) -> tuple[float, ...]:
    """np.arange(1, stop, step) of the references, including its floating-point end effects
    (np.arange(1, 1.11, 0.01) has 12 factors, not 11)."""
    return tuple(np.arange(1, stop, step).tolist())


# (H) make_imagenet_c.py -- 224 px. Frost crops the photographs unscaled (photo scale 1).
IMAGENET: Table = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": (_zoom_factors(1.11, 0.01), _zoom_factors(1.16, 0.01), _zoom_factors(1.21, 0.02),
                  _zoom_factors(1.26, 0.02), _zoom_factors(1.31, 0.03)),
    "snow": ((0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
             (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)),
    "frost": ((1, 0.4, 1.0), (0.8, 0.6, 1.0), (0.7, 0.7, 1.0), (0.65, 0.7, 1.0), (0.6, 0.75, 1.0)),
    "fog": ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    # "244 should have been 224, but ultimately nothing is incorrect" (the reference's comment).
    "elastic_transform": ((244 * 2, 244 * 0.7, 244 * 0.1), (244 * 2, 244 * 0.08, 244 * 0.2),
                          (244 * 0.05, 244 * 0.01, 244 * 0.02), (244 * 0.07, 244 * 0.01, 244 * 0.02),
                          (244 * 0.12, 244 * 0.01, 244 * 0.02)),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    "jpeg_compression": (25, 18, 15, 10, 7),
    "spatter": ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
                (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
}

# (H) make_tinyimagenet_c.py -- 64 px. Frost photographs are shrunk to 0.3 before cropping.
# Spatter follows the file (strength 0.6 throughout, thresholds .68/.67 at severities 4/5),
# which differs slightly from CIFAR's.
TINYIMAGENET: Table = {
    "gaussian_noise": (0.04, 0.08, 0.12, 0.15, 0.18),
    "shot_noise": (250, 100, 50, 30, 15),
    "impulse_noise": (0.01, 0.02, 0.05, 0.08, 0.14),
    "speckle_noise": (0.15, 0.2, 0.25, 0.3, 0.35),
    "gaussian_blur": (0.5, 0.75, 1, 1.25, 1.5),
    "glass_blur": ((0.1, 1, 1), (0.5, 1, 1), (0.6, 1, 2), (0.7, 2, 1), (0.9, 2, 2)),
    "defocus_blur": ((0.5, 0.6), (1, 0.1), (1.5, 0.1), (2.5, 0.01), (3, 0.1)),
    "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
    "zoom_blur": tuple(_zoom_factors(stop, 0.01) for stop in (1.06, 1.11, 1.16, 1.21, 1.26)),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.8), (0.1, 0.2, 1, 0.5, 10, 4, 0.8), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.7),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.65), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.6)),
    "frost": ((1, 0.3, 0.3), (0.9, 0.4, 0.3), (0.8, 0.45, 0.3), (0.75, 0.5, 0.3), (0.7, 0.55, 0.3)),
    "fog": ((0.4, 3), (0.7, 3), (1, 2.5), (1.5, 2), (2, 1.75)),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "elastic_transform": ((64 * 0, 64 * 0, 64 * 0.08), (64 * 0.05, 64 * 0.3, 64 * 0.06),
                          (64 * 0.1, 64 * 0.08, 64 * 0.06), (64 * 0.1, 64 * 0.03, 64 * 0.03),
                          (64 * 0.16, 64 * 0.03, 64 * 0.02)),
    "pixelate": (0.9, 0.8, 0.7, 0.6, 0.5),
    "jpeg_compression": (65, 58, 50, 40, 25),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.6, 0), (0.65, 0.1, 0.8, 0.7, 0.6, 0), (0.65, 0.3, 1, 0.69, 0.6, 0),
                (0.65, 0.1, 0.7, 0.68, 0.6, 1), (0.65, 0.1, 0.5, 0.67, 0.6, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (30, 0.2)),
}

# (H) make_cifar_c.py -- 32 px. Frost photographs are shrunk to 0.2 before cropping.
CIFAR: Table = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": tuple(_zoom_factors(stop, 0.01) for stop in (1.06, 1.11, 1.16, 1.21, 1.26)),
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
             (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "frost": ((1, 0.2, 0.2), (1, 0.3, 0.2), (0.9, 0.4, 0.2), (0.85, 0.4, 0.2), (0.75, 0.45, 0.2)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "elastic_transform": ((32 * 0, 32 * 0, 32 * 0.08), (32 * 0.05, 32 * 0.2, 32 * 0.07),
                          (32 * 0.08, 32 * 0.06, 32 * 0.06), (32 * 0.1, 32 * 0.04, 32 * 0.05),
                          (32 * 0.1, 32 * 0.03, 32 * 0.03)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
                (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
}

# (Y) create_mini_kinetics_c.py / create_mini_ssv2_c.py: the frame-level members of the
# Mini Kinetics-C preset (fog: one fractal per clip -> call with coherent=True). Rain:
# drops = H * W // pixels per drop; its fixed constants (width 1, grey 220, 3x3 blur,
# slant -1) live in weather.rain. Yi's motion blur is temporal (frame averaging).
MINI_KINETICS: Table = {
    "shot_noise": IMAGENET["shot_noise"],
    "fog": IMAGENET["fog"],
    "contrast": (0.5, 0.4, 0.3, 0.2, 0.1),
    "brightness": IMAGENET["brightness"],
    "saturate": IMAGENET["saturate"],
    "rain": ((770, 10, 0.8), (770, 30, 0.8), (770, 60, 0.7), (500, 60, 0.6), (400, 80, 0.5)),
    "temporal_motion_blur": (3, 5, 7, 9, 11),
}

# (Y) Mini SSv2-C: as Mini Kinetics-C but shorter motion-blur windows (SSv2 has fewer fps).
MINI_SSV2: Table = {**MINI_KINETICS, "temporal_motion_blur": (1, 2, 3, 4, 6)}

# (S) core/video_perturb.py: per-frame spatial perturbations of UCF101-P / HMDB51-P (fresh
# randomness on every frame). (S) calls jpeg_compression "compression"; shot and speckle
# noise use the Tiny-ImageNet strengths, the others ImageNet's.
UCF101_P: Table = {
    "gaussian_noise": IMAGENET["gaussian_noise"],
    "shot_noise": (250, 100, 50, 30, 15),
    "impulse_noise": IMAGENET["impulse_noise"],
    "speckle_noise": (0.15, 0.2, 0.25, 0.3, 0.35),
    "defocus_blur": IMAGENET["defocus_blur"],
    "motion_blur": IMAGENET["motion_blur"],
    "zoom_blur": IMAGENET["zoom_blur"],
    "jpeg_compression": IMAGENET["jpeg_compression"],
}

TABLES: dict[str, Table] = {
    "imagenet": IMAGENET, "tinyimagenet": TINYIMAGENET, "cifar": CIFAR,
    "mini_kinetics": MINI_KINETICS, "mini_ssv2": MINI_SSV2, "ucf101_p": UCF101_P,
}


def table_for_size(h: int, w: int) -> str:
    """Which (H) table suits frames of h x w: judged by the short side, as the datasets were
    made (CIFAR 32 px, Tiny-ImageNet 64 px, ImageNet 224 px)."""
    side = min(h, w)
    if side <= 32:
        return "cifar"
    if side <= 64:
        return "tinyimagenet"
    return "imagenet"
