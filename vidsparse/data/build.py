"""Turn a resolved config into train/test datasets (the one place that wires data pieces)."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch.utils.data import Dataset

from vidsparse.data.image.datasets import AUGMENTATIONS, ImageDataset, padded_crop
from vidsparse.data.registry import get_dataset
from vidsparse.data.subsets import apply_subset
from vidsparse.data.video.dataset import ClipSpec, VideoClipDataset
from vidsparse.data.video.synthetic import default_root
from vidsparse.data.video.transforms import ClipTransform
from vidsparse.errors import UserError
from vidsparse.models import get_model_entry


@dataclass
class DataBundle:
    train: Dataset  # VideoClipDataset or ImageDataset: both yield (tensor, label, index) or None
    test: Dataset
    classes: list[str]
    missing: int  # videos (images) named in split files (annotations) but absent on disk


def build_datasets(cfg, mean, std, test_views: tuple[int, int] | None = None) -> DataBundle:
    """``cfg`` is a RunConfig; ``test_views`` = (clips, crops) overrides the config's views."""
    spec = get_dataset(cfg.data.dataset)
    bundle = BUILDERS[spec.kind](cfg, spec, mean, std, test_views)
    bundle.train = apply_subset(bundle.train, cfg.data, cfg.train.seed)  # the test set is never subset
    return bundle


def build_scoring_dataset(cfg, mean, std) -> Dataset:
    """Every training sample (no subset) in the deterministic test view: one centre clip and crop.

    Hardness scores must not depend on augmentation draws, so they use the test transform.
    """
    spec = get_dataset(cfg.data.dataset)
    return SCORING_BUILDERS[spec.kind](cfg, spec, mean, std)


def missing_on_disk(split) -> tuple[int, list[str]]:
    """How many samples a split names but the disk lacks, and their names when known (videos)."""
    missing = getattr(split, "missing", 0)
    return (missing, []) if isinstance(missing, int) else (len(missing), list(missing))


def describe_missing(count: int, names: list[str], what: str) -> str:
    """'3 videos listed in the split files are missing on disk (a.avi, b.avi, ...)'."""
    examples = f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" if names else ""
    return f"{count} {what} are missing on disk{examples}"


def _check_splits(data, train, test, what: str) -> int:
    """Refuse an empty split; warn about (and return the count of) samples absent on disk."""
    for part, split in (("train", train), ("test", test)):
        if not len(split):
            count, names = missing_on_disk(split)
            why = f" ({describe_missing(count, names, what)})" if count else ""
            raise UserError(f"the {part} split of {data.dataset} at {data.root or 'the default root'} is empty{why}")
    (train_count, train_names), (test_count, test_names) = missing_on_disk(train), missing_on_disk(test)
    if train_count + test_count:
        print(f"warning: {describe_missing(train_count + test_count, train_names + test_names, what)}; skipped",
              file=sys.stderr)
    return train_count + test_count


def _clip_transform(data, mean, std) -> ClipTransform:
    return ClipTransform(data.resize, data.crop, tuple(mean), tuple(std), data.hflip)


def _build_video(cfg, spec, mean, std, test_views: tuple[int, int] | None) -> DataBundle:
    data = cfg.data
    train_list, test_list = spec.lists(data)
    missing = _check_splits(data, train_list, test_list, "videos listed in the split files")
    transform = _clip_transform(data, mean, std)
    train = VideoClipDataset(
        train_list.items, ClipSpec(data.clip_len, data.stride, single_frame=data.single_frame),
        transform, train=True, backend=data.backend, seed=cfg.train.seed,
    )
    return DataBundle(train, _video_test(data, test_list.items, transform, test_views), train_list.classes, missing)


def _video_test(data, items, transform: ClipTransform, views: tuple[int, int] | None) -> VideoClipDataset:
    """The test videos in the test views: ``views`` = (clips, crops), None = the config's."""
    clips, crops = views or (data.test_clips, data.test_crops)
    spec = ClipSpec(data.clip_len, data.stride, clips, crops, data.single_frame)
    return VideoClipDataset(items, spec, transform, train=False, backend=data.backend)


def _scoring_video(cfg, spec, mean, std) -> Dataset:
    data = cfg.data
    train_list, _ = spec.lists(data)
    transform = _clip_transform(data, mean, std)
    return VideoClipDataset(train_list.items, ClipSpec(data.clip_len, data.stride, 1, 1, data.single_frame),
                            transform, train=False, backend=data.backend)


def _image_size(cfg) -> int:
    return get_model_entry(cfg.model.name).input.for_size(cfg.model.size).size


def _scoring_image(cfg, spec, mean, std) -> Dataset:
    train_split, _ = spec.lists(cfg.data)
    return ImageDataset(train_split, _image_size(cfg), mean, std, train=False, prepare=spec.test_prepare)


def _build_image(cfg, spec, mean, std, test_views: tuple[int, int] | None) -> DataBundle:
    """Images at the model's own input size, so training, testing and ``vidsparse eval`` agree."""
    data = cfg.data
    train_split, test_split = spec.lists(data)
    missing = _check_splits(data, train_split, test_split, "images named in the annotations")
    size = _image_size(cfg)
    crop = AUGMENTATIONS.get(data.dataset, padded_crop(0))
    train = ImageDataset(train_split, size, mean, std, train=True, crop=crop, hflip=data.hflip, seed=cfg.train.seed)
    test = ImageDataset(test_split, size, mean, std, train=False, prepare=spec.test_prepare)
    return DataBundle(train, test, train_split.classes, missing)


@dataclass
class TestSet:
    """The test split of a video run alone (a generated -P copy may hold no training videos)."""

    dataset: VideoClipDataset
    classes: list[str]
    root: Path  # video ids (which seed corruptions) are relative to it
    missing: int  # listed in the split files, absent on disk


def dataset_root(data_cfg) -> Path:
    """The folder video ids are relative to (the synthetic set lives in a cache by default)."""
    return Path(data_cfg.root) if data_cfg.root else default_root(data_cfg.synthetic)


def build_test_set(cfg, mean, std, views: tuple[int, int] | None, root: Path | None = None) -> TestSet:
    """The run's test split; of ``root`` instead of the configured root when given (a copy written
    by ``vidsparse corrupt``, read with the reader of the dataset's ``layout``)."""
    data = cfg.data
    if root is not None:
        data = dataclasses.replace(data, root=str(root), dataset=get_dataset(data.dataset).layout or data.dataset)
    _, test_list = get_dataset(data.dataset).lists(data)
    dataset = _video_test(data, test_list.items, _clip_transform(data, mean, std), views)
    return TestSet(dataset, test_list.classes, dataset_root(data), len(test_list.missing))


BUILDERS: dict[str, Callable[..., DataBundle]] = {"video": _build_video, "image": _build_image}
SCORING_BUILDERS: dict[str, Callable[..., Dataset]] = {"video": _scoring_video, "image": _scoring_image}


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
