"""Hostile inputs: every bad case in docs/input-policies.md, built here, checked against its policy.

Videos that cannot be used raise a one-line VideoDecodeError with a kind and are skipped and
counted by train/eval/corrupt; usable oddities (truncated, short, odd sizes, VFR) follow the
documented adjustment; split-file mistakes are one-line UserErrors; images of every mode become
8-bit RGB or are rejected. Decoders on garbage must fail promptly (checked in a subprocess with
a timeout).
"""

from __future__ import annotations

import csv
import json
import shutil
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.conftest import TINY_SYNTHETIC, moving_square_video, tiny_train_args
from vidsparse.cli import main
from vidsparse.data import video_io
from vidsparse.data.video import transforms
from vidsparse.data.video.clips import random_clip
from vidsparse.data.image.io import ImageDecodeError, read_rgb
from vidsparse.data.video.splits import hmdb51_split, ucf101_split
from vidsparse.data.video.transforms import ClipTransform
from vidsparse.data.video.dataset import ClipSpec, VideoClipDataset, collate_skipping
from vidsparse.data.video_io import VideoDecodeError, inspect_video, probe_video, read_clip, read_video, write_video
from vidsparse.errors import UserError

BACKENDS = ["auto", "pyav"] + (["decord"] if video_io.HAVE_DECORD else [])


# ----------------------------------------------------------------------------------------------
# makers: each bad case, tiny


def levels(frames: int, height: int = 16, width: int = 32) -> torch.Tensor:
    """uint8 [T, H, W, 3] flat frames whose brightness 16 + 12 * t identifies frame t after coding."""
    values = (16 + 12 * torch.arange(frames)).clamp(max=255).to(torch.uint8)
    return values.view(-1, 1, 1, 1).expand(frames, height, width, 3).contiguous()


def frame_ids(frames: torch.Tensor) -> list[int]:
    return [round((float(v) - 16) / 12) for v in frames.float().mean(dim=(1, 2, 3))]


def write_vfr(path: Path, gaps_ms: list[int]) -> Path:
    """H.264 with per-frame timestamps: frame t shows level t and lasts gaps_ms[t]."""
    frames = levels(len(gaps_ms)).numpy()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        stream.options = {"crf": "0"}
        pts = 0
        for image, gap in zip(frames, gaps_ms):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            container.mux(stream.encode(frame))
            pts += gap
        container.mux(stream.encode(None))
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        for k in range(4):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, k * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_png_as(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (16, 16), (200, 30, 30)).save(path, format="PNG")
    return path


def cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


UNUSABLE = {  # name -> (maker(folder) -> path, expected kind; "|" separates acceptable kinds)
    "zero_byte": (lambda d: written(d / "zero.avi", b""), "empty"),
    "text": (lambda d: written(d / "notes.avi", b"not a video\n" * 40), "not_video"),
    "png": (lambda d: write_png_as(d / "still.avi"), "not_video"),
    "audio_only": (lambda d: write_audio_only(d / "sound.mp4"), "no_video_stream"),
    "truncated_index": (lambda d: cut(write_video(d / "whole.mp4", levels(20), 10), d / "cut.mp4", 0.5), "damaged"),
    "garbage_avi": (lambda d: written(d / "g.avi", b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(range(256)) * 200),
                    "damaged|no_video_stream"),  # the RIFF header parses: no stream in it
    "garbage_mkv": (lambda d: written(d / "g.mkv", b"\x1a\x45\xdf\xa3" + bytes(range(255, -1, -1)) * 200),
                    "damaged"),
    "missing": (lambda d: d / "absent.mp4", "missing"),
}


# ----------------------------------------------------------------------------------------------
# unusable videos: one-line error with a kind, promptly, through every reader


