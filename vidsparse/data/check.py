"""What each file under a data root will do in training, evaluation and ``vidsparse corrupt``.

A video is read through the same decoder path as training, so the verdict is the one training
will reach: a *problem* (the file is skipped and counted) or usable, possibly with *notes* on the
documented adjustments applied to it (docs/input-policies.md). Images go through the same RGB
conversion as the image datasets.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from vidsparse.config import DataConfig
from vidsparse.data.build import missing_on_disk
from vidsparse.data.image.io import IMAGE_EXTENSIONS, SIXTEEN_BIT_MODES, ImageDecodeError, to_rgb8
from vidsparse.data.registry import get_dataset
from vidsparse.data.video import decord_reader
from vidsparse.data.video.decoding import DECODE_PROBLEMS, MAX_FRAME_PIXELS, VIDEO_EXTENSIONS, VideoDecodeError
from vidsparse.data.video.pyav_reader import TIMESTAMPED_FORMATS
from vidsparse.data.video.reader import HAVE_DECORD, inspect_video, read_clip, read_video
from vidsparse.errors import first_line

IMAGE_PROBLEMS: dict[str, str] = {
    "unreadable_image": "image Pillow cannot open or decode (truncated, empty, not an image)",
    "rejected_image": "image mode with no standard 8-bit mapping (float, 32-bit integer)",
}
PROBLEMS: dict[str, str] = {**DECODE_PROBLEMS, **IMAGE_PROBLEMS}

TINY_SIDE = 16  # frames narrower than this are mostly interpolation after resizing

NOTES: dict[str, str] = {
    "truncated": "fewer frames than its header declares: the frames before the cut are used",
    "short": "shorter than one clip: frame indices loop around",
    "oversize": f"more than {MAX_FRAME_PIXELS:,} pixels per frame: downscaled while decoding",
    "tiny": f"under {TINY_SIDE} px on a side: upsampled by the clip transform",
    "vfr": "variable frame rate: clips are sampled by frame index",
    "packed_b_frames": "DivX-packed B-frames: unpacked while reading ('vidsparse data remux' writes standard copies)",
    "no_index": "AVI without an index: read sequentially ('vidsparse data remux' writes an indexed copy)",
    "timestamps": "missing or repeated packet timestamps: decoded from the start for every read",
    "frame_count": "the header's frame count differs from the frames a decode yields: the decoded count is used",
    "pyav_only": "decord does not read it frame-exactly: read with PyAV",
    "sixteen_bit": "16-bit image: scaled to 8 bits by dropping the low byte",
    "converted": "grayscale, palette, alpha or CMYK image: converted to RGB",
    "exif_rotation": "EXIF orientation tag not applied (as torchvision's loader): the stored pixels are used",
    "named_as_other": "its content is another format than its name says (e.g. a PNG named .JPEG): read by content",
}

VERIFY_READS = 2  # random clips per video compared with the decode from the start
VERIFY_CLIP = 8  # frames per verification clip (stride 2)


@dataclass(frozen=True)
class FileReport:
    path: Path
    problem: str = ""  # a key of PROBLEMS: train/eval/corrupt skip the file and count it
    message: str = ""
    notes: tuple[str, ...] = ()  # keys of NOTES: the file is used with that adjustment
    reader: str = ""  # videos: the backend (and PyAV's way) that reads it, e.g. "pyav sequential"
    frames: int = 0  # videos: frames a decode from the start yields
    declared_frames: int = 0  # videos: frames the header declares (0: it does not say)
    inexact: str = ""  # videos: a verification read that differed from the decode from the start

    def describe(self) -> str:
        """One line: what was found in this file."""
        if self.problem:
            return f"{self.path}: {self.problem}"
        header = f"{self.declared_frames} in header" if self.declared_frames else "no count in header"
        facts = [self.reader, f"{self.frames} frames decoded ({header})"] if self.reader else []
        return f"{self.path}: " + "; ".join(facts + list(self.notes) + (["INEXACT"] if self.inexact else []))


def _verification_reads(path: Path, num_frames: int, reads: int) -> list[list[int]]:
    """Clips at random (but per-file reproducible) places, 8 frames at stride 2."""
    rng = random.Random(zlib.crc32(path.name.encode()))
    span = (VERIFY_CLIP - 1) * 2 + 1
    clips = []
    for _ in range(reads):
        start = rng.randrange(max(1, num_frames - span + 1))
        clips.append([min(start + 2 * i, num_frames - 1) for i in range(VERIFY_CLIP)])
    return clips


def _reader_used(video, backend: str, decord_refusal: str | None) -> str:
    if backend != "pyav" and HAVE_DECORD and decord_refusal is None:
        return "decord"
    return f"pyav {video.mode}"


def check_video(path: Path, clip_span: int, backend: str = "auto", verify_reads: int = VERIFY_READS) -> FileReport:
    """Read the first and last frames as training would; then PyAV's container view for notes and
    ``verify_reads`` random clips through the chosen backend against a decode from the start."""
    lengths: list[int] = []
    try:
        read_clip(path, lambda n: lengths.append(n) or [0, n - 1], backend)
    except VideoDecodeError as err:
        return FileReport(path, err.kind, str(err))
    notes = ["short"] if lengths[-1] < clip_span else []
    try:
        video = inspect_video(path)
    except VideoDecodeError:
        return FileReport(path, notes=tuple(notes), reader="decord")  # decord reads what PyAV cannot open
    decord_refusal = decord_reader.why_not_exact(video)
    reads = _verification_reads(path, video.num_frames, verify_reads)
    truth, decoded_count = video.decode_from_start(sorted({i for clip in reads for i in clip}))
    notes += [note for note, applies in (
        ("truncated", video.truncated),
        ("vfr", video.variable_rate),
        ("oversize", video.width * video.height > MAX_FRAME_PIXELS),
        ("tiny", min(video.width, video.height) < TINY_SIDE),
        ("packed_b_frames", video.index.packed_b_frames),
        ("no_index", is_avi_without_index(path)),
        ("timestamps", video.index.timestamps != "ok" and video.container_format in TIMESTAMPED_FORMATS),
        ("frame_count", bool(video.declared_frames) and video.declared_frames != decoded_count
         and not video.truncated),
        ("pyav_only", backend == "auto" and HAVE_DECORD and decord_refusal is not None),
    ) if applies]
    inexact = ""
    for clip in reads:
        got, _ = read_video(path, clip, backend)
        # a listed frame the decoder cannot produce (truncated tail) is read as its neighbour: not compared
        if any(i in truth and not np.array_equal(got[k].numpy(), truth[i]) for k, i in enumerate(clip)):
            inexact = f"frames {clip[0]}..{clip[-1]} differ from a decode from the start"
            break
    return FileReport(path, notes=tuple(notes), reader=_reader_used(video, backend, decord_refusal),
                      frames=decoded_count,
                      declared_frames=video.declared_frames, inexact=inexact)


def is_avi_without_index(path: Path) -> bool:
    """An AVI with neither a legacy ``idx1`` index nor an OpenDML ``indx`` one."""
    if path.suffix.lower() != ".avi":
        return False
    with path.open("rb") as fh:
        head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
            return False
        header_list = b""
        while chunk := fh.read(8):
            if len(chunk) < 8:
                break
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"idx1":
                return False
            if kind == b"LIST" and not header_list:
                header_list = fh.read(min(size, 1 << 16))
                fh.seek(size + (size & 1) - len(header_list), 1)
                continue
            fh.seek(size + (size & 1), 1)
        return b"indx" not in header_list


EXIF_ORIENTATION = 0x0112
FORMATS_OF_SUFFIX = {".jpeg": ("JPEG", "MPO"), ".jpg": ("JPEG", "MPO"), ".png": ("PNG",), ".bmp": ("BMP",),
                     ".webp": ("WEBP",)}  # what Pillow calls the content each file name promises


def check_image(path: Path, clip_span: int = 0, backend: str = "auto", verify_reads: int = 0) -> FileReport:
    """Decode to 8-bit RGB as the image datasets do (the clip arguments keep one checker signature)."""
    try:
        with Image.open(path) as image:
            mode, kind = image.mode, image.format or ""
            rotated = image.getexif().get(EXIF_ORIENTATION, 1) not in (0, 1)
            to_rgb8(image, path)
    except ImageDecodeError as err:
        return FileReport(path, "rejected_image", str(err))
    except Exception as err:
        return FileReport(path, "unreadable_image", f"{path}: {first_line(err)}")
    notes = [note for note, applies in (
        ("sixteen_bit", mode in SIXTEEN_BIT_MODES or mode == "I"),
        ("converted", mode != "RGB" and not (mode in SIXTEEN_BIT_MODES or mode == "I")),
        ("exif_rotation", rotated),
        ("named_as_other", bool(kind) and kind not in FORMATS_OF_SUFFIX.get(path.suffix.lower(), (kind,))),
    ) if applies]
    return FileReport(path, notes=tuple(notes))


# file suffix -> its checker
CHECKERS: dict[str, Callable[[Path, int, str, int], FileReport]] = {
    **{ext: check_image for ext in IMAGE_EXTENSIONS}, **{ext: check_video for ext in VIDEO_EXTENSIONS},
}


def data_files(root: Path) -> list[Path]:
    """Every video and image file under ``root``, outside hidden (dot) folders."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in CHECKERS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def needs_remux(path: Path) -> bool:
    """A video that a stream copy makes standard: packed B-frames unpacked, index written. Reads the
    packet index only (no decoding); a file PyAV cannot open is not remuxed."""
    try:
        return inspect_video(path).index.packed_b_frames or is_avi_without_index(path)
    except VideoDecodeError:
        return False


def check_file(path: Path, clip_span: int, backend: str = "auto", verify_reads: int = VERIFY_READS) -> FileReport:
    return CHECKERS[path.suffix.lower()](path, clip_span, backend, verify_reads)


def is_video(report: FileReport) -> bool:
    return report.path.suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class Tally:
    problems: Counter
    notes: Counter

    @classmethod
    def of(cls, reports: list[FileReport]) -> "Tally":
        return cls(Counter(r.problem for r in reports if r.problem),
                   Counter(note for r in reports for note in r.notes))


def split_missing(dataset: str, root: Path, split: int = 1) -> tuple[int, list[str]]:
    """Parse a dataset's split files (UserError for unknown classes or malformed lines) and return
    how many samples they name that the disk lacks, with their names when known."""
    train, test = get_dataset(dataset).lists(DataConfig(dataset=dataset, root=str(root), split=split))
    (train_count, train_names), (test_count, test_names) = missing_on_disk(train), missing_on_disk(test)
    return train_count + test_count, train_names + test_names
