"""Frame-level corruptions (ImageNet-C / Tiny-ImageNet-C / CIFAR-10-C and the per-frame ones of
the video presets) against Hendrycks' formulas and the imagecorruptions package."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

import corruptions
from corruptions import _filters, digital
from corruptions.reference_plans import real_clip
from corruptions.presets import get_preset
from vidsparse.fidelity import references
from vidsparse.fidelity.inputs import PHOTOS, as_float, photo
from vidsparse.fidelity.rows import Options, Row, check

HENDRYCKS = "hendrycks/robustness ImageNet-C/create_c/make_imagenet_c.py"
SOURCES = {
    "imagenet-c": (HENDRYCKS, 224),
    "tinyimagenet-c": ("hendrycks/robustness ImageNet-C/create_c/make_tinyimagenet_c.py", 64),
    "cifar-c": ("hendrycks/robustness ImageNet-C/create_c/make_cifar_c.py", 32),
}
SCHIAPPA = "Maddy12/RobustVideoModels (UCF101-P generator) on Hendrycks' frame formulas"
YI = "Newbeeyoung/Video-Corruption-Robustness create_mini_kinetics_c.py on Hendrycks' formulas"
VIDEO_SOURCES = {"ucf101-p": SCHIAPPA, "mini-kinetics-c": YI}
IMAGECORRUPTIONS = "bethgelab/imagecorruptions imagecorruptions/corruptions.py (imaug fork 1.1.5)"
MAD_LEVELS = 2.0  # mean |ours - reference| in 0..255 levels: rounding vs truncation and resampling
STAT_PERCENT = 10.0  # random corruptions: change statistics within 10%
STAT_VALUES = 600_000  # values per side of a statistics comparison (sampling error well under 10%)
LAYER_SAMPLES = {"fog": 96}  # draws per severity (default 24): a fog fractal's strength varies a lot per draw


def _entries(preset: str) -> dict[str, str]:
    """Display name -> function key of the fixed variant."""
    return {name: entry.key for name, entry in get_preset(preset).entries.items()}


def _param(preset: str, name: str, severity: int):
    return get_preset(preset).entries[name].param(severity, "fixed")


def _images(preset: str, options: Options) -> list[np.ndarray]:
    """Real inputs at the preset's size: photographs (image presets) or frames of a filmed clip."""
    if preset in SOURCES:
        return [photo(name, SOURCES[preset][1]) for name in PHOTOS[: options.photos]]
    clip = real_clip(frames=options.clip_frames)
    return [clip[t].permute(1, 2, 0).numpy() for t in range(0, options.clip_frames, max(1, options.clip_frames // options.photos))][: options.photos]


def _ours(image: np.ndarray, preset: str, name: str, severity: int, seed: int = 0) -> np.ndarray:
    tensor = torch.tensor(image).permute(2, 0, 1).contiguous()
    return corruptions.apply(tensor, name, severity, preset=preset, seed=seed).permute(1, 2, 0).numpy()


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - np.asarray(b, dtype=np.float64)).mean())


def _reference_of(preset: str) -> str:
    return SOURCES[preset][0] if preset in SOURCES else VIDEO_SOURCES[preset]


def _frame_entries(keys: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """(preset, display name, function key) of every frame-level preset entry whose function is in ``keys``."""
    for preset in (*SOURCES, *VIDEO_SOURCES):
        for name, key in _entries(preset).items():
            if key in keys:
                yield preset, name, key


@check("frame-deterministic")
def deterministic(options: Options) -> list[Row]:
    """Deterministic frame corruptions: mean absolute difference to the reference output."""
    rows = []
    for preset, name, key in _frame_entries(references.DETERMINISTIC):
        values, images = [], _images(preset, options)
        for severity in range(1, 6):
            param = _param(preset, name, severity)
            worst = 0.0
            for image in images:
                if preset == "imagenet-c":
                    reference = references.imagecorruptions_uint8(key, image, severity)
                else:  # the formula with this table's value; np.uint8 truncates as the scripts do
                    reference = np.floor(references.DETERMINISTIC[key](image, param))
                worst = max(worst, _mad(_ours(image, preset, name, severity), reference))
            values.append(worst)
        how = ("MAE vs imagecorruptions.corrupt on photographs" if preset == "imagenet-c" else
               "MAE vs the reference formula with this table's value (reference libraries)")
        rows.append(Row(preset, name, _reference_of(preset), how, "levels (0-255)", tuple(values), MAD_LEVELS))
    return rows


def _change_stats(samples: np.ndarray, image: np.ndarray) -> tuple[float, float, float]:
    change = samples.astype(np.float64) - image
    return float(change.mean()), float(change.std()), float(np.abs(change).mean())


def _stat_gap(ours: np.ndarray, reference: np.ndarray, image: np.ndarray) -> float:
    """Largest relative gap (%) in the mean (scaled by the mean |change|) and std of out - in."""
    mean_o, std_o, _ = _change_stats(ours, image)
    mean_r, std_r, scale = _change_stats(reference, image)
    if std_r == 0 and scale == 0:
        return 0.0 if std_o == 0 else 100.0
    return 100 * max(abs(mean_o - mean_r) / max(scale, 1e-9), abs(std_o - std_r) / max(std_r, 1e-9))


def _our_samples(image: np.ndarray, preset: str, name: str, severity: int, samples: int) -> np.ndarray:
    """``samples`` fresh draws: the image repeated as a clip (each frame draws its own)."""
    clip = torch.tensor(image).permute(2, 0, 1)[None].expand(samples, -1, -1, -1).contiguous()
    out = corruptions.apply(clip, name, severity, preset=preset, seed=severity)
    return out.permute(0, 2, 3, 1).numpy()


@check("frame-noise")
def noise(options: Options) -> list[Row]:
    """The four noises: change statistics vs the reference formula with the same parameter."""
    rows = []
    for preset, name, key in _frame_entries(references.NOISES):
        values, image = [], _images(preset, options)[0]
        samples = max(options.samples, STAT_VALUES // image.size)  # small images need more draws
        for severity in range(1, 6):
            param = _param(preset, name, severity)
            rng = np.random.default_rng(severity)
            reference = np.stack([references.NOISES[key](image, param, rng) for _ in range(samples)])
            values.append(_stat_gap(_our_samples(image, preset, name, severity, samples), reference, image))
        rows.append(Row(preset, name, _reference_of(preset), "change mean/std vs the reference formula",
                        "% gap", tuple(values), STAT_PERCENT))
    return rows


FROST_SOURCE = ("we follow make_imagenet_c.py: np.random.randint(5) picks frost1-5 at their own size; the "
                "imagecorruptions fork also draws frost6 and enlarges every photo 1.1x")


@check("frame-imagecorruptions-random")
def hard_coded_random(options: Options) -> list[Row]:
    """Random corruptions imagecorruptions hard-codes (ImageNet table): change statistics at 224 px,
    judged against the reference's own run-to-run variation (its layers vary a lot per draw)."""
    rows = []
    image = photo(PHOTOS[0], 224)
    def reference_draws(name: str, severity: int, seed: int) -> np.ndarray:
        samples = max(options.samples, LAYER_SAMPLES.get(name, 24))
        np.random.seed(seed)
        return np.stack([references.imagecorruptions_float(name, image, severity) for _ in range(samples)])

    for name in references.IMAGECORRUPTIONS_RANDOM:
        key = "glass_blur_reference" if name == "glass_blur" else name
        values, floors = [], []
        for severity in range(1, 6):
            reference = reference_draws(name, severity, severity)
            samples = len(reference)
            ours = _our_samples(image, "imagenet-c", name, severity, samples) if key == name else \
                _reference_twin(image, severity, samples)
            values.append(_stat_gap(ours, reference, image))
            floors.append(_stat_gap(reference_draws(name, severity, 1000 + severity), reference, image))
        rows.append(Row("imagenet-c", name, IMAGECORRUPTIONS, "change mean/std vs imagecorruptions on a photograph",
                        "% gap", tuple(values), STAT_PERCENT, variant="reference" if key != name else "fixed",
                        deliberate=FROST_SOURCE if name == "frost" else "", noise_floor=tuple(floors)))
    rows.extend(_glass_fixed_vs_reference(image, options))
    for preset in ("tinyimagenet-c", "cifar-c"):
        for name in references.IMAGECORRUPTIONS_RANDOM:
            rows.append(Row(preset, name, SOURCES[preset][0], "-", "-", (), 0.0,
                            note="imagecorruptions hard-codes ImageNet parameters; the algorithm is compared in "
                            "the imagenet-c row, the parameters are this script's table"))
    return rows


def _reference_twin(image: np.ndarray, severity: int, samples: int) -> np.ndarray:
    clip = torch.tensor(image).permute(2, 0, 1)[None].expand(samples, -1, -1, -1).contiguous()
    out = corruptions.apply(clip, "glass_blur", severity, preset="imagenet-c", variant="reference", seed=severity)
    return out.permute(0, 2, 3, 1).numpy()


def _glass_fixed_vs_reference(image: np.ndarray, options: Options) -> list[Row]:
    """Our default glass blur swaps pixels where (H) copies: the size of that difference."""
    values = []
    for severity in range(1, 6):
        fixed = _our_samples(image, "imagenet-c", "glass_blur", severity, 24)
        values.append(_stat_gap(fixed, _reference_twin(image, severity, 24), image))
    return [Row("imagenet-c", "glass_blur", HENDRYCKS, "change mean/std, fixed vs reference variant", "% gap",
                tuple(values), STAT_PERCENT, deliberate="(H) copies a pixel where it means to swap two; the "
                "fixed variant swaps (variant=reference keeps the copy)")]


MOTION_ANGLES = (-45.0, -12.3, 0.0, 30.0, 45.0)


@check("motion-blur-kernel")
def motion_blur(options: Options) -> list[Row]:
    """The line kernel at fixed angles vs imagecorruptions' kernel (its angle is drawn inside)."""
    rows = []
    for preset in (*SOURCES, "ucf101-p"):
        size = SOURCES[preset][1] if preset in SOURCES else 224
        image = photo(PHOTOS[1], size)
        x = as_float(image)
        values = []
        for severity in range(1, 6):
            radius, sigma = _param(preset, "motion_blur", severity)
            worst = 0.0
            for angle in MOTION_ANGLES:
                ours = _filters.line_blur(x, radius, sigma, [angle])[0].permute(1, 2, 0).numpy() * 255
                worst = max(worst, _mad(ours, references.motion_blur(image, radius, sigma, angle)))
            values.append(worst)
        rows.append(Row(preset, "motion_blur", IMAGECORRUPTIONS, "MAE of the blurred photograph at 5 fixed angles",
                        "levels (0-255)", tuple(values), 0.05))
    return rows


@check("elastic-same-draws")
def elastic(options: Options) -> list[Row]:
    """Elastic warp vs Hendrycks' cv2 + SciPy algorithm fed the same random draws."""
    rows = []
    for preset, (source, size) in SOURCES.items():
        image = photo(PHOTOS[0], size)
        height, width = image.shape[:2]
        values = []
        for severity in range(1, 6):
            c = _param(preset, "elastic_transform", severity)
            generator = torch.Generator().manual_seed(severity)
            anchors = digital._affine_anchors(height, width, torch.device("cpu"))
            moved = anchors + (torch.rand(1, 3, 2, generator=generator, dtype=torch.float64) * 2 - 1) * c[2]
            noise_field = torch.rand(1, 2, height, width, generator=generator) * 2 - 1
            ours = digital.elastic_warp(as_float(image), moved, noise_field, c[0], c[1]).clamp(0, 1)
            reference = references.elastic(image, moved[0].numpy(), noise_field[0].numpy().astype(np.float64), c)
            values.append(_mad(ours[0].permute(1, 2, 0).numpy() * 255, reference))
        rows.append(Row(preset, "elastic_transform", source, "MAE on a photograph, same random draws",
                        "levels (0-255)", tuple(values), MAD_LEVELS))
    return rows
