"""Codec and transmission corruptions: re-encode, damage and decode a clip in memory (PyAV).

No FFmpeg binary, no temporary files: frames go through PyAV codec contexts (packet loss cuts
the raw H.264 byte stream into UDP-sized datagrams in memory). Encoders run single-threaded with fixed
settings so the same input always gives the same bytes; corrupted-data jobs parallelise over
videos instead.

Frame count. Every corruption except ``frame_rate`` keeps T. Decoded frames are matched to
their source index by timestamp; a frame the decoder cannot produce (damaged beyond
concealment) is replaced by the last good frame before it (the first good one after it at the
start), as a player freezes on the last picture. If nothing at all decodes, the clip is black.
``frame_rate`` returns round(T * fps_out / fps_in) frames: the clip really has a lower rate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from corruptions.registry import CAUSAL
from corruptions.tables_video import CodecLevel
from corruptions.x264_cpu import repeatable_options

DEFAULT_FPS = 30.0  # source frame rate assumed when the caller does not know it (Kinetics)
CARRIER_CRF = 18  # H.264 stream that bit errors / packet loss damage: visually near-lossless
CARRIER_GOP_SECONDS = 2.0  # key frame interval of that stream, as in web/streaming video
X265_DEFAULT_CRF = 28  # FFmpeg's libx265 default, also what (Y)'s frame_rate command encoded with
MPEG_MAX_QSCALE = 31  # MPEG-2/MPEG-4 quantiser ceiling (FFmpeg clips -q:v to it)
DATAGRAM = 1472  # bytes of raw H.264 per UDP datagram: FFmpeg udp:// default pkt_size (Y)
STREAMED_CRF, STREAMED_KEYINT = 23, 250  # libx264 defaults: how (Y) codes the stream it sends
MIN_SIDE = 16  # smallest frame side every encoder here accepts (libx265 rejects 8 px)


@dataclass(frozen=True)
class Encoding:
    """How to encode a clip: codec name, its private options and rate control."""

    codec: str
    options: dict[str, str] = field(default_factory=dict)
    qscale: int | None = None  # fixed quantiser (MPEG-2/4), as ``-q:v``
    bit_rate: int | None = None  # average bit rate with maxrate = bufsize = bit_rate
    min_width: int = 0  # narrower frames are edge-padded to this width for the encoder

    @property
    def decoder(self) -> str:
        return {"libx264": "h264", "libx265": "hevc"}.get(self.codec, self.codec)


def x264(crf: int | None = None, **options: str) -> Encoding:
    """libx264 with its defaults (preset medium, MB-tree on), as (Y)'s commands, on one thread.

    One thread, and the assembly capped at AVX2 on x86-64 (``corruptions.x264_cpu``: the AVX-512
    kernels do not repeat), make encodes bit-reproducible (frame threads make rate-control
    decisions depend on timing). MB-tree stays on, as in the reference: 1,070 encodes (6 frame
    sizes, CRF 18-51, repeated and in shuffled order, in 5 processes) gave identical bytes on a
    CPU without AVX-512; on one with it, only once the assembly was capped.
    """
    base = {"preset": "medium", "threads": "1"}
    if crf is not None:
        base["crf"] = str(crf)
    return Encoding("libx264", {**base, **options})


def carrier(fps: float) -> Encoding:
    """The "source" H.264 stream stood in for by in-memory coding (see bit_error, packet_loss, ABR)."""
    return x264(CARRIER_CRF, g=str(max(1, round(CARRIER_GOP_SECONDS * fps))))


def streamed(fps: float) -> Encoding:
    """The H.264 stream (Y)'s packet-loss simulator sends: libx264 defaults (CRF 23, keyint 250)."""
    return x264(STREAMED_CRF, g=str(STREAMED_KEYINT))


def x265(crf: int | None = None) -> Encoding:
    """libx265 on one thread. Known limit: at an average bit rate (``h265_abr``) it does not always
    repeat on an AVX-512 CPU (2 distinct results in 10 calls on one clip; neither ``asm=avx2``,
    ``pools=none`` nor ``lookahead-slices=0`` removes it); at a CRF it does."""
    options = {"preset": "medium", "x265-params": "log-level=none:pools=1:frame-threads=1"}
    if crf is not None:
        options["crf"] = str(crf)
    # libx265 corrupts the heap on frames 33-50 px wide (seen with 34..48 px): pad to 64.
    return Encoding("libx265", options, min_width=64)


# ---------------------------------------------------------------------------------------------
# frames <-> packets


def _to_frames(x: torch.Tensor) -> np.ndarray:
    """float [T, C, H, W] in [0, 1] -> uint8 [T, H', W', 3] padded to even size (yuv420p)."""
    frames = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return np.ascontiguousarray(frames)


