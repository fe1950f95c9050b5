"""Public API: apply a named corruption at a severity to a uint8 video or image tensor.

Layout: uint8 ``[T, C, H, W]`` (an image is T = 1) or ``[C, H, W]``, C = 3 (RGB); the
result has the same layout and dtype. T changes only where a definition says so:
frame_rate, and the ``reference`` variants of sampling, reverse_sampling and freeze.

Seeding: a call draws from a torch.Generator on the video's device, seeded from
sha256(seed, video_id, corruption, severity), so the same inputs give the same output
(bit for bit on the same device) and different videos or severities get independent draws.
``seed=None`` takes a seed from torch's global RNG (so ``torch.manual_seed`` fixes it) and
reports it in the info; an explicit ``generator`` is used as given (for the per-frame
corruptions below it supplies the seed their frames' generators derive from).

Corruptions that draw afresh for every frame (scope FRAME in ``corruptions.registry``: noise,
weather, motion and glass blur, elastic, camera shake and roll) give each frame a generator of
its own, seeded from (that seed, frame index); frame 0's is the clip's seed itself, so an image
(a one-frame clip) seeded with ``seed=`` draws exactly as before per-frame seeding existed.
Frame t's output therefore depends on frame t alone, which is what lets ``frames=`` compute
just the frames a caller reads (an evaluation's test views) and still equal the full output
at those frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import numbers
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from corruptions import cache as _cache
from corruptions import presets as _presets
from corruptions import registry
from corruptions import weather
from corruptions.errors import CorruptionError

VARIANTS = ("fixed", "reference")
DEFAULT_FPS = 30.0  # assumed source frame rate when the caller does not give one


@dataclass(frozen=True)
class CorruptionInfo:
    """What a call did, for manifests: enough to reproduce the output exactly."""

    name: str
    function: str
    family: str
    preset: str
    severity: int
    variant: str
    params: Any  # JSON-ready form of the table entry used
    coherent: bool
    seed: int | None  # None when the caller passed a generator
    video_id: str
    frames_in: int
    frames_out: int
    fps: float | None  # output frame rate when the corruption changed it, else None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"frost_source": ...}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def derive_seed(seed: int, video_id: str, name: str, severity: int) -> int:
    """Stable 63-bit seed for one (seed, video, corruption, severity) (hashlib, not hash())."""
    return _hash_seed(f"{int(seed)}\x1f{video_id}\x1f{name}\x1f{int(severity)}")


def frame_seed(clip_seed: int, frame: int) -> int:
    """Seed of frame ``frame``'s generator in a FRAME-scope call: the clip's own for frame 0."""
    return int(clip_seed) if frame == 0 else _hash_seed(f"{int(clip_seed)}\x1fframe\x1f{int(frame)}")


def _hash_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") & (2**63 - 1)


def jsonable(value: Any) -> Any:
    """Parameters as plain JSON values (dataclasses -> dicts, tuples/arrays -> lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------------------------
# validation


def _check_severity(severity: Any) -> int:
    if isinstance(severity, bool) or not isinstance(severity, numbers.Integral) or not 1 <= int(severity) <= 5:
        raise CorruptionError(f"severity must be an integer 1..5, got {severity!r}")
    return int(severity)


def _check_video(video: Any) -> torch.Tensor:
    """Return the video as [T, C, H, W]; reject anything the corruptions cannot take."""
    if not isinstance(video, torch.Tensor):
        raise CorruptionError(f"expected a torch.Tensor, got {type(video).__name__}; use torch.from_numpy(...)")
    if video.dtype != torch.uint8:
        raise CorruptionError(
            f"expected a uint8 tensor (0..255), got {video.dtype}; convert with (x * 255).round().to(torch.uint8)"
        )
    if video.ndim not in (3, 4):
        raise CorruptionError(f"expected [T, C, H, W] or [C, H, W], got shape {tuple(video.shape)}")
    clip = video if video.ndim == 4 else video.unsqueeze(0)
    if clip.shape[1] != 3:
        hint = "; channels last? use .permute(0, 3, 1, 2)" if clip.shape[-1] == 3 else ""
        raise CorruptionError(f"expected 3 colour channels in dim -3, got shape {tuple(video.shape)}{hint}")
    if 0 in clip.shape:
        raise CorruptionError(f"empty video of shape {tuple(video.shape)}")
    return clip


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise CorruptionError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return variant


def _resolve(name: str, preset: str | None, height: int, width: int) -> tuple[_presets.Preset, _presets.Entry]:
    if preset is None:
        chosen = _presets.auto_preset(name, height, width)
    else:
        chosen = _presets.get_preset(preset)
    if name not in chosen.entries:
        raise _presets.unknown_corruption(name, chosen)
    return chosen, chosen.entries[name]


def _check_frames(frames: Any, video: torch.Tensor, name: str, scope: str) -> list[int]:
    """``frames=`` as a list of in-range indices, for corruptions that can compute some frames alone."""
    if video.ndim == 3:
        raise CorruptionError("frames= selects frames of a [T, C, H, W] clip; an image [C, H, W] has one, omit it")
    num_frames = video.shape[0]
    if scope == registry.CLIP:
        raise CorruptionError(f"{name} needs the whole clip (its frames depend on later frames); call it without frames=")
    wanted = [int(f) for f in frames]
    if not wanted or not all(0 <= f < num_frames for f in wanted):
        raise CorruptionError(f"frames= must list indices in 0..{num_frames - 1} of the clip, got {list(frames)!r}")
    return wanted


def _clip_seed(device: torch.device, seed: int | None, generator: torch.Generator | None,
               video_id: str, name: str, severity: int) -> tuple[int | None, int | None]:
    """(seed of the clip's draws, base seed to report); both None when the caller gave a generator."""
    if generator is not None:
        if torch.device(generator.device).type != device.type:
            raise CorruptionError(f"generator is on {generator.device} but the video is on {device}; create it there")
        return None, None
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    return derive_seed(seed, video_id, name, severity), int(seed)


@dataclass(frozen=True)
class Call:
    """One (corruption, severity, options) resolved against a frame size: what ``_run`` needs."""

    preset: _presets.Preset
    function: registry.Function
    param: Any
    coherent: bool
    scope: str
    severity: int
    variant: str


def resolve_call(name: str, severity: Any, preset: str | None, variant: str, coherent: bool | None,
                 size: Sequence[int]) -> Call:
    """Check the arguments and look up the function, parameter and scope for frames of ``size`` (H, W)."""
    severity = _check_severity(severity)
    variant = _check_variant(variant)
    height, width = int(size[0]), int(size[1])
    chosen, entry = _resolve(name, preset, height, width)
    function = registry.get_function(entry.function_key(variant))
    if min(height, width) < function.min_size:
        raise CorruptionError(
            f"{name} needs frames of at least {function.min_size}x{function.min_size} px, got {height}x{width}"
        )
    coherent = bool(entry.coherent if coherent is None and entry.coherent is not None else coherent)
    return Call(chosen, function, entry.param(severity, variant), coherent, function.scope_for(coherent), severity,
                variant)


def _run(function: registry.Function, clip: torch.Tensor, param: Any, scope: str, frame_ids: list[int],
         coherent: bool, kwargs: dict[str, Any], clip_seed: int | None,
         generator: torch.Generator | None) -> torch.Tensor:
    """The function on uint8 ``clip`` (the frames ``frame_ids``); FRAME scope runs frame by frame.

    A caller's generator is used as given, except for FRAME scope, where it supplies the
    seed the frames' generators derive from.
    """
    if scope != registry.FRAME and function.index_plan is not None:  # whole frames reordered: stay in uint8
        return clip[function.index_plan(clip.shape[0], param, generator or seeded(clip.device, clip_seed))
                    .to(clip.device)]
    if function.uint8_fn is not None:  # the same result without the float round trip
        return corrupt_frames(function.uint8_fn, clip, param, scope, frame_ids, coherent, kwargs, clip_seed, generator)
    x = clip.float().div_(255)
    return to_uint8(corrupt_frames(function.fn, x, param, scope, frame_ids, coherent, kwargs, clip_seed, generator))


def seeded(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device`` seeded with ``seed`` (each call's draws come from these)."""
    return torch.Generator(device=device).manual_seed(seed)


def corrupt_frames(fn: Any, x: torch.Tensor, param: Any, scope: str, frame_ids: list[int], coherent: bool,
                   kwargs: dict[str, Any], clip_seed: int | None, generator: torch.Generator | None) -> torch.Tensor:
    """``fn`` (a function's float form or its uint8 kernel) on ``x`` [T, C, H, W]: per frame with a
    generator each for FRAME scope, else once for the clip."""
    if scope != registry.FRAME:
        return fn(x, param, generator or seeded(x.device, clip_seed), coherent=coherent, **kwargs)
    if generator is not None:
        clip_seed = int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=generator.device).item())
    out = torch.empty_like(x)
    for i, frame in enumerate(frame_ids):
        out[i : i + 1] = fn(x[i : i + 1], param, seeded(x.device, frame_seed(clip_seed, frame)), coherent=False,
                            **kwargs)
    return out


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float output in [0, 1] -> uint8, rounding to the nearest level (the inverse of ``/ 255``)."""
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8)


def _extra_info(function_key: str) -> dict[str, Any]:
    """Facts the output depends on beyond the parameters (which frost photographs were used)."""
    if function_key == "frost":
        return {"frost_source": weather.frost_source()}
    return {}


# ---------------------------------------------------------------------------------------------
# public functions


def apply_with_info(
    video: torch.Tensor,
    name: str,
    severity: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    preset: str | None = None,
    variant: str = "fixed",
    coherent: bool | None = None,
    video_id: str = "",
    fps: float | None = None,
    frames: Sequence[int] | None = None,
) -> tuple[torch.Tensor, CorruptionInfo]:
    """Corrupt ``video`` and describe what was done (see :func:`apply` for the arguments)."""
    clip = _check_video(video)
    call = resolve_call(name, severity, preset, variant, coherent, clip.shape[-2:])
    chosen, function, param, coherent, scope = call.preset, call.function, call.param, call.coherent, call.scope
    severity, variant = call.severity, call.variant
    if frames is None:
        frame_ids, part = list(range(clip.shape[0])), clip
    else:  # a causal corruption needs the frames up to the last one wanted; the others just theirs
        frame_ids = _check_frames(frames, video, name, scope)
        part = clip[: max(frame_ids) + 1] if scope == registry.CAUSAL else clip[frame_ids]
    clip_seed, used_seed = _clip_seed(clip.device, seed, generator, video_id, name, severity)
    source_fps = float(fps) if fps else DEFAULT_FPS
    kwargs = {"fps": source_fps} if function.accepts_fps else {}

    result = _run(function, part, param, scope, frame_ids, coherent, kwargs, clip_seed, generator)
    if frames is not None and scope == registry.CAUSAL:
        result = result[frame_ids]
    if video.ndim == 3:
        result = result[0]
    info = CorruptionInfo(
        name=name,
        function=function.key,
        family=function.family,
        preset=chosen.name,
        severity=severity,
        variant=variant,
        params=jsonable(param),
        coherent=coherent,
        seed=used_seed,
        video_id=video_id,
        frames_in=clip.shape[0],
        frames_out=result.shape[0],
        fps=function.output_fps(param, source_fps) if function.output_fps else None,
        extra=_extra_info(function.key),
    )
    return result, info


def apply(
    video: torch.Tensor,
    name: str,
    severity: int,
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    preset: str | None = None,
    variant: str = "fixed",
    coherent: bool | None = None,
    video_id: str = "",
    fps: float | None = None,
    frames: Sequence[int] | None = None,
) -> torch.Tensor:
    """Return ``video`` (uint8 [T, C, H, W] or [C, H, W]) corrupted by ``name`` at ``severity`` 1..5.

    preset: whose definition and parameters to use (``corruptions.presets()``); None picks
        the image table by frame size for frame-level corruptions, else the video preset.
    variant: "fixed" (default; corrected where the references have known defects) or
        "reference" (the reference code's values and behaviour).
    coherent: True reuses one random draw on every frame (a temporally coherent corruption),
        False draws per frame as the references do; None = the preset's definition (False
        except Mini Kinetics-C's static fog).
    seed / video_id / generator: see the module docstring.
    fps: the source frame rate (codec corruptions; frame_rate needs it), default 30.
    frames: compute only these frames of the output (``apply(v, ..., frames=f)`` equals
        ``apply(v, ...)[f]``), for the corruptions :func:`supports_frames` names.
    """
    options = dict(seed=seed, generator=generator, preset=preset, variant=variant, coherent=coherent,
                   video_id=video_id, fps=fps, frames=None if frames is None else tuple(int(f) for f in frames))
    cache = _cache.active_cache()
    key = None
    if cache is not None and isinstance(video, torch.Tensor):
        key = _cache.cache_key(video, {"name": name, "severity": severity, **options})
    if key is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    result = apply_with_info(video, name, severity, **options)[0]
    if key is not None:
        cache.put(key, result)
    return result


def supports_frames(name: str, preset: str | None = None, variant: str = "fixed", height: int = 224,
                    width: int = 224) -> bool:
    """True when ``apply(..., frames=)`` can compute some output frames without the whole clip.

    So it can for frame-level corruptions (except Mini Kinetics-C's motion blur, which averages
    neighbouring frames) and camera motion (frame t from input frame t), and
    for causal codecs (frame t from frames 0..t: MPEG-2/4 without B-frames); not for temporal
    reorderings and the other codecs. ``height``/``width`` matter only with ``preset=None``
    (the automatic choice by frame size).
    """
    _, entry = _resolve(name, preset, height, width)
    return registry.get_function(entry.function_key(_check_variant(variant))).scope != registry.CLIP


def runs_on_device(name: str, preset: str | None = None, variant: str = "fixed", height: int = 224,
                   width: int = 224) -> bool:
    """True when the corruption computes on the video's device (a GPU); False for the encoders
    (codecs, JPEG), which run on the CPU whatever the input, so callers keep them in CPU workers."""
    _, entry = _resolve(name, preset, height, width)
    return not registry.get_function(entry.function_key(_check_variant(variant))).host_only


def presets(include_extra: bool = True) -> list[str]:
    """Preset names (aliases such as ``hmdb51-p`` are accepted wherever a preset is)."""
    return [p.name for p in _presets.all_presets().values() if p.benchmark or include_extra]


def names(preset: str | None = None, family: str | None = None) -> list[str]:
    """Corruption names of a preset (all presets when None), optionally of one family.

    ``family`` is a family (noise, blur, weather, digital, temporal, camera, codec) or the
    group ``frame`` (the four per-frame families).
    """
    if preset is not None:
        entries = list(_presets.get_preset(preset).entries.values())
    else:
        entries = _first_entries()
    if family is None:
        return [e.name for e in entries]
    wanted = registry.family_members(family)
    return [e.name for e in entries if registry.get_function(e.key).family in wanted]


def _first_entries() -> list[_presets.Entry]:
    """For each display name, its entry in the first preset that has it."""
    first: dict[str, _presets.Entry] = {}
    for preset in _presets.all_presets().values():
        for name, entry in preset.entries.items():
            first.setdefault(name, entry)
    return list(first.values())


def families() -> list[str]:
    return list(registry.FAMILIES)


def info(name: str, preset: str | None = None) -> dict[str, Any]:
    """Definition of a corruption: family, function, presets, parameters per severity, source."""
    holders = [p for p in _presets.all_presets().values() if name in p.entries]
    if preset is not None:
        chosen = _presets.get_preset(preset)
        if name not in chosen.entries:
            raise _presets.unknown_corruption(name, chosen)
        holders = [chosen]
    if not holders:
        raise _presets.unknown_corruption(name)
    first = holders[0].entries[name]
    function = registry.get_function(first.key)
    return {
        "name": name,
        "family": function.family,
        "function": first.key,
        "doc": (function.fn.__doc__ or "").strip().splitlines()[0] if function.fn.__doc__ else "",
        "presets": [p.name for p in holders],
        "definitions": {
            p.name: {
                "function": p.entries[name].key,
                "reference_function": p.entries[name].reference_key,
                "coherent": p.entries[name].coherent,
                "fixed": jsonable(p.entries[name].table.values),
                "reference": jsonable(p.entries[name].table.row("reference")),
                "source": p.entries[name].table.source,
            }
            for p in holders
        },
    }


describe = info
