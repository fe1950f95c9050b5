"""Severity tables (1..5) of the temporal, camera and codec corruptions, with their sources.

(S) Schiappa et al., CVPR 2023 (UCF101-P / HMDB51-P): the offline video generator gives the
    ``fixed`` values; ``reference`` holds the values of their on-the-fly evaluation code
    (``core/video_perturb.py``) where the two disagree.
(Y) Yi et al., NeurIPS 2021 D&B (Mini Kinetics-C): ``create_mini_kinetics_c.py`` and the
    evaluation list of ``benchmark_framework/test_corruption.py``.

Every entry is a :class:`Table`; ``reference`` is None when both variants use the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Table:
    values: tuple[Any, ...]  # one parameter per severity 1..5 (variant "fixed")
    source: str
    reference: tuple[Any, ...] | None = None  # variant "reference", where it differs

    def __post_init__(self) -> None:
        for name, row in (("values", self.values), ("reference", self.reference)):
            if row is not None and len(row) != 5:
                raise ValueError(f"a severity table needs 5 {name}, got {len(row)}")

    def row(self, variant: str) -> tuple[Any, ...]:
        return self.reference if variant == "reference" and self.reference is not None else self.values


@dataclass(frozen=True)
class CodecLevel:
    """One rung of an MPEG-2/MPEG-4 ladder: fixed quantiser, coded at ``scale`` x the frame size.

    The quantiser of these codecs saturates at 31, so the ``fixed`` ladder keeps adding damage
    past it by coding at a reduced resolution (as adaptive-streaming ladders do).
    """

    qscale: int
    scale: float = 1.0


@dataclass(frozen=True)
class FreezeCount:
    """Number of freeze anchors for a T-frame video: max(int(fraction * T), minimum)."""

    fraction: float
    minimum: int = 1

    def anchors(self, num_frames: int) -> int:
        return min(num_frames, max(int(self.fraction * num_frames), self.minimum))


# --- temporal (S) -----------------------------------------------------------------------------

SAMPLING = Table(
    (2, 4, 8, 16, 32),
    "(S) offline generator: keep every r-th frame and repeat it r times (same length); "
    "reference = on-the-fly code: keep every r-th frame without repeating (clip r times faster, shorter)",
)
REVERSE_SAMPLING = Table(
    (2, 4, 8, 16, 32),
    "(S) offline generator: keep every r-th frame, reverse their order, then repeat each r times "
    "(first T frames); reference = on-the-fly code: the kept frames reversed, not repeated",
)
JUMBLE = Table(
    (4, 8, 16, 32, 64),
    "(S) offline generator: shuffle frames inside consecutive segments of L frames",
    reference=(32, 16, 8, 4, 2),  # on-the-fly code: 64 // 2**severity (inverted order)
)
BOX_JUMBLE = Table(
    (2, 4, 8, 16, 32),
    "(S) offline generator: shuffle the order of consecutive segments of L frames",
    reference=(4, 9, 16, 25, 36),  # on-the-fly code: (severity + 1) ** 2
)
FREEZE = Table(
    (FreezeCount(0.4), FreezeCount(0.2), FreezeCount(0.1), FreezeCount(0.05, 2), FreezeCount(0.0, 1)),
    "(S) k random anchor frames, each held until the next: k = .4T .2T .1T max(.05T, 2) 1 "
    "(severity 5: 1 as the on-the-fly code; the offline generator uses max(.1T, 1))",
)

# --- camera (S) -------------------------------------------------------------------------------

TRANSLATE = Table(
    (7, 15, 23, 31, 39),
    "(S) offline generator: per-frame 224 px crop of the 256 px short side at a top-left offset "
    "(dx, dy), each uniform in [0, 8*severity) px, i.e. up to this max offset; reference = "
    "on-the-fly code: one offset per clip in [0, 8*severity) px",
    reference=(8, 16, 24, 32, 40),  # exclusive upper bound of the per-clip offset
)
ROTATE = Table(
    (7, 13, 19, 25, 31),
    "(S) on-the-fly code: per-frame random integer angle in [-(6s+1), 6s+1] degrees; the offline "
    "generator uses [-6s, 6s] (6 12 18 24 30), one degree less; we follow the on-the-fly code",
)
STATIC_ROTATE = Table((7.5, 15, 30, 45, 90), "(S) one rotation angle in degrees for the whole clip")

# --- codec (S): MPEG-2 / MPEG-4 part 2 re-encoding --------------------------------------------

MPEG2 = Table(
    (CodecLevel(20), CodecLevel(31), CodecLevel(31, 0.75), CodecLevel(31, 0.5), CodecLevel(31, 0.35)),
    "(S) 'codec1' mpeg2video with qscale 20 40 60 80 100; the quantiser saturates at 31, so the "
    "fixed ladder keeps 20 and 31 and then codes at 0.75/0.5/0.35 of the resolution",
    reference=tuple(CodecLevel(q) for q in (20, 40, 60, 80, 100)),
)
MPEG4 = Table(
    (CodecLevel(15), CodecLevel(30), CodecLevel(31, 0.75), CodecLevel(31, 0.5), CodecLevel(31, 0.35)),
    "(S) 'codec2' mpeg4 with qscale 15 30 45 60 75; saturates at 31 like mpeg2 (fixed ladder as mpeg2)",
    reference=tuple(CodecLevel(q) for q in (15, 30, 45, 60, 75)),
)

# --- codec (Y): H.264 / H.265, transmission errors, frame rate --------------------------------

H264_CRF = Table((23, 30, 37, 44, 51), "(Y) libx264 -crf c")
H265_CRF = Table((27, 33, 39, 45, 51), "(Y) libx265 -crf c")
H264_ABR = Table((2, 4, 8, 16, 32), "(Y) libx264 at bit rate = source bit rate / d (maxrate = bufsize = rate)")
H265_ABR = Table((2, 4, 8, 16, 32), "(Y) libx265 at bit rate = source bit rate / d (maxrate = bufsize = rate)")
BIT_ERROR = Table(
    (100_000, 50_000, 30_000, 20_000, 10_000),
    "(Y) FFmpeg 'noise' bitstream filter on the coded stream: about one byte in N damaged",
)
PACKET_LOSS = Table(
    (1, 2, 3, 4, 6),
    "(Y) L % of the 1,472-byte UDP datagrams of the raw H.264 stream (libx264 defaults: CRF 23, "
    "keyint 250) lost",
)
FRAME_RATE = Table((20, 16, 12, 9, 6), "(Y) re-encode (libx265) at a lower output frame rate, fps")

TABLES: dict[str, Table] = {
    "sampling": SAMPLING,
    "reverse_sampling": REVERSE_SAMPLING,
    "jumble": JUMBLE,
    "box_jumble": BOX_JUMBLE,
    "freeze": FREEZE,
    "translate": TRANSLATE,
    "rotate": ROTATE,
    "static_rotate": STATIC_ROTATE,
    "mpeg2": MPEG2,
    "mpeg4": MPEG4,
    "h264_crf": H264_CRF,
    "h265_crf": H265_CRF,
    "h264_abr": H264_ABR,
    "h265_abr": H265_ABR,
    "bit_error": BIT_ERROR,
    "packet_loss": PACKET_LOSS,
    "frame_rate": FRAME_RATE,
}
