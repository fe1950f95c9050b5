"""Small video files in the formats real datasets ship, made here (nothing is downloaded).

Each maker writes frames whose content changes every frame (a moving square over noise, the red
channel growing with the frame index), so a reader that returns a wrong frame is caught by a
pixel comparison with the decode from the start. The formats are the ones the decoders must read
frame-exactly (docs/input-policies.md):

* MPEG-4 Part 2 in AVI with B-frames, as FFmpeg writes it (one VOP per chunk, open GOPs);
* the same with *packed* B-frames, as DivX/XviD wrote UCF101 and HMDB51: each anchor VOP and the
  B-VOP after it in one chunk, then a not-coded VOP (N-VOP) placeholder chunk, and DivX user data
  ending in ``p`` (``pack_bframes``, checked in the tests against FFmpeg's ``mpeg4_unpack_bframes``);
* MPEG-4 Part 2 and H.264 (B-pyramid, open GOP) in MP4; an AVI without its index; variable frame
  rate; an elementary stream without timestamps; VP8 in WebM and VP9 in MKV; the toolkit's own
  ``write_video`` output.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np
import torch

from vidsparse.data.video.writer import write_video

VOP = b"\x00\x00\x01\xb6"
USER_DATA = b"\x00\x00\x01\xb2"
VOL_PREFIX = b"\x00\x00\x01\x20"  # video_object_layer_start_code is 0x20..0x2f
DIVX_PACKED_USER_DATA = USER_DATA + b"DivX503b1393p"


BITS = 8  # frame numbers are written as 8 black/white blocks along the bottom edge
BLOCK = 8


def test_frames(frames: int = 40, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 [T, H, W, 3]: noise, a square moving right, and the frame number as a row of blocks."""
    gen = torch.Generator().manual_seed(seed)
    video = (torch.rand(frames, height, width, 3, generator=gen) * 60).to(torch.uint8)
    for t in range(frames):
        x = (3 * t) % (width - 12)
        video[t, 10:22, x : x + 12, 1] = 255
        for bit in range(BITS):
            value = 255 if (t >> bit) & 1 else 0
            video[t, height - BLOCK :, bit * BLOCK : (bit + 1) * BLOCK] = value
    return video.numpy()


def frame_number(image: np.ndarray | torch.Tensor) -> int:
    """The number ``test_frames`` wrote into a (decoded, lossy) frame."""
    image = np.asarray(image)
    blocks = image[-BLOCK + 2 : -2].astype(np.float64).mean(axis=(0, 2))
    return sum(1 << bit for bit in range(BITS) if blocks[bit * BLOCK + 2 : (bit + 1) * BLOCK - 2].mean() > 128)


