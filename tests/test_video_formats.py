"""Frame-exact reads on every format the real datasets ship (issue: UCF101/HMDB51 AVIs with packed
B-frames were read with the wrong frames). Ground truth: a plain decode from the start."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests import video_formats as vf
from vidsparse.data.check import check_video, is_avi_without_index
from vidsparse.data.video import decord_reader, pyav_reader, reader
from vidsparse.data.video.decoding import VideoDecodeError
from vidsparse.data.video.writer import remux_video

BACKENDS = ["pyav", "auto"] + (["decord"] if reader.HAVE_DECORD else [])
# the formats decord is allowed to read (tested exact below); every other one is PyAV's
DECORD_FORMATS = {"h264_bpyramid_mp4", "vfr_mkv", "vp8_webm", "vp9_mkv", "toolkit_mp4"}
SEEKABLE_FORMATS = DECORD_FORMATS | {"mpeg4_mp4_bframes", "h264_open_gop_mp4"}


@pytest.fixture(scope="module")
def formats(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """Every format once, with its decode from the start (whose frames must be 0..39 in order)."""
    folder = tmp_path_factory.mktemp("formats")
    made = {}
    for name in vf.FORMATS:
        path = vf.make_format(name, folder)
        truth = vf.decode_from_start(path)
        assert [vf.frame_number(f) for f in truth] == list(range(40)), name
        made[name] = (path, truth)
    return made


def random_clips(count: int, frames: int = 40, seed: int = 0) -> list[list[int]]:
    """Training-like clips (8 frames, stride 2, wrapping at the end) and sparse test-view reads."""
    rng = random.Random(seed)
    clips = []
    for k in range(count):
        start = rng.randrange(frames)
        clips.append([min(start + 2 * i, frames - 1) for i in range(8)] if k % 3 else
                     sorted(rng.sample(range(frames), 5)))
    return clips


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(vf.FORMATS))
def test_random_clips_equal_the_decode_from_the_start(formats, name: str, backend: str):
    path, truth = formats[name]
    if backend == "decord" and name not in DECORD_FORMATS:
        with pytest.raises(VideoDecodeError, match="frame-exactly") as err:
            reader.read_video(path, [5], backend="decord")
        assert err.value.kind == "backend"
        return
    assert reader.probe_video(path, backend).num_frames == 40
    for clip in random_clips(12, seed=hash(name) % 1000):
        frames, _ = reader.read_video(path, clip, backend=backend)
        assert np.array_equal(frames.numpy(), truth[clip]), (name, backend, clip)
    whole, _ = reader.read_video(path, None, backend=backend)
    assert np.array_equal(whole.numpy(), truth)


def test_decord_is_allowed_exactly_where_the_matrix_proves_it(formats):
    for name, (path, _) in formats.items():
        video = reader.inspect_video(path)
        assert (decord_reader.why_not_exact(video) is None) == (name in DECORD_FORMATS), name
        assert video.seekable == (name in SEEKABLE_FORMATS), name
        assert video.index.packed_b_frames == (name == "mpeg4_avi_packed"), name


@pytest.mark.skipif(not reader.HAVE_DECORD, reason="decord not installed")
def test_decord_really_is_wrong_where_it_is_refused(formats):
    """Why the refusals: decord opens these files but returns other frames after a seek."""
    import decord

    for name in ("mpeg4_avi_packed", "mpeg4_avi_bframes", "mpeg4_mp4_bframes"):
        path, truth = formats[name]
        got = decord.VideoReader(str(path), num_threads=1).get_batch(list(range(25, 31))).asnumpy()
        assert not np.array_equal(got, truth[25:31]), name


def test_seek_reads_start_at_a_late_key_frame(formats, monkeypatch):
    """The fast path really seeks in timestamped files, and reads AVIs from the start."""
    starts = []
    original = pyav_reader.PyAVVideo._decoded

    def spy(self, start_packet=0, skip=frozenset()):
        starts.append(start_packet)
        return original(self, start_packet, skip)

    monkeypatch.setattr(pyav_reader.PyAVVideo, "_decoded", spy)
    for name, expect_late in (("h264_bpyramid_mp4", True), ("h264_open_gop_mp4", True),
                              ("mpeg4_avi_packed", False)):
        path, truth = formats[name]
        starts.clear()
        frames, _ = reader.read_video(path, [35, 37, 39], backend="pyav")
        assert np.array_equal(frames.numpy(), truth[[35, 37, 39]])
        assert (starts[-1] > 0) == expect_late, (name, starts)


def test_a_lying_key_frame_flag_falls_back_to_sequential(formats, monkeypatch):
    path, truth = formats["h264_bpyramid_mp4"]
    video = pyav_reader.PyAVVideo(path)
    flags = [True] * len(video.index.keyframes)  # every packet claims to be a key frame
    monkeypatch.setattr(video, "index", pyav_reader.PacketIndex(video.index.pts, flags, False))
    assert np.array_equal(video.frames([21, 22, 30]), truth[[21, 22, 30]])


# ---------------------------------------------------------------------------------------------
# the packed form the tests build, checked against FFmpeg's own unpacking filter


def test_packer_is_undone_by_ffmpegs_unpack_filter(tmp_path: Path):
    frames = vf.test_frames(30)
    plain = vf.mpeg4_avi(tmp_path / "plain.avi", frames, b_frames=1, codec_tag="DX50")
    packed = vf.packed_avi(tmp_path / "packed.avi", frames)
    original, _ = vf._video_packets(plain)
    stored, _ = vf._video_packets(packed)
    assert len(stored) == len(original) == 30
    assert sum(chunk.count(vf.VOP) == 2 for chunk in stored) >= 8  # anchor + B-VOP chunks
    assert sum(len(chunk) < 12 for chunk in stored) >= 8  # N-VOP placeholders
    with av.open(str(packed)) as container:
        stream = container.streams.video[0]
        unpacked = [bytes(p) for p in pyav_reader.video_packets(container, stream)]
    # the filter keeps the DivX user data, its packed flag 'p' cleared (NUL); all else is the original
    assert unpacked[0].replace(vf.DIVX_PACKED_USER_DATA[:-1] + b"\x00", b"") == original[0]
    assert unpacked[1:] == original[1:]
    assert np.array_equal(vf.decode_from_start(packed), vf.decode_from_start(plain))


def test_packed_timestamps_are_out_of_order_as_on_ucf101(formats):
    """The trap the old reader fell into: decoded frames' timestamps are not their positions."""
    path, _ = formats["mpeg4_avi_packed"]
    with av.open(str(path)) as container:
        pts = [f.pts for f in container.decode(container.streams.video[0])]
    assert pts != sorted(pts)


