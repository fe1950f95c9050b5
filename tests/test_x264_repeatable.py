"""libx264 encodes repeat byte for byte (its AVX-512 assembly does not; corruptions.x264_cpu)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import corruptions
from corruptions import x264_cpu
from corruptions.x264_cpu import repeatable_options
from vidsparse.data.video.synthetic import render_video
from vidsparse.data.video.writer import write_video


def _clip(size: int = 64) -> torch.Tensor:
    """uint8 [T, H, W, 3]: a striped object moving over a textured background (the synthetic set's)."""
    return render_video(0, 16, size, torch.Generator().manual_seed(3))


def _digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def with_avx2(monkeypatch):
    monkeypatch.setattr(x264_cpu, "cpu_has_avx2", lambda: True)


def test_x264_assembly_is_capped_at_avx2_unless_the_caller_chose(with_avx2):
    assert repeatable_options("libx264", {"crf": "12"}) == {"crf": "12", "x264-params": "asm=AVX2"}
    assert repeatable_options("libx264rgb", {"x264-params": "keyint=5"})["x264-params"] == "keyint=5:asm=AVX2"
    assert repeatable_options("libx264", {"x264-params": "keyint=5:asm=SSE2"})["x264-params"] == "keyint=5:asm=SSE2"
    assert repeatable_options("mpeg4", {"qscale": "3"}) == {"qscale": "3"}


def test_cpus_without_avx2_keep_libx264s_choice(monkeypatch):
    monkeypatch.setattr(x264_cpu, "cpu_has_avx2", lambda: False)
    assert repeatable_options("libx264", {"crf": "12"}) == {"crf": "12"}


@pytest.mark.parametrize("name", ["h264_crf", "bit_error", "h264_abr"])
def test_h264_corruptions_repeat_exactly(name):
    clip = _clip().permute(0, 3, 1, 2).contiguous()
    outputs = {_digest(corruptions.apply(clip, name, severity=3, seed=0).numpy().tobytes()) for _ in range(8)}
    assert len(outputs) == 1  # with libx264's AVX-512 assembly: up to 8 distinct results


def test_written_h264_videos_repeat_exactly(tmp_path: Path):
    frames = _clip()
    files = [write_video(tmp_path / f"{k}.mp4", frames, 12, options={"crf": "12", "preset": "veryfast"})
             for k in range(8)]
    assert len({_digest(path.read_bytes()) for path in files}) == 1