def _encode(path: Path, frames: np.ndarray, codec: str, *, fps: Fraction = Fraction(25), options: dict | None = None,
            fmt: str | None = None, codec_tag: str | None = None, b_frames: int = 0,
            pts: list[int] | None = None, time_base: Fraction | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if codec_tag:
            stream.codec_tag = codec_tag
        if b_frames:
            stream.codec_context.max_b_frames = b_frames
        if time_base:
            stream.codec_context.time_base = time_base
        stream.options = dict(options or {})
        for t, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[t], time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# ---------------------------------------------------------------------------------------------
# MPEG-4 Part 2 bitstream pieces for the packed form


class _Bits:
    def __init__(self, data: bytes, start: int = 0) -> None:
        self.data, self.pos = data, start * 8

    def read(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value


def vop_type(packet: bytes) -> str:
    """'I', 'P', 'B' or 'S' of the first VOP in an MPEG-4 Part 2 packet."""
    at = packet.index(VOP)
    return "IPBS"[packet[at + 4] >> 6]


def time_increment_bits(header: bytes) -> int:
    """Bits of vop_time_increment, from the video object layer header (ISO 14496-2 6.2.3)."""
    at = header.index(VOL_PREFIX)
    bits = _Bits(header, at + 4)
    bits.read(1 + 8)  # random_accessible_vol, video_object_type_indication
    verid = 1
    if bits.read(1):  # is_object_layer_identifier
        verid = bits.read(4)
        bits.read(3)
    if bits.read(4) == 15:  # aspect_ratio_info: extended PAR
        bits.read(16)
    if bits.read(1):  # vol_control_parameters
        bits.read(3)
        if bits.read(1):  # vbv_parameters
            bits.read(79)
    shape = bits.read(2)
    if shape == 3 and verid != 1:
        bits.read(4)
    bits.read(1)
    resolution = bits.read(16)
    return max(1, (resolution - 1).bit_length())


def not_coded_vop(anchor: bytes, increment_bits: int) -> bytes:
    """An N-VOP (vop_coded = 0) carrying the anchor's time stamp: the packed form's placeholder."""
    at = anchor.index(VOP)
    bits = _Bits(anchor, at + 4)
    out: list[int] = [0, 1]  # coding type P
    bits.read(2)
    while bits.read(1):  # modulo_time_base
        out.append(1)
    out.append(0)
    out += [bits.read(1)] + [bits.read(1) for _ in range(increment_bits)] + [bits.read(1)]  # marker, time, marker
    out.append(0)  # vop_coded = 0
    out.append(0)  # stuffing: a zero, then ones to the byte boundary
    out += [1] * (-len(out) % 8)
    payload = bytes(int("".join(map(str, out[i : i + 8])), 2) for i in range(0, len(out), 8))
    return VOP + payload


def pack_bframes(packets: list[bytes]) -> list[bytes]:
    """Decode-order MPEG-4 Part 2 packets (at most one B-VOP between anchors) in DivX's packed form:
    [anchor + B] chunks each followed by an N-VOP chunk, DivX user data with 'p' in the first chunk."""
    increment_bits = time_increment_bits(packets[0])
    first = packets[0]
    vop_at = first.index(VOP)
    chunks = [first[:vop_at] + DIVX_PACKED_USER_DATA + first[vop_at:]]
    k = 1
    while k < len(packets):
        anchor = packets[k]
        if k + 1 < len(packets) and vop_type(packets[k + 1]) == "B":
            if k + 2 < len(packets) and vop_type(packets[k + 2]) == "B":
                raise ValueError("packed B-frames hold one B-VOP between anchors: encode with b_frames=1")
            chunks += [anchor + packets[k + 1], not_coded_vop(anchor, increment_bits)]
            k += 2
        else:
            chunks.append(anchor)
            k += 1
    return chunks


def _video_packets(path: Path) -> tuple[list[bytes], list[bool]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(bytes(p), p.is_keyframe) for p in container.demux(stream) if p.size]
    return [p for p, _ in packets], [k for _, k in packets]


def _write_avi_chunks(path: Path, chunks: list[bytes], keyframes: list[bool], template: Path, fps: Fraction) -> Path:
    """Mux raw chunks into an AVI, one chunk per frame time, with the template's codec header."""
    with av.open(str(template)) as source:
        src = source.streams.video[0]
        with av.open(str(path), "w", format="avi") as container:
            stream = container.add_stream_from_template(src)
            for t, (data, key) in enumerate(zip(chunks, keyframes)):
                packet = av.Packet(data)
                packet.stream = stream
                packet.pts = packet.dts = t
                packet.time_base = Fraction(1) / fps
                packet.is_keyframe = key
                container.mux(packet)
    return path


# ---------------------------------------------------------------------------------------------
# the formats


def mpeg4_avi(path: Path, frames: np.ndarray, b_frames: int = 2, codec_tag: str = "XVID", gop: int = 12) -> Path:
    """MPEG-4 Part 2 in AVI with B-frames, one VOP per chunk (FFmpeg's own way)."""
    return _encode(path, frames, "mpeg4", options={"qscale": "3", "g": str(gop), "bf": str(b_frames)},
                   codec_tag=codec_tag, b_frames=b_frames)


def packed_avi(path: Path, frames: np.ndarray, codec_tag: str = "DX50", gop: int = 12) -> Path:
    """MPEG-4 Part 2 in AVI with DivX-packed B-frames, as most UCF101 / HMDB51 files are stored."""
    plain = mpeg4_avi(path.with_name(f".plain-{path.name}"), frames, b_frames=1, codec_tag=codec_tag, gop=gop)
    packets, keys = _video_packets(plain)
    chunks = pack_bframes(packets)
    chunk_keys = [VOP in chunk and vop_type(chunk) == "I" for chunk in chunks]  # key: first VOP is an I-VOP
    _write_avi_chunks(path, chunks, chunk_keys, plain, Fraction(25))
    plain.unlink()
    return path


def avi_without_index(path: Path, frames: np.ndarray) -> Path:
    """An AVI whose idx1 index was lost (cut downloads, some capture tools)."""
    full = mpeg4_avi(path.with_name(f".indexed-{path.name}"), frames, b_frames=1)
    data = full.read_bytes()
    at = data.rfind(b"idx1")
    riff_size = at - 8
    data = data[:4] + riff_size.to_bytes(4, "little") + data[8:at]
    path.write_bytes(data)
    full.unlink()
    return path


def mpeg4_mp4(path: Path, frames: np.ndarray) -> Path:
    return _encode(path, frames, "mpeg4", options={"qscale": "3", "g": "12", "bf": "2"}, b_frames=2)


def h264_bpyramid_mp4(path: Path, frames: np.ndarray) -> Path:
    """H.264 with 3 B-frames, B-pyramid and weighted prediction (x264's slower presets)."""
    return _encode(path, frames, "libx264", options={"crf": "20", "bframes": "3", "b-pyramid": "normal",
                                                     "g": "15", "keyint_min": "15", "sc_threshold": "0"})


def h264_open_gop_mp4(path: Path, frames: np.ndarray) -> Path:
    """H.264 with open GOPs: B-frames after a key frame are shown before it."""
    return _encode(path, frames, "libx264", options={"crf": "20", "bframes": "3", "g": "10", "keyint_min": "10",
                                                     "sc_threshold": "0", "x264-params": "open-gop=1"})


def vfr_mkv(path: Path, frames: np.ndarray) -> Path:
    """Variable frame rate: intervals alternate between 1 and 3 ticks of 1/75 s."""
    pts = list(np.cumsum([0] + [1 if t % 2 else 3 for t in range(len(frames) - 1)]))
    return _encode(path, frames, "libx264", options={"crf": "20", "bframes": "2"}, fps=Fraction(25),
                   pts=[int(p) for p in pts], time_base=Fraction(1, 75))


def elementary_m4v(path: Path, frames: np.ndarray) -> Path:
    """A raw MPEG-4 Part 2 stream (.m4v): no container, no timestamps."""
    return _encode(path, frames, "mpeg4", options={"qscale": "3", "g": "12", "bf": "1"}, fmt="m4v", b_frames=1)


def vp8_webm(path: Path, frames: np.ndarray) -> Path:
    return _encode(path, frames, "libvpx", options={"crf": "20", "b": "1M", "auto-alt-ref": "1", "lag-in-frames": "16",
                                                    "g": "12"})


def vp9_mkv(path: Path, frames: np.ndarray) -> Path:
    return _encode(path, frames, "libvpx-vp9", options={"crf": "30", "b": "0", "auto-alt-ref": "1",
                                                        "lag-in-frames": "16", "g": "12", "deadline": "realtime",
                                                        "cpu-used": "8"})


def toolkit_mp4(path: Path, frames: np.ndarray) -> Path:
    return write_video(path, frames, 25)


# name -> (file name, maker)
FORMATS: dict[str, tuple[str, Callable[[Path, np.ndarray], Path]]] = {
    "mpeg4_avi_bframes": ("xvid.avi", mpeg4_avi),
    "mpeg4_avi_packed": ("divx_packed.avi", packed_avi),
    "avi_no_index": ("noindex.avi", avi_without_index),
    "mpeg4_mp4_bframes": ("mpeg4.mp4", mpeg4_mp4),
    "h264_bpyramid_mp4": ("bpyramid.mp4", h264_bpyramid_mp4),
    "h264_open_gop_mp4": ("opengop.mp4", h264_open_gop_mp4),
    "vfr_mkv": ("vfr.mkv", vfr_mkv),
    "m4v_no_timestamps": ("raw.m4v", elementary_m4v),
    "vp8_webm": ("vp8.webm", vp8_webm),
    "vp9_mkv": ("vp9.mkv", vp9_mkv),
    "toolkit_mp4": ("toolkit.mp4", toolkit_mp4),
}


def make_format(name: str, folder: Path, frames: np.ndarray | None = None) -> Path:
    file_name, maker = FORMATS[name]
    folder.mkdir(parents=True, exist_ok=True)
    return maker(folder / file_name, test_frames() if frames is None else frames)


def decode_from_start(path: Path) -> np.ndarray:
    """Ground truth: every frame a plain sequential decode yields, in order, as RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
