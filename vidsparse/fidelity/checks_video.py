"""Video corruptions (UCF101-P and Mini-Kinetics-C): index plans against the reference
generators' plans, coded corruptions as PSNR ladders, temporal formulas on a filmed clip."""

from __future__ import annotations

import numpy as np
import torch

import corruptions
from corruptions.presets import get_preset
from vidsparse.fidelity import references
from vidsparse.fidelity.checks_image import SCHIAPPA, YI
from vidsparse.fidelity.inputs import index_clip, panning_clip, plan_of
from vidsparse.fidelity.rows import Options, Row, check

OFFLINE = "Maddy12/RobustVideoModels offline video generator (UCF101-P)"
ON_THE_FLY = "Maddy12/RobustVideoModels core/video_perturb.py (on-the-fly evaluation code)"
PLAN_FRAMES = (16, 48, 250)  # short clip, a typical test video, a long one
SEEDS = 10


# The generators' index plans as the spec states them (what the reference code computes).
def _kept(num_frames: int, rate: int) -> list[int]:
    return list(range(0, num_frames, rate))


def _repeat(kept: list[int], rate: int, num_frames: int) -> list[int]:
    return [i for i in kept for _ in range(rate)][:num_frames]


REFERENCE_PLANS = {
    ("sampling", "fixed"): lambda t, r: _repeat(_kept(t, r), r, t),
    ("reverse_sampling", "fixed"): lambda t, r: _repeat(_kept(t, r)[::-1], r, t),
    ("sampling", "reference"): lambda t, r: _kept(t, r),
    ("reverse_sampling", "reference"): lambda t, r: _kept(t, r)[::-1],
}


def _plan(name: str, severity: int, frames: int, variant: str = "fixed", seed: int = 0) -> list[int]:
    out = corruptions.apply(index_clip(frames), name, severity, preset="ucf101-p", variant=variant, seed=seed)
    return plan_of(out)


def _param(preset: str, name: str, severity: int, variant: str = "fixed"):
    return get_preset(preset).entries[name].param(severity, variant)


def _agreement(ours: list[int], reference: list[int]) -> float:
    """Percentage of output positions that show the same input frame (a length mismatch counts as wrong)."""
    same = sum(a == b for a, b in zip(ours, reference))
    return 100.0 * same / max(len(ours), len(reference))


@check("temporal-plans")
def deterministic_plans(options: Options) -> list[Row]:
    rows = []
    for (name, variant), reference_plan in REFERENCE_PLANS.items():
        values = []
        for severity in range(1, 6):
            rate = _param("ucf101-p", name, severity, variant)
            values.append(min(_agreement(_plan(name, severity, t, variant), reference_plan(t, rate))
                              for t in PLAN_FRAMES))
        rows.append(Row("ucf101-p", name, OFFLINE if variant == "fixed" else ON_THE_FLY,
                        f"index plan equality at T = {', '.join(map(str, PLAN_FRAMES))}", "% frames equal",
                        tuple(values), 100.0, rule="at least", variant=variant))
    return rows


def _segments_kept(plan: list[int], length: int) -> bool:
    """jumble: every output position shows a frame of its own segment, each segment's frames once."""
    return all(sorted(plan[s : s + length]) == list(range(s, min(s + length, len(plan))))
               for s in range(0, len(plan), length))


def _blocks_moved(plan: list[int], length: int) -> bool:
    """box_jumble: the output is the input's segments, each intact, in some order."""
    starts, position, blocks = [], 0, []
    while position < len(plan):
        start = plan[position]
        if start % length:
            return False
        size = min(length, len(plan) - start)
        if plan[position : position + size] != list(range(start, start + size)):
            return False
        blocks.append(start)
        position += size
    return sorted(blocks) == list(range(0, len(plan), length)) and not starts


def _held(plan: list[int], anchors: int) -> bool:
    """freeze: ``anchors`` distinct frames, each shown from its own index until the next one."""
    distinct = sorted(set(plan))
    return len(distinct) == anchors and plan == sorted(plan) and all(
        plan[i] == max([a for a in distinct if a <= i], default=distinct[0]) for i in range(len(plan)))


STRUCTURES = {
    "jumble": lambda plan, param, t: _segments_kept(plan, param),
    "box_jumble": lambda plan, param, t: _blocks_moved(plan, param),
    "freeze": lambda plan, param, t: _held(plan, param.anchors(t)),
}