def test_unusable_videos_fail_promptly_with_their_kind(tmp_path: Path):
    """Run in a subprocess with a timeout: a decoder that hangs on garbage fails the test, not the suite."""
    paths = {name: str(make(tmp_path)) for name, (make, _) in UNUSABLE.items()}
    script = (
        "import json, sys\n"
        "from vidsparse.data.video_io import VideoDecodeError, probe_video, read_clip, read_video\n"
        f"paths, backends = json.loads(sys.argv[1]), {BACKENDS!r}\n"
        "out = {}\n"
        "for name, path in paths.items():\n"
        "    for backend in backends:\n"
        "        for read in (lambda: probe_video(path, backend), lambda: read_video(path, None, backend),\n"
        "                     lambda: read_clip(path, lambda n: [0, n - 1], backend)):\n"
        "            try:\n"
        "                read(); out.setdefault(name, []).append('decoded')\n"
        "            except VideoDecodeError as err:\n"
        "                out.setdefault(name, []).append([err.kind, str(err)])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, json.dumps(paths)], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.splitlines()[-1])
    for name, (_, kind) in UNUSABLE.items():
        for outcome in results[name]:
            assert outcome != "decoded", name
            got, message = outcome
            decord_alone = kind == "no_video_stream" and got == "damaged"  # decord does not say why
            assert got in kind.split("|") or decord_alone, (name, outcome)
            assert "\n" not in message and paths[name] in message


def test_dataset_skips_unusable_videos_and_collate_counts_them(tmp_path: Path):
    good = write_video(tmp_path / "good.mp4", levels(12), 10)
    bad = [make(tmp_path) for make, _ in UNUSABLE.values()]
    spec, transform = ClipSpec(4, 2), ClipTransform(16, 16, (0.5,) * 3, (0.5,) * 3)
    for train in (True, False):
        dataset = VideoClipDataset([(good, 1)] + [(p, 0) for p in bad], spec, transform, train=train)
        clips, labels, indices, skipped = collate_skipping([dataset[i] for i in range(len(dataset))])
        assert skipped == len(bad) and labels.tolist() == [1] and indices.tolist() == [0]


def test_video_decode_error_keeps_its_kind_across_processes():
    import pickle

    err = pickle.loads(pickle.dumps(VideoDecodeError("x.mp4: no video stream", "no_video_stream")))
    assert err.kind == "no_video_stream" and str(err) == "x.mp4: no video stream" and isinstance(err, UserError)


# ----------------------------------------------------------------------------------------------
# usable oddities: documented adjustments


def test_truncated_mid_stream_is_read_up_to_the_cut(tmp_path: Path):
    whole = write_video(tmp_path / "whole.mkv", levels(30), 10, options={"crf": "0", "bf": "0"})
    cut_file = cut(whole, tmp_path / "cut.mkv", 0.6)
    counts = {b: probe_video(cut_file, b).num_frames for b in BACKENDS}
    assert len(set(counts.values())) == 1 and 5 < counts["pyav"] < 30  # same count, frames present only
    n = counts["pyav"]
    assert inspect_video(cut_file).truncated and not inspect_video(whole).truncated
    for backend in BACKENDS:
        frames, _ = read_clip(cut_file, lambda m: list(range(m)), backend)
        assert frames.shape[0] == n and frame_ids(frames[: n - 1]) == list(range(n - 1))


def test_short_video_loops(tmp_path: Path):
    path = write_video(tmp_path / "short.mp4", levels(3), 10, options={"crf": "0"})
    gen = torch.Generator().manual_seed(0)
    indices = random_clip(3, 8, 2, gen)
    assert indices == [0, 2, 1, 0, 2, 1, 0, 2]  # span 15 > 3 frames: start 0, indices wrap around
    for backend in BACKENDS:
        frames, _ = read_clip(path, lambda n: indices, backend)
        assert frame_ids(frames) == indices
    spec, transform = ClipSpec(8, 2, num_clips=2), ClipTransform(16, 16, (0.5,) * 3, (0.5,) * 3)
    train = VideoClipDataset([(path, 0)], spec, transform, train=True)[0][0]
    test = VideoClipDataset([(path, 0)], spec, transform, train=False)[0][0]
    assert train.shape == (3, 8, 16, 16) and test.shape == (2, 3, 8, 16, 16)


def test_one_pixel_wide_video(tmp_path: Path):
    video = torch.randint(0, 255, (6, 24, 1, 3), dtype=torch.uint8)
    path = write_video(tmp_path / "thin.mkv", video, 10, codec="libx264", pix_fmt="yuv444p", options={"crf": "0"})
    frames, _ = read_video(path)  # decord cannot copy 1-pixel rows; PyAV reads it
    assert frames.shape == (6, 24, 1, 3)
    spec, transform = ClipSpec(4, 1), ClipTransform(16, 16, (0.5,) * 3, (0.5,) * 3)
    for train in (True, False):
        clip = VideoClipDataset([(path, 0)], spec, transform, train=train)[0][0]
        assert clip.shape[-3:] == (4, 16, 16) and bool(torch.isfinite(clip).all())


@pytest.mark.parametrize("backend", BACKENDS)
def test_oversized_frames_are_downscaled_while_decoding(tmp_path: Path, backend: str):
    path = write_video(tmp_path / "big.mp4", moving_square_video(20, height=90, width=160), 10)
    limit = 80 * 45
    frames, _ = read_video(path, None, backend, max_pixels=limit)  # a long read: sized from the header
    assert frames.shape == (20, 45, 80, 3)
    clip, _ = read_clip(path, lambda n: [3, 0], backend, max_pixels=limit)  # a short read: re-read small
    assert torch.equal(clip, frames[[3, 0]])  # both ways give the same frames
    assert probe_video(path, backend).width == 160  # the stored size is still reported
    assert video_io.decode_size(3840, 2160) == (1920, 1080) and video_io.decode_size(1920, 1080) is None


def test_large_clips_convert_to_float_in_chunks_with_identical_results(monkeypatch):
    frames = torch.randint(0, 255, (6, 40, 56, 3), dtype=torch.uint8)
    transform = ClipTransform(24, 20, (0.4, 0.5, 0.6), (0.2, 0.3, 0.4))
    whole = transform.test(frames, 3)
    monkeypatch.setattr(transforms, "FLOAT_CHUNK_ELEMENTS", 40 * 56 * 3 * 2)  # two frames at a time
    assert torch.equal(transform.test(frames, 3), whole)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_is_sampled_by_frame_index(tmp_path: Path, suffix: str):
    gaps = [40, 40, 40, 300, 40, 500, 40, 40, 200, 40, 40, 40]
    path = write_vfr(tmp_path / f"vfr{suffix}", gaps)
    assert inspect_video(path).variable_rate
    for backend in BACKENDS:
        assert probe_video(path, backend).num_frames == 12
        frames, _ = read_clip(path, lambda n: list(range(n)), backend)
        assert frame_ids(frames) == list(range(12))
        late, _ = read_video(path, [9, 4, 11], backend)  # seeking lands on the same frames
        assert frame_ids(late) == [9, 4, 11]


def test_open_gop_b_frames_are_read_exactly(tmp_path: Path):
    """Xvid-style AVI (MPEG-4 with B-frames): decord's seeks are wrong there, so PyAV reads it,
    seeking one key frame earlier when the wanted frame precedes the key frame in display order."""
    path = write_video(tmp_path / "xvid.avi", moving_square_video(60, seed=3), 25, codec="mpeg4",
                       options={"g": "12", "bf": "2", "qscale": "3"})
    full, _ = read_video(path, backend="pyav")  # decoded from the start: the reference
    for start in range(60):  # every seek target, so B-frames just before a key frame are hit
        indices = [start, min(start + 2, 59)]
        frames, _ = read_video(path, indices, "pyav")
        assert torch.equal(frames, full[indices]), indices
    frames, _ = read_video(path, [41, 3, 59], "auto")
    assert torch.equal(frames, full[[41, 3, 59]])
    assert inspect_video(path).open_gop
    if video_io.HAVE_DECORD:
        with pytest.raises(VideoDecodeError) as err:
            read_video(path, [41], backend="decord")
        assert err.value.kind == "backend"


def test_open_gop_h264_is_flagged_for_decord_users(tmp_path: Path):
    from vidsparse.data.check import check_video

    params = "open-gop=1:keyint=10:min-keyint=10:bframes=3:scenecut=0"
    path = write_video(tmp_path / "open.mp4", moving_square_video(30), 25, options={"x264-params": params})
    closed = write_video(tmp_path / "closed.mp4", moving_square_video(30), 25, options={"g": "10"})
    assert inspect_video(path).open_gop and not inspect_video(closed).open_gop
    if video_io.HAVE_DECORD:
        assert "open_gop" in check_video(path, 8).notes and "open_gop" not in check_video(closed, 8).notes


# ----------------------------------------------------------------------------------------------
# split files


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    root = tmp_path / "ucf"
    for name in ("A/v_A_g01_c01.mp4", "B/v_B_g01_c01.mp4"):
        write_video(root / name, levels(4), 10)
    (root / "ucfTrainTestlist").mkdir()
    (root / "ucfTrainTestlist" / "classInd.txt").write_text("1 A\n2 B\n")
    (root / "ucfTrainTestlist" / "trainlist01.txt").write_text("A/v_A_g01_c01.mp4 1\nB/v_B_g01_c01.mp4 2\n")
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("A/v_A_g01_c01.mp4\nB/v_B_g01_c01.mp4\n")
    return root


@pytest.mark.parametrize("file,text,message", [
    ("trainlist01.txt", "A/v_A_g01_c01.mp4 1\nC/v_C_g01_c01.mp4 3\n",
     r"trainlist01.txt:2: class 'C' of C/v_C_g01_c01.mp4 is not in classInd.txt"),
    ("trainlist01.txt", "A/v_A_g01_c01.mp4 2\n", r"trainlist01.txt:1: label 2 of A/v_A_g01_c01.mp4 disagrees"),
    ("trainlist01.txt", "A/v_A_g01_c01.mp4 one\n", r"trainlist01.txt:1: expected 'Class/video.avi \[label\]'"),
    ("trainlist01.txt", "A/v_A_g01_c01.mp4 1 extra\n", r"trainlist01.txt:1: expected"),
    ("classInd.txt", "1 A\nB\n", r"classInd.txt:2: expected 'index ClassName'"),
    ("classInd.txt", "1 A\n3 B\n", r"classInd.txt:2: class indices must run 1..N"),
])
def test_bad_ucf_split_lines_are_one_line_errors(ucf: Path, file: str, text: str, message: str):
    (ucf / "ucfTrainTestlist" / file).write_text(text)
    with pytest.raises(UserError, match=message) as err:
        ucf101_split(ucf, 1, "train")
    assert "\n" not in str(err.value)


def test_binary_split_file_and_bad_hmdb_line(ucf: Path, tmp_path: Path):
    (ucf / "ucfTrainTestlist" / "trainlist01.txt").write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(UserError, match="is not a text file"):
        ucf101_split(ucf, 1, "train")
    hmdb = tmp_path / "hmdb"
    write_video(hmdb / "run" / "run_a.avi", levels(4), 10, codec="mpeg4")
    (hmdb / "run_test_split1.txt").write_text("run_a.avi 1\nrun_b.avi\n")
    with pytest.raises(UserError, match=r"run_test_split1.txt:2: expected 'name.avi 0\|1\|2'"):
        hmdb51_split(hmdb, 1, "train")


def test_missing_videos_warn_and_an_empty_split_refuses(ucf: Path, capsys):
    from vidsparse.config import DataConfig, RunConfig
    from vidsparse.data.build import build_datasets

    (ucf / "ucfTrainTestlist" / "testlist01.txt").write_text(
        "A/v_A_g01_c01.mp4\nA/gone1.mp4\nB/gone2.mp4\nB/gone3.mp4\nB/gone4.mp4\n")
    test = ucf101_split(ucf, 1, "test")
    assert test.missing == ["A/gone1.mp4", "B/gone2.mp4", "B/gone3.mp4", "B/gone4.mp4"] and len(test) == 1
    cfg = RunConfig(data=DataConfig(dataset="ucf101", root=str(ucf)))
    bundle = build_datasets(cfg, (0.5,) * 3, (0.5,) * 3)
    assert bundle.missing == 4 and len(bundle.test) == 1
    assert "warning: 4 videos listed in the split files are missing on disk (A/gone1.mp4, B/gone2.mp4, " \
           "B/gone3.mp4, ...); skipped" in capsys.readouterr().err
    (ucf / "ucfTrainTestlist" / "testlist01.txt").write_text("A/gone1.mp4\n")
    with pytest.raises(UserError, match=r"the test split of ucf101 at .* is empty \(1 videos listed in the split "
                                        r"files are missing on disk \(A/gone1.mp4\)\)$"):
        build_datasets(cfg, (0.5,) * 3, (0.5,) * 3)
    (ucf / "ucfTrainTestlist" / "testlist01.txt").write_text("")
    with pytest.raises(UserError, match=r"the test split of ucf101 at .* is empty$"):
        build_datasets(cfg, (0.5,) * 3, (0.5,) * 3)


# ----------------------------------------------------------------------------------------------
# images


def png16(path: Path, pixels: np.ndarray) -> Path:
    """A 16-bit RGB PNG (Pillow cannot write one): uint16 [H, W, 3]."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))
    return path


def test_image_modes_become_rgb8_or_are_rejected(tmp_path: Path):
    from PIL import Image

    base = Image.new("RGB", (8, 6), (200, 100, 50))
    base.convert("L").save(tmp_path / "gray.png")
    base.convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "palette.png")
    Image.new("RGBA", (8, 6), (10, 20, 30, 0)).save(tmp_path / "rgba.png")  # alpha dropped, colour kept
    base.convert("1").save(tmp_path / "bilevel.png")
    base.convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(np.full((6, 8), 0x1234, dtype=np.uint16)).save(tmp_path / "gray16.png")
    Image.fromarray(np.full((6, 8), 0x00FF, dtype=np.uint16)).save(tmp_path / "dark16.png")
    png16(tmp_path / "rgb16.png", np.tile(np.array([0xFFFF, 0x8001, 0x00FF], np.uint16), (6, 8, 1)))
    Image.fromarray(np.full((6, 8), 0.5, dtype=np.float32)).save(tmp_path / "float.tif")
    Image.fromarray(np.full((6, 8), 1 << 20, dtype=np.int32)).save(tmp_path / "int32.tif")

    expected = {"gray.png": None, "palette.png": (200, 100, 50), "rgba.png": (10, 20, 30),
                "gray16.png": (0x12, 0x12, 0x12), "dark16.png": (0, 0, 0), "rgb16.png": (0xFF, 0x80, 0x00)}
    for name, colour in expected.items():
        image = read_rgb(tmp_path / name)
        assert image.dtype == torch.uint8 and image.shape == (3, 6, 8), name
        if colour is not None:
            assert image[:, 0, 0].tolist() == list(colour), name
    assert read_rgb(tmp_path / "gray.png")[:, 0, 0].unique().numel() == 1  # gray replicated to 3 channels
    assert set(read_rgb(tmp_path / "bilevel.png").unique().tolist()) <= {0, 255}
    assert read_rgb(tmp_path / "cmyk.jpg").shape == (3, 6, 8)
    for name in ("float.tif", "int32.tif"):
        with pytest.raises(ImageDecodeError, match="8-bit|16 bits") as err:
            read_rgb(tmp_path / name)
        assert "\n" not in str(err.value) and name in str(err.value)


# ----------------------------------------------------------------------------------------------
# end to end: train, eval, corrupt and data check on a tree mixing good and bad videos


@pytest.fixture(scope="module")
def mixed_tree(synthetic_root: Path, tmp_path_factory) -> dict:
    """The tiny synthetic set with listed videos replaced by bad ones (and one deleted)."""
    root = tmp_path_factory.mktemp("mixed") / "synthetic"
    shutil.copytree(synthetic_root, root)
    lists = root / "ucfTrainTestlist"
    train = [line.split()[0] for line in (lists / "trainlist01.txt").read_text().splitlines() if line.strip()]
    test = [line.split()[0] for line in (lists / "testlist01.txt").read_text().splitlines() if line.strip()]
    scratch = tmp_path_factory.mktemp("scratch")

    def replace(rel: str, source: Path) -> None:
        shutil.copyfile(source, root / rel)

    skipped_train = {  # undecodable: skipped and counted
        train[0]: UNUSABLE["zero_byte"][0](scratch), train[1]: UNUSABLE["text"][0](scratch),
        train[2]: UNUSABLE["audio_only"][0](scratch), train[3]: UNUSABLE["truncated_index"][0](scratch),
    }
    skipped_test = {test[0]: UNUSABLE["png"][0](scratch), test[1]: UNUSABLE["garbage_mkv"][0](scratch)}
    used = {  # usable oddities
        train[4]: write_video(scratch / "short.mp4", moving_square_video(2, height=32, width=32), 10),
        train[5]: write_vfr(scratch / "vfr.mp4", [40, 300, 40, 40, 500, 40, 40, 40, 40, 40, 40, 40]),
        train[6]: write_video(scratch / "thin.mp4", torch.full((12, 32, 1, 3), 90, dtype=torch.uint8), 10,
                              pix_fmt="yuv444p"),
        test[2]: write_video(scratch / "uhd.mp4", torch.full((2, 2160, 3840, 3), 120, dtype=torch.uint8), 10,
                             options={"preset": "ultrafast"}),
    }
    for rel, source in {**skipped_train, **skipped_test, **used}.items():
        replace(rel, source)
    (root / train[7]).unlink()
    return {"root": root, "train": train, "test": test, "missing": train[7], "skipped_train": len(skipped_train),
            "skipped_test": len(skipped_test), "videos": len(train) + len(test) - 1}


@pytest.fixture(scope="module")
def mixed_run(mixed_tree: dict, tmp_path_factory) -> tuple[Path, int, str]:
    import contextlib
    import io

    run = tmp_path_factory.mktemp("runs") / "mixed"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(tiny_train_args(mixed_tree["root"], run))
    return run, code, err.getvalue()


def test_train_skips_and_counts_bad_videos(mixed_tree: dict, mixed_run):
    run, code, err = mixed_run
    assert code == 0
    row = next(csv.DictReader((run / "metrics.csv").open()))
    assert int(row["skipped"]) == mixed_tree["skipped_train"] + mixed_tree["skipped_test"]
    assert f"1 videos listed in the split files are missing on disk ({mixed_tree['missing']})" in err
    assert "undecodable videos were skipped" in err


def test_eval_skips_and_counts_bad_videos(mixed_tree: dict, mixed_run, capsys):
    run, _, _ = mixed_run
    assert main(["eval", "--run", str(run), "--corruptions", "gaussian_noise", "--severities", "1",
                 "--workers", "0"]) == 0
    results = json.loads((run / "eval.json").read_text())
    n_test = TINY_SYNTHETIC["classes"] * TINY_SYNTHETIC["test_per_class"]
    for cell in (results["clean"], results["corruptions"]["gaussian_noise"]["1"]):
        assert cell["n"] == n_test - mixed_tree["skipped_test"] and cell["skipped"] == mixed_tree["skipped_test"]
    assert "samples skipped" in capsys.readouterr().err


def test_corrupt_fails_only_the_bad_videos(mixed_tree: dict, tmp_path: Path, capsys):
    out = tmp_path / "c"
    assert main(["corrupt", "--dataset", "synthetic", "--data-root", str(mixed_tree["root"]), "--out", str(out),
                 "--corruptions", "gaussian_noise", "--severities", "1", "--workers", "0"]) == 0
    bad = mixed_tree["skipped_train"] + mixed_tree["skipped_test"]
    stdout = capsys.readouterr().out
    assert f"{mixed_tree['videos'] - bad} outputs written" in stdout and f"{bad} failed" in stdout
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == bad and all("\n" not in f["error"] for f in failures)
    uhd, _ = read_video(out / "gaussian_noise" / "1" / mixed_tree["test"][2])
    assert uhd.shape == (2, 1080, 1920, 3)  # the 4K source was downscaled while decoding


def test_data_check_counts_each_problem_kind(mixed_tree: dict, capsys):
    assert main(["data", "check", "--data-root", str(mixed_tree["root"]), "--dataset", "ucf101",
                 "--clip-len", "4", "--verbose"]) == 1
    out = capsys.readouterr().out
    for kind, count in {"empty": 1, "not_video": 2, "no_video_stream": 1, "damaged": 2}.items():
        assert f"{count}  skipped  {kind} " in out, kind
    for note in ("short", "vfr", "tiny", "oversize"):
        assert f"  used     {note} " in out and f"NOTE [{note}]" in out, note
    videos = mixed_tree["videos"]
    assert f"{videos - 6} of {videos} videos decode; 6 undecodable" in out
    assert f"1 samples listed by the ucf101 split files are missing on disk ({mixed_tree['missing']})" in out
