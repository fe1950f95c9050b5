"""Comparisons of our video corruptions with the reference generators, for tests and fidelity reports.

Each helper measures one claim of docs/corruptions.md on real footage or exact index plans, so
the tests and ``vidsparse fidelity`` check the same thing the same way:

- :func:`offline_sampling_plan`, :func:`offline_reverse_sampling_plan`: (S)'s offline generator,
  written from its description (keep every r-th frame; for the reverse, reverse the kept frames
  first, then repeat each r times; the first T frames);
- :func:`our_plan`: the frame indices ``corruptions.apply`` produces (read back from a clip
  whose frame t has every pixel equal to t);
- :func:`temporal_plans_agree`: per temporal corruption, whether our plan is the offline one
  (exact for the deterministic ones, the definition's structure for the random ones);
- :func:`translate_offsets`: the crop offsets our ``translate`` used, read back from a ramp
  image, in the generator's 256 px pixels, and how often a black border shows;
- :func:`real_clip`: real footage (a camera panning and zooming over scikit-image's sample
  photographs, with a cut), :func:`psnr`, :func:`psnr_ladder` and :func:`pixel_change` to
  measure damage per severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from corruptions.api import apply
from corruptions.tables_video import TABLES

TEMPORAL = ("sampling", "reverse_sampling", "jumble", "box_jumble", "freeze")
MAX_INDEX_FRAMES = 256  # frame ids are stored in uint8 pixels


# ---------------------------------------------------------------------------------------------
# temporal index plans


def offline_sampling_plan(num_frames: int, rate: int) -> list[int]:
    """(S) offline generator: every ``rate``-th frame, each shown ``rate`` times; first T frames."""
    kept = list(range(0, num_frames, rate))
    return [k for k in kept for _ in range(rate)][:num_frames]


def offline_reverse_sampling_plan(num_frames: int, rate: int) -> list[int]:
    """(S) offline generator: the kept frames reversed first, then each repeated; first T frames."""
    kept = list(range(0, num_frames, rate))[::-1]
    return [k for k in kept for _ in range(rate)][:num_frames]


def index_clip(num_frames: int, size: int = 4) -> torch.Tensor:
    """uint8 [T, 3, size, size] whose every pixel of frame t equals t."""
    if not 0 < num_frames <= MAX_INDEX_FRAMES:
        raise ValueError(f"an index clip holds 1..{MAX_INDEX_FRAMES} frames, not {num_frames}")
    return torch.arange(num_frames, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, size, size).contiguous()


def our_plan(name: str, num_frames: int, severity: int, *, variant: str = "fixed", seed: int = 0) -> list[int]:
    """The source frame index of every output frame of ``corruptions.apply`` (ucf101-p)."""
    out = apply(index_clip(num_frames), name, severity, preset="ucf101-p", variant=variant, seed=seed)
    return [int(v) for v in out[:, 0, 0, 0]]


def segments_shuffled(plan: Sequence[int], length: int) -> bool:
    """jumble's structure: every output position shows a frame of its own segment, each once."""
    n = len(plan)
    return all(sorted(plan[s : s + length]) == list(range(s, min(s + length, n))) for s in range(0, n, length))


def segments_reordered(plan: Sequence[int], length: int) -> bool:
    """box_jumble's structure: the input's segments, each intact, in some order."""
    n = len(plan)
    segments = {s: list(range(s, min(s + length, n))) for s in range(0, n, length)}
    pos, seen = 0, []
    while pos < n:
        segment = segments.get(plan[pos])
        if segment is None or list(plan[pos : pos + len(segment)]) != segment:
            return False
        seen.append(plan[pos])
        pos += len(segment)
    return sorted(seen) == sorted(segments)


def held_anchors(plan: Sequence[int], anchors: int) -> bool:
    """freeze's structure: ``anchors`` distinct frames, each shown from its own index until the next."""
    distinct = sorted(set(plan))
    return (list(plan) == sorted(plan) and len(distinct) == anchors
            and all(plan.index(a) == a for a in distinct[1:]))


def temporal_plans_agree(severity: int, num_frames: int = 70, seed: int = 0) -> dict[str, bool]:
    """Per temporal corruption of ucf101-p (fixed variant): does our plan follow the offline generator?

    sampling and reverse_sampling are deterministic and must equal the generator's plan;
    jumble (shuffle inside L-frame segments), box_jumble (segments reordered intact) and
    freeze (k anchors, each held; k from our table, see docs/corruptions.md for severity 5)
    are random, so their structure is checked.
    """
    param = {name: TABLES[name].values[severity - 1] for name in TEMPORAL}
    plans = {name: our_plan(name, num_frames, severity, seed=seed) for name in TEMPORAL}
    return {
        "sampling": plans["sampling"] == offline_sampling_plan(num_frames, param["sampling"]),
        "reverse_sampling": plans["reverse_sampling"] == offline_reverse_sampling_plan(
            num_frames, param["reverse_sampling"]),
        "jumble": segments_shuffled(plans["jumble"], param["jumble"]),
        "box_jumble": segments_reordered(plans["box_jumble"], param["box_jumble"]),
        "freeze": held_anchors(plans["freeze"], param["freeze"].anchors(num_frames)),
    }


