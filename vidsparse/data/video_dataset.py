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

from vidsparse.data.clips import random_clip, uniform_clips
from vidsparse.data.transforms import ClipTransform
from vidsparse.data.video_io import VideoDecodeError, read_clip


@dataclass(frozen=True)
class ClipSpec:
    clip_len: int
    stride: int
    num_clips: int = 1  # test-time clips per video
    num_crops: int = 1  # test-time crops per clip
    single_frame: bool = False  # repeat one frame: the temporal-information control


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

    def _single(self, indices: list[int]) -> list[int]:
        return [indices[len(indices) // 2]] * len(indices) if self.spec.single_frame else indices

    def __getitem__(self, index: int):
        path, label = self.items[index]
        spec = self.spec
        try:
            if self.train:
                gen = torch.Generator().manual_seed((self.epoch_seed * 1_000_003 + index) % (2**63))
                frames, _ = read_clip(
                    path, lambda n: self._single(random_clip(n, spec.clip_len, spec.stride, gen)), self.backend
                )
                return self.transform.train(frames, gen), label, index
            clips = []

            def select(n: int) -> list[int]:
                clips.extend(self._single(c) for c in uniform_clips(n, spec.clip_len, spec.stride, spec.num_clips))
                return [i for c in clips for i in c]

            frames, _ = read_clip(path, select, self.backend)
            views = [
                self.transform.test(frames[k * spec.clip_len : (k + 1) * spec.clip_len], spec.num_crops)
                for k in range(spec.num_clips)
            ]
            return torch.cat(views), label, index
        except VideoDecodeError:
            return None


def collate_skipping(batch: list):
    """Collate the decodable samples; the last element counts the skipped ones."""
    good = [b for b in batch if b is not None]
    skipped = len(batch) - len(good)
    if not good:
        return None, None, None, skipped
    clips, labels, indices = default_collate(good)
    return clips, labels, indices, skipped
