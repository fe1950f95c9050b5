"""Presets: a benchmark's list of corruptions, each display name -> (function key, severity table).

The same display name can mean different things in different benchmarks (Mini Kinetics-C's
``motion_blur`` averages neighbouring frames, ImageNet-C's is a spatial line kernel; UCF101-P
calls JPEG ``jpeg``), so a preset entry names the function and the table explicitly. A preset
entry may also fix the temporal coherence its benchmark defines (Mini Kinetics-C's fog is one
static fractal per clip) and name a ``reference`` twin function.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from corruptions import tables_image, tables_video
from corruptions.errors import CorruptionError
from corruptions.tables_video import Table


@dataclass(frozen=True)
class Entry:
    name: str  # display name inside the preset
    key: str  # registry function key (variant "fixed")
    table: Table
    reference_key: str | None = None  # function of variant "reference" when it differs
    coherent: bool | None = None  # the benchmark's definition; None = the caller's choice (default False)

    def function_key(self, variant: str) -> str:
        return self.reference_key if variant == "reference" and self.reference_key else self.key

    def param(self, severity: int, variant: str) -> Any:
        return self.table.row(variant)[severity - 1]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    entries: dict[str, Entry] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    benchmark: bool = True  # False for the collection of corruptions outside any benchmark

    def names(self) -> list[str]:
        return list(self.entries)


COMMON_15 = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
EXTRA_4 = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
IMAGE_SOURCES = {
    "imagenet": "(H) make_imagenet_c.py",
    "tinyimagenet": "(H) make_tinyimagenet_c.py",
    "cifar": "(H) make_cifar_c.py",
}
REFERENCE_TWINS = {"glass_blur": "glass_blur_reference"}  # (H)'s copy-instead-of-swap glass blur


def _image_entry(table: str, key: str, name: str | None = None, coherent: bool | None = None) -> Entry:
    """An entry whose parameters live in corruptions.tables_image."""
    values = tables_image.TABLES[table][key]
    source = f"corruptions.tables_image.{table.upper()}[{key!r}]"
    if table in IMAGE_SOURCES:
        source += f" <- {IMAGE_SOURCES[table]}"
    return Entry(name or key, key, Table(tuple(values), source), REFERENCE_TWINS.get(key), coherent)


def _video_entry(key: str, name: str | None = None, reference_key: str | None = None) -> Entry:
    """An entry whose parameters live in corruptions.tables_video."""
    return Entry(name or key, key, tables_video.TABLES[key], reference_key)


def _entries(*entries: Entry) -> dict[str, Entry]:
    return {e.name: e for e in entries}


def _image_preset(name: str, table: str, size: str) -> Preset:
    return Preset(
        name,
        f"(H) 15 common + 4 extra corruptions with {table} parameters ({size})",
        _entries(*(_image_entry(table, key) for key in COMMON_15 + EXTRA_4)),
    )


@cache
def all_presets() -> dict[str, Preset]:
    presets = [
        _image_preset("imagenet-c", "imagenet", "images of about 224 px"),
        _image_preset("tinyimagenet-c", "tinyimagenet", "64 px images"),
        _image_preset("cifar-c", "cifar", "32 px images"),
        Preset(
            "ucf101-p",
            "(S) the 18 video perturbations of UCF101-P / HMDB51-P: noise, blur, digital, camera, temporal",
            _entries(
                *(_image_entry("ucf101_p", key) for key in ("gaussian_noise", "shot_noise", "impulse_noise",
                                                            "speckle_noise", "defocus_blur", "motion_blur",
                                                            "zoom_blur")),
                _image_entry("ucf101_p", "jpeg_compression", name="jpeg"),
                _video_entry("mpeg2"),
                _video_entry("mpeg4"),
                _video_entry("translate", reference_key="translate_reference"),
                _video_entry("rotate"),
                _video_entry("static_rotate"),
                _video_entry("sampling", reference_key="sampling_reference"),
                _video_entry("reverse_sampling", reference_key="reverse_sampling_reference"),
                _video_entry("jumble"),
                _video_entry("box_jumble"),
                _video_entry("freeze", reference_key="freeze_reference"),
            ),
            aliases=("hmdb51-p",),
        ),
        Preset(
            "mini-kinetics-c",
            "(Y) the 12 corruptions of Mini Kinetics-C (their evaluation list): temporal motion blur, "
            "static fog, rain, compression and transmission errors, frame rate",
            _entries(
                _image_entry("mini_kinetics", "shot_noise"),
                _image_entry("mini_kinetics", "temporal_motion_blur", name="motion_blur"),
                _image_entry("mini_kinetics", "fog", coherent=True),
                _image_entry("mini_kinetics", "contrast"),
                _image_entry("mini_kinetics", "brightness"),
                _image_entry("mini_kinetics", "saturate"),
                _image_entry("mini_kinetics", "rain"),
                _video_entry("h264_crf"),
                _video_entry("h265_crf"),
                _video_entry("bit_error"),
                _video_entry("packet_loss"),
                _video_entry("frame_rate"),
            ),
        ),
        Preset(
            "extra",
            "corruptions outside the benchmark lists: (Y)'s average-bit-rate compression, which "
            "their generator makes but their evaluation does not use",
            _entries(_video_entry("h264_abr"), _video_entry("h265_abr")),
            benchmark=False,
        ),
    ]
    return {p.name: p for p in presets}


def aliases() -> dict[str, str]:
    return {alias: p.name for p in all_presets().values() for alias in p.aliases}


def get_preset(name: str) -> Preset:
    canonical = aliases().get(name, name)
    presets = all_presets()
    if canonical not in presets:
        valid = ", ".join([*presets, *aliases()])
        raise CorruptionError(f"unknown preset {name!r}; valid: {valid}")
    return presets[canonical]


IMAGE_PRESET_FOR_TABLE = {"imagenet": "imagenet-c", "tinyimagenet": "tinyimagenet-c", "cifar": "cifar-c"}
VIDEO_PRESET_ORDER = ("ucf101-p", "mini-kinetics-c", "extra")


def auto_preset(name: str, height: int, width: int) -> Preset:
    """The preset used when the caller names none.

    Frame-level corruptions of (H) take the table that suits the frame size (CIFAR, Tiny-
    ImageNet or ImageNet parameters); video-only ones come from the first video preset that
    has them (UCF101-P, then Mini Kinetics-C, then the extras).
    """
    image = get_preset(IMAGE_PRESET_FOR_TABLE[tables_image.table_for_size(height, width)])
    if name in image.entries:
        return image
    for preset_name in VIDEO_PRESET_ORDER:
        if name in all_presets()[preset_name].entries:
            return all_presets()[preset_name]
    raise unknown_corruption(name)


def all_names() -> list[str]:
    """Every display name of every preset, in preset order, without repeats."""
    seen: dict[str, None] = {}
    for preset in all_presets().values():
        seen.update(dict.fromkeys(preset.entries))
    return list(seen)


def unknown_corruption(name: str, preset: Preset | None = None) -> CorruptionError:
    choices = preset.names() if preset else all_names()
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    where = f" in preset {preset.name!r}" if preset else ""
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return CorruptionError(f"unknown corruption {name!r}{where}; {hint}valid: {', '.join(choices)}")
