"""A map-style dataset of clips from a list of ``(path, label)`` videos.

Undecodable videos do not stop training: ``__getitem__`` returns None for them and
``collate_skipping`` drops them and counts them, so the loop can report the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import Dataset, default_collate

from vidsparse.data.video.clips import random_clip, uniform_clips
from vidsparse.data.video.transforms import ClipTransform
from vidsparse.data.video.decoding import VideoDecodeError
from vidsparse.data.video.reader import read_clip


@dataclass(frozen=True)
class ClipSpec:
    clip_len: int
    stride: int
    num_clips: int = 1  # test-time clips per video
    num_crops: int = 1  # test-time crops per clip
    single_frame: bool = False  # repeat one frame: the temporal-information control

    def frames_for(self, indices: list[int]) -> list[int]:
        """A clip's frame indices; the single-frame control repeats its middle frame."""
        return [indices[len(indices) // 2]] * len(indices) if self.single_frame else indices

    def test_clips(self, num_frames: int) -> list[list[int]]:
        """The evenly spaced test clips of a video with ``num_frames`` frames."""
        return [self.frames_for(c) for c in uniform_clips(num_frames, self.clip_len, self.stride, self.num_clips)]


def test_views(frames: torch.Tensor, clips: list[list[int]], spec: ClipSpec, transform: ClipTransform) -> torch.Tensor:
    """uint8 frames [T, H, W, C] and the test clips' indices into them -> [clips * crops, C, T', H', W']."""
    return torch.cat([transform.test(frames[clip], spec.num_crops) for clip in clips])


class VideoClipDataset(Dataset):
    def __init__(
        self,
        items: Sequence[tuple[Path, int]],
        spec: ClipSpec,
        transform: ClipTransform,
        train: bool,
        backend: str = "auto",
        seed: int = 0,
    ) -> None:
        self.items = list(items)
        self.spec = spec
        self.transform = transform
        self.train = train
        self.backend = backend
        self.epoch_seed = seed

    def set_epoch_seed(self, seed: int) -> None:
        """Random clips and crops derive from (seed, index): identical with any worker count."""
        self.epoch_seed = seed

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.items]

    def __getitem__(self, index: int):
        path, label = self.items[index]
        spec = self.spec
        try:
            if self.train:
                gen = sample_generator(self.epoch_seed, index)
                frames, _ = read_clip(
                    path, lambda n: spec.frames_for(random_clip(n, spec.clip_len, spec.stride, gen)), self.backend
                )
                return self.transform.train(frames, gen), label, index
            # Only the test clips' frames are read, concatenated clip after clip.
            frames, _ = read_clip(path, lambda n: [i for clip in spec.test_clips(n) for i in clip], self.backend)
            length = spec.clip_len
            read_order = [list(range(k * length, (k + 1) * length)) for k in range(spec.num_clips)]
            return test_views(frames, read_order, spec, self.transform), label, index
        except VideoDecodeError:
            return None


def sample_generator(epoch_seed: int, index: int) -> torch.Generator:
    """The generator for one sample's augmentation: a function of (epoch seed, index) only, so a
    run is identical with any number of loader workers and after a resume."""
    return torch.Generator().manual_seed((epoch_seed * 1_000_003 + index) % (2**63))


def collate_skipping(batch: list):
    """Collate the decodable samples; the last element counts the skipped ones."""
    good = [b for b in batch if b is not None]
    skipped = len(batch) - len(good)
    if not good:
        return None, None, None, skipped
    clips, labels, indices = default_collate(good)
    return clips, labels, indices, skipped
