"""PyAV backend: every container and codec FFmpeg knows, read frame-exactly.

Frame ``i`` is the i-th frame a decode from the start yields. Two ways to get there:

* **sequential** (the definition itself): decode from the first packet and count the frames the
  decoder puts out. Used for every container without presentation timestamps (AVI, MPEG-PS/TS,
  raw streams), for files whose timestamps are missing or repeated, and as the fallback;
* **seek**: in containers that store a presentation timestamp per packet (MP4/MOV, Matroska/WebM),
  when every packet has its own, frame ``i`` is the packet with the i-th smallest timestamp; a read
  then starts at the last key frame (in decoding order) shown no later than the first wanted frame
  and names each decoded frame by its timestamp. That key frame must come out first and decode as an
  intra frame, and every decoded timestamp must be known, or the read falls back to sequential.

Why not the demuxer's seek and the decoded timestamps everywhere (the earlier design): in AVI the
timestamps are only a chunk counter, and with DivX/XviD *packed B-frames* (an anchor VOP and the
following B-VOP in one chunk, then a not-coded placeholder chunk: most of UCF101 and HMDB51) the
decoded frames' timestamps come out of order, so a 16-frame clip got about 11 wrong frames.
MPEG-4 Part 2 packets are therefore passed through FFmpeg's ``mpeg4_unpack_bframes`` filter
(a no-op on ordinary streams) before decoding, and AVI is always read sequentially: these files
rarely have more than one or two key frames, so a seek would save little (docs/benchmarks.md).

Both the packet index and every decode walk the same filtered packet sequence
(``video_packets``), so "packet k" and the frame count mean the same thing in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import av
import numpy as np

from vidsparse.data.video.decoding import (
    MAX_FRAME_PIXELS, VideoDecodeError, VideoInfo, decode_size, decoder_message, nearest, unopenable_kind,
)

# FFmpeg demuxer names of containers that store a presentation timestamp for every packet
TIMESTAMPED_FORMATS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"})
# codec -> the bitstream filter that turns a non-standard packet layout into the standard one
UNPACK_FILTERS = {"mpeg4": "mpeg4_unpack_bframes"}
VOP_START_CODE = b"\x00\x00\x01\xb6"  # one MPEG-4 Part 2 picture; two in one packet = packed B-frames


def open_av(path: Path):
    try:
        container = av.open(str(path))
    except Exception as err:
        raise VideoDecodeError(f"cannot open video {path}: {decoder_message(err)}", unopenable_kind(path)) from None
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        container.close()  # FFmpeg reads a PNG/JPEG/BMP/WebP as a one-frame "video"
        raise VideoDecodeError(f"not a video: {path} is a {container.format.name.removesuffix('_pipe')} image",
                               "not_video")
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"no video stream in {path}", "no_video_stream")
    return container


def stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 25.0


PACKED_CHECK_PACKETS = 64  # packed B-frames show in the first GOP with a B-frame: look that far


def video_packets(container, stream, raw: list | None = None) -> Iterator[av.Packet]:
    """The stream's non-empty packets in decoding order, packed B-frames unpacked.

    A damaged tail ends the sequence (the packets before it stay usable). ``raw``, if given,
    collects the first PACKED_CHECK_PACKETS packets' bytes as stored, before unpacking (for the
    packed-B-frame check).
    """
    name = UNPACK_FILTERS.get(stream.codec_context.name)
    unpack = av.bitstream.BitStreamFilterContext(name, stream) if name else None
    try:
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if raw is not None and len(raw) < PACKED_CHECK_PACKETS:
                raw.append(bytes(packet))
            yield from (p for p in unpack.filter(packet) if p.size) if unpack else (packet,)
    except (av.FFmpegError, OSError):
        pass
    if unpack:
        yield from (p for p in unpack.filter(None) if p.size)


@dataclass(frozen=True)
class PacketIndex:
    """The filtered packets of a video, in decoding order."""

    pts: list[int | None]
    keyframes: list[bool]
    packed_b_frames: bool  # DivX-style: two VOPs in one stored packet

    @property
    def timestamps(self) -> str:
        """'ok', 'missing' (a packet without one) or 'duplicate' (two packets share one)."""
        if None in self.pts:
            return "missing"
        return "ok" if len(set(self.pts)) == len(self.pts) else "duplicate"

    @property
    def open_gop(self) -> bool:
        """A key frame after the first is followed (in decoding order) by frames shown before it."""
        if self.timestamps != "ok":
            return False
        key_pts = None
        for k, (pts, key) in enumerate(zip(self.pts, self.keyframes)):
            if key:
                key_pts = pts if k else None
            elif key_pts is not None and pts < key_pts:
                return True
        return False


def index_packets(container, stream) -> PacketIndex:
    raw: list[bytes] | None = [] if stream.codec_context.name == "mpeg4" else None
    pts, keys = [], []
    for packet in video_packets(container, stream, raw):
        pts.append(packet.pts)
        keys.append(bool(packet.is_keyframe))
    packed = raw is not None and any(data.count(VOP_START_CODE) > 1 for data in raw)
    return PacketIndex(pts, keys, packed)


class _NotExact(Exception):
    """A timestamp-based read met a frame it cannot place: read sequentially instead."""


def _is_intra(frame) -> bool:
    return bool(frame.key_frame) or getattr(frame.pict_type, "name", "") == "I"


class PyAVVideo:
    """A video opened with PyAV: its packet index, container facts, and frame-exact reads."""

    def __init__(self, path: Path, max_pixels: int | None = MAX_FRAME_PIXELS) -> None:
        self.path = path
        with open_av(path) as container:
            stream = container.streams.video[0]
            self.container_format = container.format.name
            self.codec = stream.codec_context.name
            self.fps = stream_fps(stream)
            self.width, self.height = stream.width, stream.height
            self.declared_frames = int(stream.frames or 0)  # what the header claims, if anything
            self.declared_seconds = _declared_seconds(container, stream)
            self.time_base = stream.time_base
            self.index = index_packets(container, stream)
        self.num_frames = len(self.index.pts)
        self.size = decode_size(self.width, self.height, max_pixels)
        first_is_key = bool(self.index.keyframes) and self.index.keyframes[0]
        self.seekable = (self.container_format in TIMESTAMPED_FORMATS and self.index.timestamps == "ok"
                         and first_is_key and self.index.pts[0] == min(self.index.pts))
        self.presentation_pts = sorted(self.index.pts) if self.index.timestamps == "ok" else None  # frame i's
        self.mode = "seek" if self.seekable else "sequential"

    def _rgb(self, frame) -> np.ndarray:
        if self.size is None:
            return frame.to_ndarray(format="rgb24")
        return frame.to_ndarray(format="rgb24", width=self.size[0], height=self.size[1])

    def frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """uint8 [T, H, W, 3] at ``indices`` (every frame if None)."""
        wanted = None if indices is None else sorted({int(i) for i in indices})
        decoded = None
        if self.seekable and wanted and wanted[0] > 0:
            try:
                decoded = self._decode_by_timestamp(wanted)
            except _NotExact:
                decoded = None
        if decoded is None:
            decoded = self._decode_sequential(wanted)
        if not decoded:
            raise VideoDecodeError(f"no decodable frames in {self.path}")
        if indices is None:
            return np.stack([decoded[i] for i in sorted(decoded)])
        # a frame the file lists but the decoder cannot produce (the partly written last frame of
        # a truncated file) is replaced by its nearest decodable neighbour
        available = sorted(decoded)
        return np.stack([decoded[i] if i in decoded else decoded[nearest(available, i)] for i in indices])

    def _decoded(self, start_packet: int = 0, skip: frozenset[int] = frozenset()) -> Iterator:
        """Frames in output order from a decoder fed the filtered packets from ``start_packet`` on,
        except those in ``skip``."""
        with open_av(self.path) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context
            codec.thread_type = "AUTO"
            for k, packet in enumerate(video_packets(container, stream)):
                if k >= start_packet and k not in skip:
                    yield from codec.decode(packet)
            yield from codec.decode(None)

    def _decode_sequential(self, wanted: list[int] | None) -> dict[int, np.ndarray]:
        """Count the decoder's frames from the start; None keeps every frame it yields."""
        return self.decode_from_start(wanted, to_end=False)[0]

    def decode_from_start(self, wanted: list[int] | None, to_end: bool = True) -> tuple[dict[int, np.ndarray], int]:
        """The frames at ``wanted`` (all if None) of a decode from the start, and how many frames it
        yielded (all of them with ``to_end``, else up to the last wanted one): the reference."""
        decoded: dict[int, np.ndarray] = {}
        wanted_set = None if wanted is None else set(wanted)
        count = 0
        frames = self._decoded()
        try:
            for index, frame in enumerate(frames):
                count = index + 1
                if wanted_set is None or index in wanted_set:
                    decoded[index] = self._rgb(frame)
                if wanted and not to_end and index >= wanted[-1]:
                    break
        finally:
            frames.close()
        return decoded, count

    def _decode_by_timestamp(self, wanted: list[int]) -> dict[int, np.ndarray]:
        position = {p: i for i, p in enumerate(self.presentation_pts)}
        first_pts = self.presentation_pts[wanted[0]]
        start = max(k for k, (pts, key) in enumerate(zip(self.index.pts, self.index.keyframes))
                    if key and pts <= first_pts)
        start_pts = self.index.pts[start]
        # leading frames of an open GOP (decoded after the key frame, shown before it) reference the
        # previous GOP: not decodable from here, never wanted, and no later frame references them
        leading = frozenset(k for k in range(start + 1, len(self.index.pts)) if self.index.pts[k] < start_pts)
        decoded: dict[int, np.ndarray] = {}
        wanted_set = set(wanted)
        frames = self._decoded(start, leading)
        try:
            for count, frame in enumerate(frames):
                index = position.get(frame.pts)
                # the key frame is shown first of all the decoded frames, and it decodes intra
                if index is None or (count == 0 and (frame.pts != start_pts or not _is_intra(frame))):
                    raise _NotExact
                if index in wanted_set and index not in decoded:
                    decoded[index] = self._rgb(frame)
                if len(decoded) == len(wanted_set):
                    break
        finally:
            frames.close()
        if len(decoded) < len(wanted_set):  # the decoder skipped a wanted frame: let the reference decide
            raise _NotExact
        return decoded

    @property
    def variable_rate(self) -> bool:
        """Frame intervals differ by more than half: timestamps and frame indices diverge."""
        if self.presentation_pts is None or len(self.presentation_pts) < 3:
            return False
        gaps = np.diff(np.asarray(self.presentation_pts, dtype=np.float64))
        return bool(gaps.min() > 0 and gaps.max() > 1.5 * gaps.min())

    @property
    def truncated(self) -> bool:
        """Fewer frames present than the header declares (frame count, or duration at the frame rate)."""
        if self.declared_frames:
            return self.num_frames < self.declared_frames
        if self.declared_seconds and self.presentation_pts:
            present = float((self.presentation_pts[-1] - self.presentation_pts[0]) * self.time_base) + 1 / self.fps
            return present < self.declared_seconds - max(2 / self.fps, 0.02 * self.declared_seconds)
        return False


def _declared_seconds(container, stream) -> float:
    """The video's duration as its header states it (the container's only if it holds one stream)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return 0.0


def probe(path: Path) -> VideoInfo:
    video = PyAVVideo(path)
    return VideoInfo(video.num_frames, video.fps, video.height, video.width)


def read(path: Path, select, max_pixels: int | None) -> tuple[np.ndarray, float]:
    """The frames ``select(num_frames)`` picks (every frame if None) and the frame rate."""
    try:
        video = PyAVVideo(path, max_pixels)
        if video.num_frames == 0:
            raise VideoDecodeError(f"no frames in {path}")
        return video.frames(None if select is None else list(select(video.num_frames))), video.fps
    except VideoDecodeError:
        raise
    except Exception as err:
        raise VideoDecodeError(f"cannot decode {path}: {decoder_message(err)}") from None