# ---------------------------------------------------------------------------------------------
# data check and remux


def test_data_check_reports_what_it_found(formats):
    report = check_video(formats["mpeg4_avi_packed"][0], 8)
    assert "packed_b_frames" in report.notes and report.reader == "pyav sequential"
    assert (report.frames, report.declared_frames, report.inexact) == (40, 40, "")
    assert "no_index" in check_video(formats["avi_no_index"][0], 8).notes
    assert "no_index" not in report.notes
    mp4 = check_video(formats["toolkit_mp4"][0], 8)
    assert mp4.reader == ("decord" if reader.HAVE_DECORD else "pyav seek") and not mp4.notes
    open_gop = check_video(formats["h264_open_gop_mp4"][0], 8)
    assert open_gop.reader == "pyav seek"
    assert ("pyav_only" in open_gop.notes) == reader.HAVE_DECORD


def test_data_check_catches_a_reader_that_returns_wrong_frames(formats, monkeypatch):
    path, _ = formats["toolkit_mp4"]
    real = reader.read_video

    def off_by_one(p, indices=None, backend=None, max_pixels=None):
        return real(p, [min(i + 1, 39) for i in indices], backend)

    monkeypatch.setattr("vidsparse.data.check.read_video", off_by_one)
    report = check_video(path, 8)
    assert "differ from a decode from the start" in report.inexact


def test_remux_unpacks_and_indexes_without_changing_frames(formats, tmp_path: Path):
    for name in ("mpeg4_avi_packed", "avi_no_index"):
        path, truth = formats[name]
        copy = remux_video(path, tmp_path / f"{name}.avi")
        video = reader.inspect_video(copy)
        assert not video.index.packed_b_frames and not is_avi_without_index(copy)
        assert np.array_equal(vf.decode_from_start(copy), truth)
        with av.open(str(copy)) as container:  # the copy's own timestamps are now in display order
            pts = [f.pts for f in container.decode(container.streams.video[0])]
        assert pts == sorted(pts)
    assert is_avi_without_index(formats["avi_no_index"][0])


