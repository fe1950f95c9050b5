"""Turn a resolved config into train/test datasets (the one place that wires data pieces)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from vidsparse.data.registry import get_dataset
from vidsparse.data.transforms import ClipTransform
from vidsparse.data.video_dataset import ClipSpec, VideoClipDataset
from vidsparse.errors import UserError


@dataclass
class DataBundle:
    train: VideoClipDataset
    test: VideoClipDataset
    classes: list[str]
    missing: int  # videos named in split files but absent on disk


def build_datasets(cfg, mean, std, test_views: tuple[int, int] | None = None) -> DataBundle:
    """``cfg`` is a RunConfig; ``test_views`` = (clips, crops) overrides the config's views."""
    data = cfg.data
    spec = get_dataset(data.dataset)
    train_list, test_list = spec.lists(data)
    for part, videos in (("train", train_list), ("test", test_list)):
        if not videos.items:
            raise UserError(f"the {part} split of {data.dataset} at {data.root or 'the default root'} is empty")
    missing = len(train_list.missing) + len(test_list.missing)
    if missing:
        print(f"warning: {missing} videos listed in the split files are missing on disk (skipped)", file=sys.stderr)
    clips, crops = test_views or (data.test_clips, data.test_crops)
    transform = ClipTransform(data.resize, data.crop, tuple(mean), tuple(std), data.hflip)
    train = VideoClipDataset(
        train_list.items, ClipSpec(data.clip_len, data.stride, single_frame=data.single_frame),
        transform, train=True, backend=data.backend, seed=cfg.train.seed,
    )
    test = VideoClipDataset(
        test_list.items, ClipSpec(data.clip_len, data.stride, clips, crops, data.single_frame),
        transform, train=False, backend=data.backend,
    )
    return DataBundle(train, test, train_list.classes, missing)


def parse_views(text: str | None) -> tuple[int, int] | None:
    """``10x3`` -> (10 clips, 3 crops)."""
    if not text:
        return None
    try:
        clips, crops = (int(v) for v in text.lower().split("x"))
        if clips < 1 or crops < 1:
            raise ValueError
    except ValueError:
        raise UserError(f"--views expects CLIPSxCROPS such as 10x3, got {text!r}") from None
    return clips, crops
