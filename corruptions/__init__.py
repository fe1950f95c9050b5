"""Corruptions for video and image robustness benchmarks (standalone: torch, numpy, PyAV).

    import corruptions
    corrupted = corruptions.apply(video_uint8_TCHW, "gaussian_noise", 3, seed=0, video_id="v1")
    corruptions.names("ucf101-p")          # the 18 perturbations of UCF101-P / HMDB51-P
    corruptions.info("motion_blur")        # family, presets, parameters per severity, sources
    corruptions.apply_batch(batch_BTCHW, "gaussian_noise", 3, seed=0, video_ids=ids)  # = apply per video

Presets reproduce ImageNet-C / Tiny-ImageNet-C / CIFAR-10-C (Hendrycks & Dietterich),
UCF101-P / HMDB51-P (Schiappa et al.) and Mini Kinetics-C (Yi et al.); ``variant="fixed"``
corrects their known defects, ``variant="reference"`` keeps the reference behaviour.
"""

from corruptions.api import (
    VARIANTS,
    CorruptionInfo,
    apply,
    apply_with_info,
    derive_seed,
    describe,
    families,
    info,
    names,
    presets,
    runs_on_device,
    supports_frames,
)
from corruptions.batch import apply_batch
from corruptions.cache import cached
from corruptions.errors import CorruptionError
from corruptions.selection import COMMON15, Selected, parse_severities, select

__all__ = [
    "COMMON15",
    "VARIANTS",
    "CorruptionError",
    "CorruptionInfo",
    "Selected",
    "apply",
    "apply_batch",
    "apply_with_info",
    "cached",
    "derive_seed",
    "describe",
    "families",
    "info",
    "names",
    "parse_severities",
    "presets",
    "runs_on_device",
    "select",
    "supports_frames",
]