def test_duplicate_timestamps_are_read_sequentially(tmp_path: Path):
    source = vf.toolkit_mp4(tmp_path / "src.mp4", vf.test_frames(20))
    target = tmp_path / "dup.mkv"
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        previous = None
        for k, packet in enumerate(p for p in src.demux(src.streams.video[0]) if p.size):
            packet.stream = stream
            if k == 7:
                packet.pts = previous  # packet 7 repeats packet 6's presentation time
            previous = packet.pts
            dst.mux(packet)
    video = reader.inspect_video(target)
    assert video.index.timestamps == "duplicate" and video.mode == "sequential"
    truth = vf.decode_from_start(target)
    frames, _ = reader.read_video(target, [5, 6, 7, 15], backend="auto")
    assert np.array_equal(frames.numpy(), truth[[5, 6, 7, 15]])
    assert "timestamps" in check_video(target, 8).notes


# ---------------------------------------------------------------------------------------------
# a UCF101-style tree as the official download lays it out, through the CLI


@pytest.fixture
def packed_ucf(tmp_path: Path) -> Path:
    root = tmp_path / "UCF-101"
    for c, name in enumerate(("ApplyEyeMakeup", "Archery")):
        for g in (1, 2):
            vf.packed_avi(root / name / f"v_{name}_g0{g}_c01.avi", vf.test_frames(30, seed=c * 2 + g))
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 Archery\r\n")
    (lists / "trainlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n"
                                            b"Archery/v_Archery_g01_c01.avi 2\r\n")
    (lists / "testlist01.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi\r\n"
                                           b"Archery/v_Archery_g02_c01.avi\r\n")
    return root


def test_data_check_and_remux_on_a_packed_ucf101_tree(packed_ucf: Path, tmp_path: Path, capsys):
    from vidsparse.cli import main

    assert main(["data", "check", "--data-root", str(packed_ucf), "--dataset", "ucf101", "--clip-len", "8",
                 "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "4  used     packed_b_frames " in out
    assert out.count("pyav sequential; 30 frames decoded (30 in header); packed_b_frames") == 4, out
    assert "INEXACT" not in out and "4 of 4 videos decode; 0 undecodable" in out

    copy = tmp_path / "UCF-101-remuxed"
    assert main(["data", "remux", "--data-root", str(packed_ucf), "--out", str(copy)]) == 0
    assert "4 videos rewritten by stream copy, 3 files copied unchanged (0 could not be rewritten)" in \
        capsys.readouterr().out
    assert (copy / "ucfTrainTestlist" / "trainlist01.txt").read_bytes() == \
        (packed_ucf / "ucfTrainTestlist" / "trainlist01.txt").read_bytes()
    for original in packed_ucf.rglob("*.avi"):
        remuxed = copy / original.relative_to(packed_ucf)
        assert np.array_equal(vf.decode_from_start(remuxed), vf.decode_from_start(original))
        assert not reader.inspect_video(remuxed).index.packed_b_frames
    assert main(["data", "check", "--data-root", str(copy), "--dataset", "ucf101"]) == 0
    assert "packed_b_frames" not in capsys.readouterr().out
    assert main(["data", "remux", "--data-root", str(packed_ucf), "--out", str(copy)]) == 0  # resumable
    assert "0 videos rewritten by stream copy, 0 files copied unchanged" in capsys.readouterr().out


def test_remux_refuses_to_write_into_its_source(packed_ucf: Path, capsys):
    from vidsparse.cli import main

    assert main(["data", "remux", "--data-root", str(packed_ucf), "--out", str(packed_ucf / "fixed")]) == 2
    assert "must lie outside --data-root" in capsys.readouterr().err
    assert not (packed_ucf / "fixed").exists()


def test_clips_from_packed_avis_are_the_frames_at_the_sampled_positions(packed_ucf: Path):
    """The headline path (the datasets' read_clip): the frames at the positions the sampler chose."""
    path = next(packed_ucf.rglob("*.avi"))
    truth = vf.decode_from_start(path)
    seen: list[list[int]] = []

    def select(n: int) -> list[int]:
        seen.append([(7 + 2 * i) % n for i in range(8)])
        return seen[-1]

    frames, _ = reader.read_clip(path, select)
    assert [vf.frame_number(f) for f in frames.numpy()] == seen[0]
    assert np.array_equal(frames.numpy(), truth[seen[0]])
