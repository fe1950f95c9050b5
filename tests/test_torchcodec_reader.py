"""torchcodec as the first ``auto`` backend: frame-exact where it is allowed, left out where its
FFmpeg libraries are missing. Skipped unless torchcodec is installed (``pip install torchcodec``).

torchcodec links against the system's FFmpeg (libavcodec.so.N). Where there is none, the test
lends it the FFmpeg that PyAV's wheel bundles (same libraries under hashed names): symlinks with
the names torchcodec asks for, on LD_LIBRARY_PATH of a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torchcodec", reason="torchcodec not installed")

from vidsparse.data.video import reader  # noqa: E402
from vidsparse.errors import UserError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FFMPEG_LIBS = ("avutil", "avcodec", "avformat", "avdevice", "avfilter", "swscale", "swresample")

CHILD = r"""
import random, sys
from pathlib import Path
import numpy as np
from tests import video_formats as vf
from vidsparse.data.video import reader
from vidsparse.data.video.decoding import VideoDecodeError

assert reader.HAVE_TORCHCODEC and reader.default_backend() == "torchcodec", list(reader.BACKENDS)
folder = Path(sys.argv[1])
rng = random.Random(0)
for name in ("h264_bpyramid_mp4", "vp9_mkv", "toolkit_mp4"):
    path = vf.make_format(name, folder)
    truth = vf.decode_from_start(path)
    assert reader.probe_video(path, "torchcodec").num_frames == 40, name
    for _ in range(6):
        clip = sorted(rng.sample(range(40), 5))
        frames, _ = reader.read_video(path, clip, backend="torchcodec")
        assert np.array_equal(frames.numpy(), truth[clip]), (name, clip)
    whole, _ = reader.read_video(path, None, backend="auto")
    assert np.array_equal(whole.numpy(), truth), name
refused = vf.make_format("mpeg4_avi_packed", folder)
try:
    reader.read_video(refused, [5], backend="torchcodec")
    raise SystemExit("torchcodec read a file it is not tested exact on")
except VideoDecodeError as err:
    assert err.kind == "backend", err.kind
frames, _ = reader.read_video(refused, [5, 9], backend="auto")  # handed on to PyAV
assert [vf.frame_number(f) for f in frames] == [5, 9]
print("torchcodec ok")
"""


def _ffmpeg_shim(folder: Path) -> Path | None:
    """A folder of libNAME.so.MAJOR links to PyAV's bundled FFmpeg; None when PyAV has none."""
    import av

    bundled = Path(av.__file__).resolve().parent.parent / "av.libs"
    if not bundled.is_dir():
        return None
    folder.mkdir()
    for lib in FFMPEG_LIBS:
        found = sorted(bundled.glob(f"lib{lib}-*.so.*"))
        if not found:
            return None
        major = found[0].name.split(".so.")[1].split(".")[0]
        (folder / f"lib{lib}.so.{major}").symlink_to(found[0])
    return folder


def test_without_ffmpeg_torchcodec_stays_out(tmp_path):
    if reader.HAVE_TORCHCODEC:
        pytest.skip("this machine has FFmpeg's libraries: torchcodec is usable")
    assert "torchcodec" not in reader.BACKENDS
    (tmp_path / "x.mp4").write_bytes(b"not checked: the backend is refused first")
    with pytest.raises(UserError, match="FFmpeg") as err:
        reader.read_video(tmp_path / "x.mp4", [0], backend="torchcodec")
    assert "\n" not in str(err.value)


def test_torchcodec_reads_frame_exactly_and_hands_on_the_rest(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *sys.path]))
    if not reader.HAVE_TORCHCODEC:
        shim = _ffmpeg_shim(tmp_path / "ffmpeg")
        if shim is None:
            pytest.skip("no FFmpeg libraries to lend torchcodec")
        import av

        bundled = Path(av.__file__).resolve().parent.parent / "av.libs"
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(shim), str(bundled), env.get("LD_LIBRARY_PATH", "")])
    (tmp_path / "videos").mkdir()
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "videos")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "torchcodec ok" in done.stdout, done.stderr[-3000:]
