"""Sample sources of the on-the-fly engine: decode one sample, turn (corrupted) frames into model input.

A ``Source`` hides whether a sample is a video (decoded whole: temporal corruptions act on the
full video before clips are sampled) or an image (a T = 1 video), so one engine
(``vidsparse.evaluation.engine.predict_cells``) serves both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from vidsparse.data.build import TestSet
from vidsparse.data.image.datasets import ImageTransform
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


def video_source(test: TestSet) -> VideoSource:
    ds = test.dataset
    return VideoSource(ds.items, test.root, ds.spec, ds.transform, ds.backend)


@dataclass
class ImageSource:
    """Images in memory for on-the-fly corruption, one seed per image.

    ``ids`` seed the corruptions (default: the image's index as text); give the ids a
    generated set used, e.g. ``<class>/<file name>`` for ImageNet-C style folders.
    """

    images: np.ndarray
    labels: np.ndarray
    transform: ImageTransform
    ids: Sequence[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def label(self, index: int) -> int:
        return int(self.labels[index])

    def sample_id(self, index: int) -> str:
        return self.ids[index] if self.ids is not None else str(index)

    def load(self, index: int):
        image = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1)  # a copy: memmaps are read-only
        return Sample(image[None], None, self.sample_id(index))

    def plan(self, num_frames: int) -> None:
        """An image is its only frame: nothing to leave out."""
        return None

    def views(self, frames: torch.Tensor, plan: None = None) -> torch.Tensor:
        return self.transform(frames[0])
