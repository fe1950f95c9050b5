"""Video corruptions (UCF101-P and Mini-Kinetics-C): index plans against the reference
generators' plans, coded corruptions as PSNR ladders, temporal formulas on a filmed clip."""

from __future__ import annotations

import numpy as np
import torch

import corruptions
from corruptions import reference_plans as plans
from corruptions.presets import get_preset
from vidsparse.fidelity import references
from vidsparse.fidelity.checks_image import SCHIAPPA, YI
from vidsparse.fidelity.rows import Options, Row, check

OFFLINE = "Maddy12/RobustVideoModels offline video generator (UCF101-P)"
ON_THE_FLY = "Maddy12/RobustVideoModels core/video_perturb.py (on-the-fly evaluation code)"
PLAN_FRAMES = (16, 48, 250)  # short clip, a typical test video, a long one
SEEDS = 10


def _kept(num_frames: int, rate: int) -> list[int]:
    return list(range(0, num_frames, rate))


# The generators' index plans (fixed = the offline generator, reference = the on-the-fly code).
REFERENCE_PLANS = {
    ("sampling", "fixed"): plans.offline_sampling_plan,
    ("reverse_sampling", "fixed"): plans.offline_reverse_sampling_plan,
    ("sampling", "reference"): _kept,
    ("reverse_sampling", "reference"): lambda t, r: _kept(t, r)[::-1],
}


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
            values.append(min(_agreement(plans.our_plan(name, t, severity, variant=variant), reference_plan(t, rate))
                              for t in PLAN_FRAMES))
        rows.append(Row("ucf101-p", name, OFFLINE if variant == "fixed" else ON_THE_FLY,
                        f"index plan equality at T = {', '.join(map(str, PLAN_FRAMES))}", "% frames equal",
                        tuple(values), 100.0, rule="at least", variant=variant))
    return rows


STRUCTURES = {
    "jumble": lambda plan, param, t: plans.segments_shuffled(plan, param),
    "box_jumble": lambda plan, param, t: plans.segments_reordered(plan, param),
    "freeze": lambda plan, param, t: plans.held_anchors(plan, param.anchors(t)),
}


@check("temporal-random-plans")
def random_plans(options: Options) -> list[Row]:
    rows = []
    for name, holds in STRUCTURES.items():
        values = []
        for severity in range(1, 6):
            param = _param("ucf101-p", name, severity)
            trials = [holds(plans.our_plan(name, t, severity, seed=seed), param, t)
                      for t in PLAN_FRAMES for seed in range(SEEDS)]
            values.append(100.0 * sum(trials) / len(trials))
        rows.append(Row("ucf101-p", name, OFFLINE, f"plan has the generator's structure, {SEEDS} seeds x "
                        f"T = {', '.join(map(str, PLAN_FRAMES))}", "% plans valid", tuple(values), 100.0,
                        rule="at least"))
    return rows


@check("translate-offsets")
def translate(options: Options) -> list[Row]:
    """Crop offsets read back from a ramp frame: the generator draws each in [0, 8s)."""
    stats = [plans.translate_offsets(severity, frames=64 if options.quick else 160) for severity in range(1, 6)]
    beyond = tuple(float(max(0, s.max_offset - (8 * severity - 1), -s.min_offset))
                   for severity, s in enumerate(stats, start=1))
    seen = ", ".join(f"{s.min_offset}-{s.max_offset}" for s in stats)
    borders = "/".join(f"{100 * s.border_fraction:.0f}" for s in stats)
    return [Row("ucf101-p", "translate", OFFLINE, "offsets read back from a ramp frame at 256 px",
                "px beyond [0, 8s)", beyond, 0.0, note=f"offsets seen {seen}; frames with a border {borders}%")]


def _ladder(preset: str, name: str, options: Options, variant: str, seeds: int, frames: int) -> tuple[float, ...]:
    clip = plans.real_clip(frames=frames)
    return tuple(min(v, 99.0) for v in plans.psnr_ladder(clip, name, preset, seeds=range(seeds), fps=30.0,
                                                        variant=variant))


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
RANDOM_LOSSES = ("bit_error", "packet_loss")


@check("codec-ladders")
def codec_ladders(options: Options) -> list[Row]:
    """Coded corruptions: PSNR (dB) of the output on a filmed 240x320 clip, per severity."""
    rows = []
    for preset, name, source, variants in CODED:
        for variant in variants:
            # a random loss hits few units of a short clip: its mean damage needs a longer clip and more draws
            seeds = 1 if name not in RANDOM_LOSSES else (2 if options.quick else 12)
            frames = options.clip_frames if name not in RANDOM_LOSSES or options.quick else 48
            values = _ladder(preset, name, options, variant, seeds, frames)
            rows.append(Row(preset, name, source, f"PSNR ladder on a {frames}-frame filmed clip ({seeds} seed(s))", "dB",
                            values, 0.1, rule="falls", variant=variant, deliberate=DELIBERATE.get((name, variant), "")))
    return rows


@check("temporal-motion-blur")
def temporal_motion_blur(options: Options) -> list[Row]:
    """Frame i = mean of frames [i - c, i + c], compared where the whole window exists (the
    reference leaves the clip ends undefined; we clamp indices there)."""
    clip = plans.real_clip(frames=32, height=120, width=160)
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
    clip = torch.full((options.clip_frames, 3, 64, 64), 128, dtype=torch.uint8)
    values = []
    for severity in range(1, 6):
        out = corruptions.apply(clip, "fog", severity, preset="mini-kinetics-c", seed=0).double()
        values.append(float((out - out[:1]).abs().max()))
    return [Row("mini-kinetics-c", "fog", YI, "largest difference between frames of a fogged static clip",
                "levels (0-255)", tuple(values), 0.0)]
