"""Temporal, camera and codec corruptions: exact definitions, damage ladders, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import corruptions
from corruptions import codec
from corruptions.tables_video import TABLES, FreezeCount

SEVERITIES = (1, 2, 3, 4, 5)


def natural_clip(frames: int, height: int, width: int, step: int = 2) -> torch.Tensor:
    """uint8 [T, 3, H, W]: a camera panning over a photograph (skimage's astronaut), 2x subsampled."""
    from skimage import data

    image = data.astronaut()
    crops = [image[40 + t * step : 40 + t * step + 2 * height : 2, 60 + t * step : 60 + t * step + 2 * width : 2]
             for t in range(frames)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def index_clip(frames: int, size: int = 4) -> torch.Tensor:
    """uint8 [T, 3, size, size] whose every pixel of frame t equals t."""
    return torch.arange(frames, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, size, size).contiguous()


def frame_ids(video: torch.Tensor) -> list[int]:
    ids = video[:, 0, 0, 0].tolist()
    assert torch.equal(video, video[:, :1, :1, :1].expand_as(video)), "frames must stay whole frames"
    return ids


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.float() - b.float()) ** 2).mean()
    return float(10 * torch.log10(255**2 / mse))


@pytest.fixture(scope="module")
def pan() -> torch.Tensor:
    return natural_clip(16, 96, 128)


# --------------------------------------------------------------------------------------------
# temporal: exact index plans

T = 70  # long enough for every segment length in the tables (up to 64) plus a partial one


def apply_temporal(name: str, severity: int, variant: str = "fixed", seed: int = 3) -> list[int]:
    out = corruptions.apply(index_clip(T), name, severity, preset="ucf101-p", variant=variant, seed=seed)
    assert out.dtype == torch.uint8 and out.shape[1:] == (3, 4, 4)
    return frame_ids(out)