# ---------------------------------------------------------------------------------------------
# translate: crop offsets read back from the output

RAMP_SIZE = 256  # the generator's short side: offsets come back in its pixels
BORDER_PROBE = 200  # constant blue channel; anything less shows the black outside the frame


@dataclass(frozen=True)
class OffsetStats:
    min_offset: int
    max_offset: int
    mean_offset: float
    border_fraction: float  # frames whose window reaches past the frame edge


def translate_offsets(severity: int, frames: int = 160, seed: int = 0) -> OffsetStats:
    """Offsets (both axes pooled) of our ucf101-p ``translate`` at a 256 px frame, and border frequency.

    The frame is a ramp (red = column, green = row, blue = 200): bilinear sampling reproduces a
    ramp exactly, so the output's top-left pixel is the window's top-left offset.
    """
    ramp = torch.arange(RAMP_SIZE, dtype=torch.uint8)
    clip = torch.empty(frames, 3, RAMP_SIZE, RAMP_SIZE, dtype=torch.uint8)
    clip[:, 0], clip[:, 1], clip[:, 2] = ramp.view(1, 1, -1), ramp.view(1, -1, 1), BORDER_PROBE
    out = apply(clip, "translate", severity, preset="ucf101-p", seed=seed)
    offsets = torch.cat([out[:, 0, 0, 0], out[:, 1, 0, 0]]).float()
    border = (out[:, 2] < BORDER_PROBE).flatten(1).any(1).float()
    return OffsetStats(int(offsets.min()), int(offsets.max()), float(offsets.mean()), float(border.mean()))


# ---------------------------------------------------------------------------------------------
# damage on real footage

PHOTOS = ("rocket", "coffee", "chelsea")


def real_clip(frames: int = 48, height: int = 240, width: int = 320, photos: Sequence[str] = PHOTOS[:2]) -> torch.Tensor:
    """uint8 [T, 3, H, W]: a camera panning and slowly zooming over real photographs, one cut per photo.

    scikit-image's sample photographs (bundled with it) stand in for footage: real textures and
    edges, smooth camera motion as a handheld pan, and a scene cut, which codecs must code as
    an intra picture.
    """
    from skimage import data  # optional: scikit-image (the test extra); real photographs for fidelity checks

    shots = np.array_split(np.arange(frames), len(photos))
    out = []
    for name, shot in zip(photos, shots):
        image = torch.from_numpy(getattr(data, name)()).permute(2, 0, 1).float()
        full_h, full_w = image.shape[-2:]
        for k, _ in enumerate(shot):
            progress = k / max(len(shot) - 1, 1)
            zoom = 0.8 - 0.1 * progress  # window as a share of the photo: a slow zoom in
            win_h, win_w = int(full_h * zoom), int(min(full_w * zoom, full_h * zoom * width / height))
            top = int((full_h - win_h) * (0.2 + 0.5 * progress))
            left = int((full_w - win_w) * progress)  # pan left to right
            window = image[:, top : top + win_h, left : left + win_w][None]
            out.append(F.interpolate(window, size=(height, width), mode="bilinear", antialias=True,
                                     align_corners=False)[0])
    return torch.stack(out).round().clamp(0, 255).to(torch.uint8)


def psnr(clean: torch.Tensor, corrupted: torch.Tensor) -> float:
    """PSNR in dB over the whole clip (inf for identical clips)."""
    mse = float(((clean.float() - corrupted.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def pixel_change(clean: torch.Tensor, corrupted: torch.Tensor) -> dict[str, float]:
    """Share of changed pixel values and their mean absolute change (0..255)."""
    diff = (clean.float() - corrupted.float()).abs()
    return {"changed": float((diff > 0).float().mean()), "mean_abs": float(diff.mean())}


def psnr_ladder(clip: torch.Tensor, name: str, preset: str, seeds: Iterable[int] = range(6),
                severities: Sequence[int] = (1, 2, 3, 4, 5), fps: float = 25.0, variant: str = "fixed") -> list[float]:
    """Mean PSNR (dB) over ``seeds`` per severity: the damage ladder of one corruption."""
    seeds = list(seeds)
    return [fmean(psnr(clip, apply(clip, name, s, preset=preset, variant=variant, seed=k, fps=fps)) for k in seeds)
            for s in severities]