def _from_frames(frames: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    height, width = like.shape[-2:]
    out = torch.from_numpy(np.ascontiguousarray(frames[:, :height, :width])).to(like.device)
    return out.permute(0, 3, 1, 2).to(like.dtype) / 255


def _open_encoder(enc: Encoding, height: int, width: int, fps: float):
    import av  # optional: PyAV (heavy); loaded by the codec corruptions alone

    ctx = av.CodecContext.create(enc.codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    rate = Fraction(fps).limit_denominator(1001)
    ctx.time_base, ctx.framerate = 1 / rate, rate
    if enc.qscale is not None:  # -q:v q for mpegvideo == qmin = qmax = q
        ctx.qmin = ctx.qmax = min(enc.qscale, MPEG_MAX_QSCALE)
    options = repeatable_options(enc.codec, enc.options)
    if enc.bit_rate is not None:
        ctx.bit_rate = enc.bit_rate
        options |= {"maxrate": str(enc.bit_rate), "bufsize": str(enc.bit_rate)}
    ctx.options = options
    return ctx


def _video_frames(frames: np.ndarray) -> Iterable:
    import av  # optional: PyAV (heavy); loaded by the codec corruptions alone

    for index, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index
        yield frame


def encode(frames: np.ndarray, enc: Encoding, fps: float) -> list:
    """uint8 [T, H, W, 3] -> the encoder's packets (Annex-B for H.264/H.265), pts = frame index."""
    ctx = _open_encoder(enc, frames.shape[1], frames.shape[2], fps)
    packets = [p for frame in _video_frames(frames) for p in ctx.encode(frame)]
    return packets + list(ctx.encode(None))


def _decoded_image(frame, height: int, width: int) -> np.ndarray | None:
    if frame.height != height or frame.width != width:
        return None  # a damaged header made the decoder guess another size: treat as lost
    return frame.to_ndarray(format="rgb24")


def decode(packets: Iterable, decoder: str, num_frames: int, height: int, width: int) -> np.ndarray:
    """Decode packets whose pts are frame indices; gaps are filled (see module docstring)."""
    import av  # optional: PyAV (heavy); loaded by the codec corruptions alone

    ctx = av.CodecContext.create(decoder, "r")
    ctx.thread_count = 1  # error concealment with frame threads is not reproducible
    images: dict[int, np.ndarray] = {}

    def take(frames) -> None:
        for frame in frames:
            image = _decoded_image(frame, height, width)
            if image is not None and frame.pts is not None and 0 <= frame.pts < num_frames:
                images.setdefault(int(frame.pts), image)

    for packet in list(packets) + [None]:
        try:
            take(ctx.decode(packet))
        except av.FFmpegError:
            continue  # undecodable packet: its frame is lost
    return fill_gaps(images, num_frames, height, width)


def fill_gaps(images: dict[int, np.ndarray], num_frames: int, height: int, width: int) -> np.ndarray:
    """Frames in index order; a missing frame repeats the last good one (the next at the start)."""
    if not images:
        return np.zeros((num_frames, height, width, 3), np.uint8)
    first = images[min(images)]
    out, last = [], first
    for index in range(num_frames):
        last = images.get(index, last)
        out.append(last)
    return np.stack(out)


def roundtrip(frames: np.ndarray, enc: Encoding, fps: float) -> np.ndarray:
    """Encode and decode; the result has the input's size (encoder padding is cropped off)."""
    width = frames.shape[2]
    if width < enc.min_width:
        frames = np.pad(frames, ((0, 0), (0, 0), (0, enc.min_width - width), (0, 0)), mode="edge")
    decoded = decode(encode(frames, enc, fps), enc.decoder, len(frames), frames.shape[1], frames.shape[2])
    return decoded[:, :, :width]


def _resized(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def _even(value: float) -> int:
    return max(MIN_SIDE, int(round(value / 2)) * 2)


# ---------------------------------------------------------------------------------------------
# compression


def _compressor(make: Callable[[object], Encoding]) -> Callable[..., torch.Tensor]:
    """A corruption that re-encodes the clip with ``make(param)`` and decodes it."""

    def corrupt(x, param, generator, *, coherent=False, fps: float = DEFAULT_FPS):
        return _from_frames(roundtrip(_to_frames(x), make(param), fps), x)

    return corrupt


def _mpeg(codec: str) -> Callable[..., torch.Tensor]:
    """MPEG-2 / MPEG-4 part 2 at a fixed quantiser, optionally coded at a reduced resolution."""

    def corrupt(x, level: CodecLevel, generator, *, coherent=False, fps: float = DEFAULT_FPS):
        height, width = x.shape[-2:]
        small = x if level.scale >= 1 else _resized(x, _even(height * level.scale), _even(width * level.scale))
        coded = _from_frames(roundtrip(_to_frames(small), Encoding(codec, qscale=level.qscale), fps), small)
        return coded if small is x else _resized(coded, height, width)

    corrupt.__name__ = codec
    return corrupt


def _average_bitrate(make: Callable[[], Encoding]) -> Callable[..., torch.Tensor]:
    """(Y)'s ABR: bit rate = source bit rate / d, maxrate = bufsize = that rate.

    The reference divides the bit rate of the downloaded source file. In memory there is no
    source file; the source stream is stood in for by the H.264 CRF 18 coding of the clip (the
    same stream bit_error and packet_loss damage), whose bit rate is measured.
    """

    def corrupt(x, divisor: int, generator, *, coherent=False, fps: float = DEFAULT_FPS):
        frames = _to_frames(x)
        source_bits = 8 * sum(p.size for p in encode(frames, carrier(fps), fps))
        rate = max(1_000, int(source_bits * fps / len(frames) / divisor))
        enc = dataclasses.replace(make(), bit_rate=rate)
        return _from_frames(roundtrip(frames, enc, fps), x)

    return corrupt


def frame_rate(x, target_fps: float, generator, *, coherent=False, fps: float = DEFAULT_FPS) -> torch.Tensor:
    """Convert to ``target_fps`` (nearest source frame per output time) and code with libx265.

    Returns round(T * target / fps) frames; a clip already at or below the target only gets
    re-encoded. (Y)'s command asked FFmpeg for this with an option that current FFmpeg
    rejects; this is the conversion it intended.
    """
    indices = frame_rate_indices(x.shape[0], fps, target_fps)
    return _from_frames(roundtrip(_to_frames(x[indices.to(x.device)]), x265(X265_DEFAULT_CRF), min(fps, target_fps)), x)


def frame_rate_indices(num_frames: int, fps: float, target_fps: float) -> torch.Tensor:
    """Source frame shown at each output time k / target_fps (FFmpeg ``fps`` filter rounding)."""
    if target_fps >= fps:
        return torch.arange(num_frames)
    count = max(1, round(num_frames * target_fps / fps))
    return (torch.arange(count, dtype=torch.float64) * fps / target_fps).round().long().clamp(max=num_frames - 1)


# ---------------------------------------------------------------------------------------------
# transmission errors on an H.264 stream

SLICE_NAL_TYPES = frozenset(range(1, 6))  # coded slice data; SPS/PPS/SEI/AUD stay intact


def _start_code_positions(buf: np.ndarray) -> np.ndarray:
    zero = buf[:-2] == 0
    return np.nonzero(zero & (buf[1:-1] == 0) & (buf[2:] == 1))[0]


def slice_payload_mask(data: bytes) -> np.ndarray:
    """True for bytes of an Annex-B packet that lie in slice NAL units, after the NAL header."""
    buf = np.frombuffer(data, np.uint8)
    mask = np.zeros(len(buf), bool)
    starts = _start_code_positions(buf) + 3
    ends = np.append(starts[1:] - 3, len(buf))
    for start, end in zip(starts.tolist(), ends.tolist()):
        while end > start and buf[end - 1] == 0:
            end -= 1
        if start < len(buf) and (buf[start] & 0x1F) in SLICE_NAL_TYPES:
            mask[start + 1 : end] = True
    return mask


def _bernoulli(count: int, probability: float, generator: torch.Generator) -> np.ndarray:
    return (torch.rand(count, generator=generator, device=generator.device) < probability).cpu().numpy()


def bit_error(x, one_in: int, generator, *, coherent=False, fps: float = DEFAULT_FPS) -> torch.Tensor:
    """Damage about one byte in ``one_in`` of the slice data of an H.264 stream, then decode.

    As FFmpeg's ``noise`` bitstream filter in (Y), but parameter sets and NAL headers are
    spared so the stream stays decodable; each hit byte gets a random non-empty set of its
    bits flipped.
    """
    import av  # optional: PyAV (heavy); loaded by the codec corruptions alone

    frames = _to_frames(x)
    packets = encode(frames, carrier(fps), fps)
    payloads = [bytes(p) for p in packets]
    masks = [slice_payload_mask(data) for data in payloads]
    hits = _bernoulli(sum(int(m.sum()) for m in masks), 1 / one_in, generator)
    flips = torch.randint(1, 256, (int(hits.sum()),), generator=generator, device=generator.device).cpu().numpy()
    damaged, used_hits, used_flips = [], 0, 0
    for data, mask, original in zip(payloads, masks, packets):
        buf = np.frombuffer(data, np.uint8).copy()
        positions = np.nonzero(mask)[0][hits[used_hits : used_hits + int(mask.sum())]]
        used_hits += int(mask.sum())
        buf[positions] ^= flips[used_flips : used_flips + len(positions)].astype(np.uint8)
        used_flips += len(positions)
        packet = av.Packet(buf.tobytes())
        packet.pts, packet.dts = original.pts, original.dts
        damaged.append(packet)
    return _from_frames(decode(damaged, "h264", len(frames), frames.shape[1], frames.shape[2]), x)


def _nal_spans(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, nal type) of every NAL unit of an Annex-B buffer; start = the NAL header byte."""
    buf = np.frombuffer(data, np.uint8)
    starts = (_start_code_positions(buf) + 3).tolist()
    ends = [s - 3 for s in starts[1:]] + [len(buf)]
    return [(s, e, int(buf[s]) & 0x1F) for s, e in zip(starts, ends) if s < len(buf)]


PARAMETER_SET_NAL_TYPES = frozenset({7, 8})  # SPS, PPS


def lost_datagrams(stream: bytes, percent: float, generator: torch.Generator, size: int = DATAGRAM) -> np.ndarray:
    """[ceil(len / size)] bool: which ``size``-byte datagrams of a raw H.264 stream are lost.

    Each is lost with probability ``percent`` %, except those carrying a byte of an SPS or PPS:
    without them nothing after decodes at all (the clip would have no frames to evaluate).
    """
    count = -(-len(stream) // size)
    spared = np.zeros(count, bool)
    for start, end, nal_type in _nal_spans(stream):
        if nal_type in PARAMETER_SET_NAL_TYPES:
            spared[(start - 3) // size : (end - 1) // size + 1] = True
    return _bernoulli(count, percent / 100, generator) & ~spared


def packet_loss(x, percent: float, generator, *, coherent=False, fps: float = DEFAULT_FPS) -> torch.Tensor:
    """Lose ``percent`` % of the UDP datagrams of the clip streamed as raw H.264, as (Y)'s simulator.

    The reference re-encodes with libx264's defaults (CRF 23, key frame interval 250) and
    streams the raw Annex-B byte stream over UDP through a lossy link; FFmpeg's ``udp://``
    output cuts it into datagrams of 1,472 bytes, so one loss removes 1,472 consecutive bytes
    wherever they fall (inside a picture, across two, through NAL headers). Here the stream
    is cut the same way and each datagram lost independently (parameter sets spared: see
    :func:`lost_datagrams`); the surviving bytes of each picture go to the decoder with that
    picture's timestamp (what a receiver's parser does by splitting at picture boundaries),
    and FFmpeg's H.264 decoder conceals what it can.
    """
    import av  # optional: PyAV (heavy); loaded by the codec corruptions alone

    frames = _to_frames(x)
    packets = encode(frames, streamed(fps), fps)
    payloads = [bytes(p) for p in packets]
    stream = b"".join(payloads)
    keep = np.repeat(~lost_datagrams(stream, percent, generator), DATAGRAM)[: len(stream)]
    received, offset = [], 0
    for data, original in zip(payloads, packets):
        survived = np.frombuffer(data, np.uint8)[keep[offset : offset + len(data)]]
        offset += len(data)
        if len(survived):
            packet = av.Packet(survived.tobytes())
            packet.pts, packet.dts = original.pts, original.dts
            received.append(packet)
    return _from_frames(decode(received, "h264", len(frames), frames.shape[1], frames.shape[2]), x)


FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {
    "mpeg2": _mpeg("mpeg2video"),
    "mpeg4": _mpeg("mpeg4"),
    "h264_crf": _compressor(x264),
    "h265_crf": _compressor(x265),
    "h264_abr": _average_bitrate(x264),
    "h265_abr": _average_bitrate(x265),
    "bit_error": bit_error,
    "packet_loss": packet_loss,
    "frame_rate": frame_rate,
}

MIN_SIZE: dict[str, int] = {key: MIN_SIDE for key in FUNCTIONS}
OUTPUT_FPS: dict[str, Callable[[float, float], float]] = {"frame_rate": lambda target, fps: min(float(target), fps)}

# MPEG-2/4 at a fixed quantiser, no B-frames: frame t is coded from frames 0..t only (tested), so
# a prefix of the clip gives the same first frames. (fill_gaps could fill a lost first frame from a
# later one, but an undamaged MPEG stream loses no frame.) The others reorder, look ahead or
# damage the whole stream.
SCOPE = {"mpeg2": CAUSAL, "mpeg4": CAUSAL}

HOST_ONLY = set(FUNCTIONS)  # PyAV encodes and decodes on the CPU