@pytest.mark.parametrize("severity", SEVERITIES)
def test_sampling_repeats_every_rth_frame(severity):
    rate = TABLES["sampling"].values[severity - 1]
    assert apply_temporal("sampling", severity) == [i // rate * rate for i in range(T)]
    kept = list(range(0, T, rate))[::-1]  # (S) offline generator: reverse the kept frames, then repeat
    assert apply_temporal("reverse_sampling", severity) == [k for k in kept for _ in range(rate)][:T]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_reference_sampling_drops_frames_without_repeating(severity):
    rate = TABLES["sampling"].values[severity - 1]
    assert apply_temporal("sampling", severity, "reference") == list(range(0, T, rate))
    assert apply_temporal("reverse_sampling", severity, "reference") == list(range(0, T, rate))[::-1]
    assert len(apply_temporal("sampling", severity, "reference")) == math.ceil(T / rate)


@pytest.mark.parametrize("variant", ["fixed", "reference"])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_jumble_shuffles_only_inside_segments(severity, variant):
    length = TABLES["jumble"].row(variant)[severity - 1]
    ids = apply_temporal("jumble", severity, variant)
    assert sorted(ids) == list(range(T))
    for start in range(0, T, length):
        assert sorted(ids[start : start + length]) == list(range(start, min(start + length, T)))
    assert any(apply_temporal("jumble", severity, variant, seed=k) != list(range(T)) for k in (3, 4))  # frames move


@pytest.mark.parametrize("variant", ["fixed", "reference"])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_box_jumble_reorders_intact_segments(severity, variant):
    length = TABLES["box_jumble"].row(variant)[severity - 1]
    ids = apply_temporal("box_jumble", severity, variant)
    segments = [list(range(s, min(s + length, T))) for s in range(0, T, length)]
    pieces, pos = [], 0
    while pos < T:  # cut the output at the segment boundaries it must consist of
        segment = next(seg for seg in segments if seg[0] == ids[pos])
        assert ids[pos : pos + len(segment)] == segment
        pieces.append(segment)
        pos += len(segment)
    assert sorted(pieces) == segments
    assert any(apply_temporal("box_jumble", severity, variant, seed=k) != ids for k in (4, 5, 6))  # order is random


@pytest.mark.parametrize("severity", SEVERITIES)
def test_freeze_holds_k_anchors(severity):
    k = TABLES["freeze"].values[severity - 1].anchors(T)
    ids = apply_temporal("freeze", severity)
    anchors = sorted(set(ids))
    assert len(ids) == T and len(anchors) == k
    assert ids == sorted(ids)  # time never runs backwards
    for anchor in anchors[1:]:
        assert ids.index(anchor) == anchor  # each anchor appears at its own time, then is held
    reference = apply_temporal("freeze", severity, "reference")
    assert reference == ids[anchors[0]:]  # the reference drops the frames before the first anchor


def test_freeze_counts_follow_the_table():
    assert [TABLES["freeze"].values[s - 1].anchors(100) for s in SEVERITIES] == [40, 20, 10, 5, 1]
    assert TABLES["freeze"].values[3].anchors(20) == 2  # max(.05 T, 2)
    assert FreezeCount(0.4).anchors(2) == 1  # never zero anchors on a tiny clip


@pytest.mark.parametrize("name", ["jumble", "box_jumble", "freeze"])
def test_temporal_plans_are_seeded(name):
    first, again = apply_temporal(name, 2, seed=5), apply_temporal(name, 2, seed=5)
    assert first == again
    assert any(apply_temporal(name, 2, seed=s) != first for s in (6, 7, 8))


# --------------------------------------------------------------------------------------------
# camera


@pytest.mark.parametrize("name", ["rotate", "static_rotate"])
def test_camera_damage_grows_with_severity(name):
    # translate's offsets start at the top-left as (S)'s generator (0..8s-1 px), so its distance
    # from the centred clean view does not grow with severity; its shake does
    # (tests/test_corruptions_fidelity.py).
    clip = natural_clip(32, 48, 64)
    scores = [np.mean([psnr(clip, corruptions.apply(clip, name, s, preset="ucf101-p", seed=k)) for k in range(4)])
              for s in SEVERITIES]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_camera_output_keeps_layout_and_coherence_option():
    still = natural_clip(1, 40, 52).expand(6, -1, -1, -1).contiguous()
    for name in ("translate", "rotate"):
        shaky = corruptions.apply(still, name, 5, preset="ucf101-p", seed=1)
        steady = corruptions.apply(still, name, 5, preset="ucf101-p", seed=1, coherent=True)
        assert shaky.shape == still.shape and shaky.dtype == torch.uint8
        assert not all(torch.equal(shaky[0], f) for f in shaky[1:])  # fresh offset/angle per frame
        assert all(torch.equal(steady[0], f) for f in steady[1:])  # one draw for the whole clip


def test_static_rotate_matches_pil_counter_clockwise_rotation():
    from PIL import Image

    image = natural_clip(1, 48, 64)
    out = corruptions.apply(image, "static_rotate", 2, preset="ucf101-p", seed=0)  # 15 degrees
    expected = np.asarray(Image.fromarray(image[0].permute(1, 2, 0).numpy()).rotate(15, resample=Image.BILINEAR))
    diff = np.abs(out[0].permute(1, 2, 0).numpy().astype(int) - expected.astype(int))
    assert diff.mean() < 2.0  # same geometry; only border/rounding pixels differ
    assert torch.equal(out, corruptions.apply(image, "static_rotate", 2, preset="ucf101-p", seed=9))


def test_translate_reference_is_one_shift_of_the_content_up_left():
    still = natural_clip(1, 56, 56).expand(4, -1, -1, -1).contiguous()
    out = corruptions.apply(still, "translate", 3, preset="ucf101-p", variant="reference", seed=2)
    assert all(torch.equal(out[0], f) for f in out[1:])  # one offset per clip
    bound = math.ceil(24 * 56 / 224)  # [0, 8 * severity) px at 224 px, scaled to 56 px
    matches = [(dy, dx) for dy in range(bound) for dx in range(bound)
               if torch.equal(out[0, :, : 56 - dy, : 56 - dx], still[0, :, dy:, dx:])]
    assert len(matches) == 1 and matches[0] != (0, 0)
    dy, dx = matches[0]
    assert (out[0, :, 56 - dy :, :] == 0).all() and (out[0, :, :, 56 - dx :] == 0).all()  # black border


# --------------------------------------------------------------------------------------------
# codec

CODEC_PRESET = {"mpeg2": "ucf101-p", "mpeg4": "ucf101-p", "h264_crf": "mini-kinetics-c", "h265_crf": "mini-kinetics-c",
                "bit_error": "mini-kinetics-c", "packet_loss": "mini-kinetics-c", "frame_rate": "mini-kinetics-c",
                "h264_abr": "extra", "h265_abr": "extra"}


@pytest.mark.parametrize("name", ["mpeg2", "mpeg4", "h264_crf", "h265_crf"])
def test_compression_damage_strictly_grows(pan, name):
    outputs = [corruptions.apply(pan, name, s, preset=CODEC_PRESET[name], seed=0, fps=25) for s in SEVERITIES]
    assert all(o.shape == pan.shape and o.dtype == torch.uint8 for o in outputs)
    scores = [psnr(pan, o) for o in outputs]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 24  # severity 1 is mild compression, not a broken decode


@pytest.mark.parametrize("name", ["mpeg2", "mpeg4"])
def test_reference_mpeg_quantiser_saturates_at_31(pan, name):
    ref = [corruptions.apply(pan, name, s, preset="ucf101-p", variant="reference", seed=0) for s in (3, 4, 5)]
    assert torch.equal(ref[0], ref[1]) and torch.equal(ref[1], ref[2])  # qscale 45..100 all clip to 31
    fixed = corruptions.apply(pan, name, 5, preset="ucf101-p", seed=0)
    assert psnr(pan, fixed) < psnr(pan, ref[2]) - 2


@pytest.mark.parametrize("name", ["h264_abr", "h265_abr"])
def test_average_bit_rate_ladder(name):
    clip = natural_clip(24, 120, 160)
    scores = [psnr(clip, corruptions.apply(clip, name, s, preset="extra", seed=0, fps=25)) for s in SEVERITIES]
    # x264 drops to a flat picture once the 1-second buffer cannot hold an intra frame, so the
    # tail of its ladder may tie; the ladder never improves.
    assert all(a >= b for a, b in zip(scores, scores[1:])) and scores[0] > scores[-1] + 10, scores
    assert all(a > b for a, b in zip(scores[:3], scores[1:4])), scores


@pytest.mark.parametrize("name", ["bit_error", "packet_loss"])
def test_transmission_errors_damage_more_at_severity_5(name):
    clip = natural_clip(32, 112, 144)
    mild, harsh = ([psnr(clip, corruptions.apply(clip, name, s, preset="mini-kinetics-c", seed=k, fps=25))
                    for k in range(3)] for s in (1, 5))
    assert np.mean(harsh) < np.mean(mild) - 3, (mild, harsh)
    out = corruptions.apply(clip, name, 5, preset="mini-kinetics-c", seed=1, fps=25)
    assert out.shape == clip.shape  # lost pictures are replaced, never dropped


@pytest.mark.parametrize("severity", SEVERITIES)
def test_frame_rate_outputs_the_target_rate(pan, severity):
    target = TABLES["frame_rate"].values[severity - 1]
    out, info = corruptions.apply_with_info(pan, "frame_rate", severity, preset="mini-kinetics-c", fps=25)
    assert out.shape[0] == round(16 * target / 25) == info.frames_out
    assert info.fps == target and out.shape[1:] == pan.shape[1:]


def test_frame_rate_picks_nearest_source_frames():
    assert codec.frame_rate_indices(10, 30, 15).tolist() == [0, 2, 4, 6, 8]
    assert codec.frame_rate_indices(10, 25, 20).tolist() == [0, 1, 2, 4, 5, 6, 8, 9]
    assert codec.frame_rate_indices(5, 10, 30).tolist() == [0, 1, 2, 3, 4]  # never invents frames


def test_codec_frame_count_survives_odd_sizes():
    clip = natural_clip(7, 37, 45)  # odd sizes need padding for 4:2:0, and 45 px is x265's bad width
    for name in ("mpeg2", "h264_crf", "h265_crf", "bit_error", "packet_loss"):
        out = corruptions.apply(clip, name, 3, preset=CODEC_PRESET[name], seed=0)
        assert out.shape == clip.shape, name


def test_missing_frames_repeat_the_last_good_one():
    frames = {i: np.full((2, 2, 3), i, np.uint8) for i in (2, 3, 6)}
    filled = codec.fill_gaps(frames, 8, 2, 2)
    assert filled[:, 0, 0, 0].tolist() == [2, 2, 2, 3, 3, 3, 6, 6]
    assert codec.fill_gaps({}, 3, 2, 2).sum() == 0  # nothing decodable: black, never a crash


def test_bit_errors_spare_parameter_sets_and_nal_headers():
    clip = natural_clip(4, 32, 32)
    first = codec.encode(codec._to_frames(clip.float() / 255), codec.carrier(25.0), 25.0)[0]
    data = bytes(first)
    mask = codec.slice_payload_mask(data)
    starts = [i + 3 for i in range(len(data) - 3) if data[i : i + 3] == b"\x00\x00\x01"]
    types = {data[s] & 0x1F for s in starts}
    assert {7, 8, 5} <= types  # SPS, PPS and an IDR slice in the first access unit
    for k, s in enumerate(starts):
        end = starts[k + 1] - 3 if k + 1 < len(starts) else len(data)
        end -= data[end - 1] == 0  # the leading zero of a 4-byte start code
        payload = mask[s + 1 : end]
        assert not mask[s - 3 : s + 1].any()  # start codes and NAL headers are never hit
        if data[s] & 0x1F in (1, 5):
            assert payload.all()  # slice data is fair game
        else:
            assert not payload.any()  # SPS, PPS and SEI stay intact


@pytest.mark.parametrize("name", ["bit_error", "packet_loss", "translate", "rotate", "h264_crf", "h265_crf"])
def test_video_corruptions_are_bit_identical_for_a_seed(name):
    # bit errors hit about one byte in 10,000, packet loss 6% of ~6 datagrams of 1,472 bytes: the
    # clip must be large enough to be hit at all
    clip = natural_clip(32, 112, 144) if name in ("bit_error", "packet_loss") else natural_clip(12, 48, 64)
    preset = CODEC_PRESET.get(name, "ucf101-p")
    severity = 5
    runs = [corruptions.apply(clip, name, severity, preset=preset, seed=11, video_id="v") for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    if name in ("bit_error", "packet_loss", "translate", "rotate"):  # the random ones
        seeds = range(12, 20) if name == "packet_loss" else (12, 13, 14)  # most draws lose none of 5 datagrams
        others = [corruptions.apply(clip, name, severity, preset=preset, seed=s, video_id="v") for s in seeds]
        assert any(not torch.equal(runs[0], o) for o in others)