@check("temporal-random-plans")
def random_plans(options: Options) -> list[Row]:
    rows = []
    for name, holds in STRUCTURES.items():
        values = []
        for severity in range(1, 6):
            param = _param("ucf101-p", name, severity)
            trials = [holds(_plan(name, severity, t, seed=seed), param, t) for t in PLAN_FRAMES for seed in range(SEEDS)]
            values.append(100.0 * sum(trials) / len(trials))
        rows.append(Row("ucf101-p", name, OFFLINE, f"plan has the generator's structure, {SEEDS} seeds x "
                        f"T = {', '.join(map(str, PLAN_FRAMES))}", "% plans valid", tuple(values), 100.0,
                        rule="at least"))
    return rows


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def _ladder(preset: str, name: str, options: Options, variant: str = "fixed", seeds: int = 1) -> tuple[float, ...]:
    clip = panning_clip(frames=options.clip_frames)
    values = []
    for severity in range(1, 6):
        psnrs = []
        for seed in range(seeds):
            out = corruptions.apply(clip, name, severity, preset=preset, variant=variant, seed=seed, fps=30.0)
            psnrs.append(_psnr(out, clip) if out.shape == clip.shape else float("nan"))
        values.append(float(np.mean(psnrs)))
    return tuple(values)


CODED = (
    ("ucf101-p", "mpeg2", SCHIAPPA, ("fixed", "reference")),
    ("ucf101-p", "mpeg4", SCHIAPPA, ("fixed", "reference")),
    ("mini-kinetics-c", "h264_crf", YI, ("fixed",)),
    ("mini-kinetics-c", "h265_crf", YI, ("fixed",)),
    ("extra", "h264_abr", YI, ("fixed",)),
    ("extra", "h265_abr", YI, ("fixed",)),
    ("mini-kinetics-c", "bit_error", YI, ("fixed",)),
    ("mini-kinetics-c", "packet_loss", YI, ("fixed",)),
)
SATURATED_QSCALE = ("(S)'s qscale ladder saturates near 31, so severities 2-5 look alike (variant=reference "
                    "keeps it); fixed codes past 31 at a reduced frame size so damage keeps growing")
DELIBERATE = {("mpeg2", "fixed"): SATURATED_QSCALE, ("mpeg4", "fixed"): SATURATED_QSCALE}


@check("codec-ladders")
def codec_ladders(options: Options) -> list[Row]:
    """Coded corruptions: PSNR (dB) of the output on a filmed 240x320 clip, per severity."""
    rows = []
    for preset, name, source, variants in CODED:
        for variant in variants:
            seeds = 1 if name not in ("bit_error", "packet_loss") else (2 if options.quick else 4)
            values = _ladder(preset, name, options, variant, seeds)
            rows.append(Row(preset, name, source, f"PSNR ladder on a filmed clip ({seeds} seed(s))", "dB", values,
                            0.1, rule="falls", variant=variant, deliberate=DELIBERATE.get((name, variant), "")))
    return rows


@check("temporal-motion-blur")
def temporal_motion_blur(options: Options) -> list[Row]:
    """Frame i = mean of frames [i - c, i + c], compared where the whole window exists (the
    reference leaves the clip ends undefined; we clamp indices there)."""
    clip = panning_clip(frames=32, height=120, width=160)
    frames = clip.permute(0, 2, 3, 1).numpy()
    values = []
    for severity in range(1, 6):
        half = int(_param("mini-kinetics-c", "motion_blur", severity))
        out = corruptions.apply(clip, "motion_blur", severity, preset="mini-kinetics-c", seed=0)
        reference = references.temporal_motion_blur(frames, half)
        inner = slice(half, len(frames) - half)
        values.append(float(np.abs(out.permute(0, 2, 3, 1).numpy()[inner].astype(np.float64) - reference[inner]).mean()))
    return [Row("mini-kinetics-c", "motion_blur", YI, "MAE vs the frame-window mean on a filmed 32-frame clip "
                "(frames with a full window)", "levels (0-255)", tuple(values), 0.5,
                note="clip ends: window indices clamped (the reference leaves them undefined)")]


@check("static-fog")
def static_fog(options: Options) -> list[Row]:
    """Mini-Kinetics-C's fog is one fractal per clip: the change must be the same on every frame."""
    clip = index_clip(options.clip_frames, size=64).mul(0).add(128)
    values = []
    for severity in range(1, 6):
        out = corruptions.apply(clip, "fog", severity, preset="mini-kinetics-c", seed=0).double()
        values.append(float((out - out[:1]).abs().max()))
    return [Row("mini-kinetics-c", "fog", YI, "largest difference between frames of a fogged static clip",
                "levels (0-255)", tuple(values), 0.0)]
