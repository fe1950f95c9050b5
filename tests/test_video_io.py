from pathlib import Path

import pytest
import torch

from tests.conftest import moving_square_video
from vidsparse.data.video import decoding, reader
from vidsparse.data.video.decoding import VideoDecodeError
from vidsparse.data.video.reader import probe_video, read_clip, read_video
from vidsparse.data.video.writer import write_video


@pytest.mark.parametrize("codec,suffix", [("mpeg4", ".avi"), ("libx264", ".mp4")])
@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_backends_read_the_requested_frames(tmp_path: Path, write_tiny_video, codec, suffix, backend):
    if backend == "decord" and not reader.HAVE_DECORD:
        pytest.skip("decord not installed")
    path = write_tiny_video(tmp_path / f"v{suffix}", codec=codec, frames=12)
    if backend == "decord" and suffix == ".avi":  # no presentation timestamps: decord may not read it
        with pytest.raises(VideoDecodeError, match="frame-exactly") as err:
            read_video(path, [0], backend=backend)
        assert err.value.kind == "backend"
        backend = "auto"
    frames, fps = read_video(path, [0, 5, 11, 5], backend=backend)
    assert frames.shape == (4, 32, 40, 3) and frames.dtype == torch.uint8 and fps == pytest.approx(10)
    full, _ = read_video(path, backend=backend)
    assert full.shape[0] == 12 and torch.equal(frames, full[[0, 5, 11, 5]])
    red = full[..., 0].float().mean(dim=(1, 2))  # the red channel grows with the frame index
    assert bool((red[1:] > red[:-1]).all())
    assert probe_video(path, backend) == decoding.VideoInfo(12, 10.0, 32, 40)


def test_decord_and_pyav_agree_on_h264(tmp_path: Path, write_tiny_video):
    if not reader.HAVE_DECORD:
        pytest.skip("decord not installed")
    path = write_tiny_video(tmp_path / "v.mp4", frames=12)
    a, _ = read_video(path, [1, 7, 10], backend="decord")
    b, _ = read_video(path, [1, 7, 10], backend="pyav")
    assert torch.equal(a, b)


def test_av1_falls_back_to_pyav(tmp_path: Path):
    path = write_video(tmp_path / "av1.mp4", moving_square_video(8), 10, codec="libsvtav1",
                       options={"svtav1-params": "log-level=0"})
    if reader.HAVE_DECORD:
        with pytest.raises(VideoDecodeError):
            read_video(path, [0], backend="decord")
    frames, _ = read_video(path, [0, 7])  # auto: decord fails, PyAV reads it
    assert frames.shape == (2, 32, 40, 3)
    assert frames[1, :, :, 0].float().mean() > frames[0, :, :, 0].float().mean() + 40


def test_pyav_seek_reads_late_frames_of_a_long_video(tmp_path: Path):
    path = write_video(tmp_path / "long.mp4", moving_square_video(60, seed=1), 10,
                       options={"g": "10", "crf": "10"})
    full, _ = read_video(path, backend="pyav")
    late, _ = read_video(path, [41, 55], backend="pyav")
    assert full.shape[0] == 60
    assert torch.equal(late, full[[41, 55]])


def test_read_clip_asks_for_indices_given_the_length(tmp_path: Path, write_tiny_video):
    path = write_tiny_video(tmp_path / "v.mp4", frames=12)
    seen = []
    frames, _ = read_clip(path, lambda n: seen.append(n) or [n - 1, 0])
    assert seen == [12] and frames.shape[0] == 2


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 10])
def test_bad_files_raise_one_line_errors(tmp_path: Path, content: bytes):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoDecodeError) as err:
        read_video(path, [0])
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    with pytest.raises(VideoDecodeError, match="not found"):
        read_video(tmp_path / "missing.mp4")


def test_write_is_atomic_and_pads_odd_sizes(tmp_path: Path):
    path = write_video(tmp_path / "odd.mp4", moving_square_video(4, height=31, width=33), 10)
    assert probe_video(path).height == 32 and probe_video(path).width == 34
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]
