"""What each file under a data root will do in training, evaluation and ``vidsparse corrupt``.

A video is read through the same decoder path as training, so the verdict is the one training
will reach: a *problem* (the file is skipped and counted) or usable, possibly with *notes* on the
documented adjustments applied to it (docs/input-policies.md). Images go through the same RGB
conversion as the image datasets.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vidsparse.data.image.io import SIXTEEN_BIT_MODES, ImageDecodeError, to_rgb8
from vidsparse.data.video_io import (
    DECODE_PROBLEMS, HAVE_DECORD, MAX_FRAME_PIXELS, VIDEO_EXTENSIONS, VideoDecodeError, inspect_video, read_clip,
)
from vidsparse.data.image.io import IMAGE_EXTENSIONS

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
    "pyav_only": "decord cannot read it correctly: read with PyAV (slower)",
    "open_gop": "open-GOP B-frames: decord may seek to wrong frames; prefer --set data.backend=pyav",
    "sixteen_bit": "16-bit image: scaled to 8 bits by dropping the low byte",
    "converted": "grayscale, palette, alpha or CMYK image: converted to RGB",
}


@dataclass(frozen=True)
class FileReport:
    path: Path
    problem: str = ""  # a key of PROBLEMS: train/eval/corrupt skip the file and count it
    message: str = ""
    notes: tuple[str, ...] = ()  # keys of NOTES: the file is used with that adjustment


def check_video(path: Path, clip_span: int, backend: str = "auto") -> FileReport:
    """Read the first and last frames as training would; then PyAV's container view for notes."""
    lengths: list[int] = []
    try:
        read_clip(path, lambda n: lengths.append(n) or [0, n - 1], backend)
    except VideoDecodeError as err:
        return FileReport(path, err.kind, str(err))
    notes = ["short"] if lengths[-1] < clip_span else []
    video = None
    try:
        video = inspect_video(path)
        notes += [note for note, applies in (
            ("truncated", video.truncated),
            ("vfr", video.variable_rate),
            ("oversize", video.width * video.height > MAX_FRAME_PIXELS),
            ("tiny", min(video.width, video.height) < TINY_SIDE),
        ) if applies]
    except VideoDecodeError:
        pass  # decord reads what PyAV cannot open: nothing more to learn
    if backend != "pyav" and HAVE_DECORD:
        try:
            read_clip(path, lambda n: [0], "decord")
            if video is not None and video.open_gop:
                notes.append("open_gop")
        except VideoDecodeError:
            notes.append("pyav_only")
    return FileReport(path, notes=tuple(notes))


def check_image(path: Path, clip_span: int = 0, backend: str = "auto") -> FileReport:
    """Decode to 8-bit RGB as the image datasets do (the clip arguments keep one checker signature)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            to_rgb8(image, path)
    except ImageDecodeError as err:
        return FileReport(path, "rejected_image", str(err))
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return FileReport(path, "unreadable_image", f"{path}: {reason}")
    if mode in SIXTEEN_BIT_MODES or mode == "I":
        return FileReport(path, notes=("sixteen_bit",))
    return FileReport(path, notes=() if mode == "RGB" else ("converted",))


# file suffix -> its checker
CHECKERS: dict[str, Callable[[Path, int, str], FileReport]] = {
    **{ext: check_image for ext in IMAGE_EXTENSIONS}, **{ext: check_video for ext in VIDEO_EXTENSIONS},
}


def data_files(root: Path) -> list[Path]:
    """Every video and image file under ``root``, outside hidden (dot) folders."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in CHECKERS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def check_file(path: Path, clip_span: int, backend: str = "auto") -> FileReport:
    return CHECKERS[path.suffix.lower()](path, clip_span, backend)


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
    from vidsparse.config import DataConfig
    from vidsparse.data.build import missing_on_disk
    from vidsparse.data.registry import get_dataset

    train, test = get_dataset(dataset).lists(DataConfig(dataset=dataset, root=str(root), split=split))
    (train_count, train_names), (test_count, test_names) = missing_on_disk(train), missing_on_disk(test)
    return train_count + test_count, train_names + test_names
