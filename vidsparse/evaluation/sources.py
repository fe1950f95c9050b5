"""Sample sources of the on-the-fly engine: decode one sample, turn (corrupted) frames into model input.

A ``Source`` hides whether a sample is a video (decoded whole: temporal corruptions act on the
full video before clips are sampled) or an image (a T = 1 video), so one engine
(``vidsparse.evaluation.engine.predict_cells``) serves both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from vidsparse.data.build import TestSet
from vidsparse.data.image.datasets import ImageSplit, ImageTransform, Prepare
from vidsparse.data.image.io import jpeg_roundtrip
from vidsparse.data.video.dataset import ClipSpec, test_views
from vidsparse.data.video.transforms import ClipTransform
from vidsparse.data.video.reader import read_video


@dataclass
class Sample:
    frames: torch.Tensor  # uint8 [T, C, H, W] (an image is T = 1)
    fps: float | None
    sample_id: str  # seeds the corruption: must equal what 'vidsparse corrupt' uses


@dataclass(frozen=True)
class FramePlan:
    """The frames a sample's test views read, and where each view clip finds its frames among them."""

    frames: list[int]  # sorted, unique indices into the decoded sample
    clips: list[list[int]]  # each clip's frames as positions in ``frames``

    @classmethod
    def of(cls, clips: list[list[int]]) -> FramePlan:
        frames = sorted({i for clip in clips for i in clip})
        position = {f: p for p, f in enumerate(frames)}
        return cls(frames, [[position[i] for i in clip] for clip in clips])


class Source(Protocol):
    def __len__(self) -> int: ...
    def label(self, index: int) -> int: ...
    def sample_id(self, index: int) -> str: ...
    def load(self, index: int) -> Sample: ...
    def plan(self, num_frames: int) -> FramePlan | None: ...  # None: the views read every frame
    def views(self, frames: torch.Tensor, plan: FramePlan | None = None) -> torch.Tensor: ...
    def corrupted_views(self, frames: torch.Tensor, plan: FramePlan | None = None) -> torch.Tensor: ...


def video_id(path: Path, root: Path) -> str:
    """A video's id for seeding: its path relative to the dataset root, '/'-separated."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def clip_views(frames: torch.Tensor, spec: ClipSpec, transform: ClipTransform) -> torch.Tensor:
    """uint8 [T, C, H, W] -> test views [clips * crops, C, T', H', W'].

    The same clip positions and crops as VideoClipDataset's test mode, taken from frames
    already in memory.
    """
    return test_views(frames.permute(0, 2, 3, 1), spec.test_clips(frames.shape[0]), spec, transform)


@dataclass
class VideoSource:
    """Test videos decoded whole (temporal corruptions need every frame)."""

    items: list[tuple[Path, int]]
    root: Path
    spec: ClipSpec
    transform: ClipTransform
    backend: str = "auto"

    def __len__(self) -> int:
        return len(self.items)

    def label(self, index: int) -> int:
        return self.items[index][1]

    def sample_id(self, index: int) -> str:
        return video_id(self.items[index][0], self.root)

    def load(self, index: int) -> Sample:
        frames, fps = read_video(self.items[index][0], backend=self.backend)
        return Sample(frames.permute(0, 3, 1, 2).contiguous(), fps, self.sample_id(index))

    def plan(self, num_frames: int) -> FramePlan:
        return FramePlan.of(self.spec.test_clips(num_frames))

    def views(self, frames: torch.Tensor, plan: FramePlan | None = None) -> torch.Tensor:
        """Test views of the whole video, or of ``plan.frames`` only (``frames`` holds just those)."""
        if plan is None:
            return clip_views(frames, self.spec, self.transform)
        return test_views(frames.permute(0, 2, 3, 1), plan.clips, self.spec, self.transform)

    corrupted_views = views  # corrupted videos take the same views


def video_source(test: TestSet) -> VideoSource:
    ds = test.dataset
    return VideoSource(ds.items, test.root, ds.spec, ds.transform, ds.backend)


@dataclass
class ImageSource:
    """Test images for on-the-fly corruption, read one at a time from their split (in memory or
    files), one seed per image.

    ``prepare`` is the dataset's test preprocessing (ImageNet: ``ResizeCrop(256, 224)``), applied
    before corrupting, as the published -C sets were generated; the ids seeding the corruptions
    are the split's (``<class>/<file name>`` for class folders, as in a ``vidsparse corrupt``
    copy). With ``jpeg_quality`` every corrupted image is saved as JPEG and decoded again before
    the model sees it, as the published ImageNet-C / Tiny-ImageNet-C files are (clean images are
    not: they are the originals).
    """

    split: ImageSplit
    transform: ImageTransform
    prepare: Prepare | None = None
    jpeg_quality: int = 0  # 0: the corrupted pixels as they are

    def __len__(self) -> int:
        return len(self.split)

    def label(self, index: int) -> int:
        return self.split.label(index)

    def sample_id(self, index: int) -> str:
        return self.split.sample_id(index)

    def load(self, index: int) -> Sample:
        image = self.split.read(index)
        if self.prepare is not None:
            image = self.prepare(image)
        return Sample(image[None], None, self.sample_id(index))

    def plan(self, num_frames: int) -> None:
        """An image is its only frame: nothing to leave out."""
        return None

    def views(self, frames: torch.Tensor, plan: None = None) -> torch.Tensor:
        return self.transform(frames[0])

    def corrupted_views(self, frames: torch.Tensor, plan: None = None) -> torch.Tensor:
        image = jpeg_roundtrip(frames[0], self.jpeg_quality) if self.jpeg_quality else frames[0]
        return self.transform(image)
