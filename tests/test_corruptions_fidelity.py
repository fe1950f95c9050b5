"""Fidelity to (S)'s offline generator and (Y)'s packet-loss simulator (issue 16, items 7-10)."""

from __future__ import annotations

import pytest
import torch

import corruptions
from corruptions import codec, reference_plans
from corruptions.tables_video import TABLES

SEVERITIES = (1, 2, 3, 4, 5)


@pytest.mark.parametrize("num_frames", [70, 48, 33])
@pytest.mark.parametrize("severity", SEVERITIES)
def test_reverse_sampling_reverses_kept_frames_then_repeats(severity, num_frames):
    rate = TABLES["reverse_sampling"].values[severity - 1]
    plan = reference_plans.our_plan("reverse_sampling", num_frames, severity)
    assert plan == reference_plans.offline_reverse_sampling_plan(num_frames, rate)
    if num_frames % rate:  # the last kept frame opens with a full stutter of r frames
        assert plan[:rate] == [(num_frames - 1) // rate * rate] * rate


def test_reverse_sampling_by_hand():
    # T = 10, r = 4: kept 0 4 8 -> reversed 8 4 0 -> repeated, cut to 10 frames
    assert reference_plans.offline_reverse_sampling_plan(10, 4) == [8, 8, 8, 8, 4, 4, 4, 4, 0, 0]
    assert reference_plans.our_plan("reverse_sampling", 10, 2) == [8, 8, 8, 8, 4, 4, 4, 4, 0, 0]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_temporal_plans_agree_with_the_offline_generator(severity):
    assert reference_plans.temporal_plans_agree(severity, num_frames=70)


def test_translate_crops_from_the_top_left_as_the_offline_generator():
    for severity in SEVERITIES:
        stats = reference_plans.translate_offsets(severity, frames=48, seed=3)
        top = 8 * severity - 1  # randint over [0, 8 s): at most 7 15 23 31 39 px at a 256 px short side
        assert stats.min_offset == 0 and top - 3 <= stats.max_offset <= top, (severity, stats)
        assert abs(stats.mean_offset - top / 2) < 0.15 * top + 0.5, (severity, stats)  # uniform over [0, top]
        if severity <= 4:
            assert stats.border_fraction == 0.0  # the 32 px margin of 256 -> 224 covers offsets up to 31
        else:
            assert 0.1 < stats.border_fraction < 0.6  # an offset past 32 on either axis shows the edge


# --------------------------------------------------------------------------------------------
# packet loss: datagrams of the stream (Y) sends

def fake_stream(datagrams: int) -> bytes:
    """Annex-B bytes: SPS and PPS, then one long slice filling ``datagrams`` x 1472 bytes."""
    head = b"\x00\x00\x00\x01\x67" + b"\x11" * 20 + b"\x00\x00\x00\x01\x68" + b"\x22" * 4
    body = b"\x00\x00\x01\x65" + b"\x33" * (datagrams * codec.DATAGRAM - len(head) - 4)
    return head + body


@pytest.mark.parametrize("percent", [1, 6])
def test_packet_loss_loses_whole_datagrams_at_the_rate(percent):
    stream = fake_stream(4000)
    lost = codec.lost_datagrams(stream, percent, torch.Generator().manual_seed(0))
    assert lost.shape == (4000,)  # one decision per 1,472-byte datagram (not per 188-byte TS packet)
    assert not lost[0]  # the datagram carrying SPS/PPS is spared
    assert abs(lost.mean() - percent / 100) < 4 * (percent / 100 / 4000) ** 0.5  # within 4 sigma


def test_packet_loss_streams_libx264_defaults():
    # The stream is coded as (Y) codes it (CRF 23, key frames every 250): a draw that loses no
    # datagram gives exactly h264_crf severity 1 (CRF 23), bit for bit; a lossy one differs.
    clip = reference_plans.real_clip(24, 96, 128)
    assert codec.streamed(25.0).options["crf"] == "23" and codec.streamed(25.0).options["g"] == "250"
    crf23 = corruptions.apply(clip, "h264_crf", 1, preset="mini-kinetics-c", fps=25)
    outputs = [corruptions.apply(clip, "packet_loss", 5, preset="mini-kinetics-c", seed=k, fps=25) for k in range(6)]
    intact = [torch.equal(o, crf23) for o in outputs]
    assert 0 < sum(intact) < len(intact), intact  # 6% of ~5 datagrams: most draws lose none, some lose one


def test_h264_uses_the_reference_encoder_settings_and_is_reproducible():
    # (Y) runs libx264 with its defaults: MB-tree on. One encoder thread keeps it bit-reproducible
    # (870 encodes measured, docs/corruptions.md); here a few, interleaved with another clip.
    assert "mbtree" not in str(codec.x264(30).options) and codec.x264(30).options["threads"] == "1"
    clips = [reference_plans.real_clip(12, 48, 64, photos=(p,)) for p in ("rocket", "chelsea")]
    runs = [[corruptions.apply(c, "h264_crf", 2, preset="mini-kinetics-c", fps=25) for c in clips] for _ in range(3)]
    assert all(torch.equal(run[i], runs[0][i]) for run in runs for i in range(2))
