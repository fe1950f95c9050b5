"""Image datasets: CIFAR pickles, Tiny-ImageNet and ImageNet trees, digits; one CLI run on digits."""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from vidsparse.cli import main
from vidsparse.data.image.datasets import ImageDataset, ImageTransform, padded_crop, resized_crop
from vidsparse.data.image.io import read_rgb
from vidsparse.data.image.readers import read_cifar, read_digits, read_imagenet, read_tinyimagenet
from vidsparse.errors import UserError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _cfg(dataset: str, root: Path | str = "") -> SimpleNamespace:
    return SimpleNamespace(dataset=dataset, root=str(root))


def _cifar_rows(labels: list[int]) -> np.ndarray:
    """Rows in CIFAR's channel-planar layout; image k has red = k, green = 100 at pixel (0, 1)."""
    rows = np.zeros((len(labels), 3 * 32 * 32), dtype=np.uint8)
    for k in range(len(labels)):
        rows[k, :1024] = k
        rows[k, 1024 + 1] = 100
    return rows


def _dump(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


@pytest.fixture
def cifar10_root(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    for b in range(1, 6):
        labels = [b % 10, (b + 3) % 10]
        _dump(folder / f"data_batch_{b}", {b"data": _cifar_rows(labels), b"labels": labels})
    _dump(folder / "test_batch", {b"data": _cifar_rows([9, 0, 4]), b"labels": [9, 0, 4]})
    _dump(folder / "batches.meta", {b"label_names": [f"c{k}".encode() for k in range(10)]})
    return tmp_path


def test_cifar10_batches_labels_and_pixels(cifar10_root: Path):
    train, test = read_cifar(_cfg("cifar10", cifar10_root))
    same = read_cifar(_cfg("cifar10", cifar10_root / "cifar-10-batches-py"))[0]  # the batches folder itself
    assert len(train) == 10 and len(test) == 3 and len(same) == 10
    assert train.classes == [f"c{k}" for k in range(10)]
    assert train.labels.tolist() == [1, 4, 2, 5, 3, 6, 4, 7, 5, 8] and test.labels.tolist() == [9, 0, 4]
    image = test.read(1)  # uint8 [3, 32, 32]: planar rows become channels
    assert image.shape == (3, 32, 32) and int(image[0, 5, 5]) == 1 and int(image[1, 0, 1]) == 100
    assert int(image[1, 0, 0]) == 0 and int(image[2].max()) == 0
    x, label, index = ImageDataset(test, 32, MEAN, STD, train=False)[1]
    assert label == 0 and index == 1 and x.shape == (3, 32, 32)
    assert x[1, 0, 1].item() == pytest.approx((100 / 255 - 0.5) / 0.25, abs=1e-5)


def test_cifar100_uses_fine_labels(tmp_path: Path):
    folder = tmp_path / "cifar-100-python"
    _dump(folder / "train", {b"data": _cifar_rows([0, 1, 99, 42]), b"fine_labels": [0, 1, 99, 42],
                             b"coarse_labels": [0, 0, 19, 7]})
    _dump(folder / "test", {b"data": _cifar_rows([5, 6]), b"fine_labels": [5, 6], b"coarse_labels": [1, 1]})
    _dump(folder / "meta", {b"fine_label_names": [f"f{k}".encode() for k in range(100)],
                            b"coarse_label_names": [f"g{k}".encode() for k in range(20)]})
    train, test = read_cifar(_cfg("cifar100", tmp_path))
    assert len(train.classes) == 100 and train.classes[99] == "f99"
    assert train.labels.tolist() == [0, 1, 99, 42] and test.labels.tolist() == [5, 6]


def test_cifar_bad_input_is_one_line(cifar10_root: Path, tmp_path: Path):
    (cifar10_root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(UserError, match="data_batch_3 not found .*cifar-10-batches-py") as err:
        read_cifar(_cfg("cifar10", cifar10_root))
    assert "\n" not in str(err.value)
    (cifar10_root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="cannot read CIFAR batch"):
        read_cifar(_cfg("cifar10", cifar10_root))
    with pytest.raises(UserError, match="needs --data-root"):
        read_cifar(_cfg("cifar10"))
    with pytest.raises(UserError, match="data root not found"):
        read_cifar(_cfg("cifar100", tmp_path / "nowhere"))


def _save(path: Path, color: tuple[int, int, int], mode: str = "RGB", size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), color).convert(mode).save(path)
    return path


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    root = tmp_path / "tiny-imagenet-200"
    root.mkdir()
    (root / "wnids.txt").write_text("n02\nn01\n")  # file order defines the labels
    for k in range(3):
        _save(root / "train" / "n01" / "images" / f"n01_{k}.JPEG", (200, 0, 0))
        _save(root / "train" / "n02" / "images" / f"n02_{k}.JPEG", (0, 0, 200))
    _save(root / "train" / "n02" / "images" / "gray.JPEG", (90, 90, 90), mode="L")
    _save(root / "val" / "images" / "val_0.JPEG", (200, 0, 0))
    _save(root / "val" / "images" / "val_1.JPEG", (0, 0, 200))
    (root / "val" / "images" / "val_2.JPEG").write_bytes(b"truncated")
    (root / "val" / "val_annotations.txt").write_text(
        "val_0.JPEG\tn01\t0\t0\t16\t16\nval_1.JPEG\tn02\t0\t0\t16\t16\n"
        "val_2.JPEG\tn02\t0\t0\t16\t16\nval_9.JPEG\tn01\t0\t0\t16\t16\n")
    return root


def test_tinyimagenet_layout_labels_and_skips(tiny_root: Path):
    train, test = read_tinyimagenet(_cfg("tinyimagenet", tiny_root))
    assert train.classes == ["n02", "n01"] and len(train) == 7
    assert sorted(train.label(i) for i in range(len(train))) == [0, 0, 0, 0, 1, 1, 1]
    assert [test.label(i) for i in range(len(test))] == [1, 0, 0] and test.missing == 1  # val_9 absent
    gray = next(i for i, (p, _) in enumerate(train.items) if p.name == "gray.JPEG")
    assert train.read(gray).shape == (3, 16, 16)  # grayscale converted to RGB
    ds = ImageDataset(test, 8, MEAN, STD, train=False)
    x, label, _ = ds[0]
    assert x.shape == (3, 8, 8) and label == 1 and x[0].mean() > x[2].mean()  # red image
    assert ds[2] is None  # unreadable: skipped and counted by collate_skipping
    # the ids that seed on-the-fly corruptions are those of a Tiny-ImageNet-C style copy
    assert [test.sample_id(i) for i in range(3)] == ["n01/val_0.JPEG", "n02/val_1.JPEG", "n02/val_2.JPEG"]


def test_tinyimagenet_missing_annotations(tiny_root: Path):
    (tiny_root / "val" / "val_annotations.txt").unlink()
    with pytest.raises(UserError, match="val_annotations.txt not found; expected wnids.txt"):
        read_tinyimagenet(_cfg("tinyimagenet", tiny_root))


def test_imagenet_tree_and_odd_modes(tmp_path: Path):
    for part in ("train", "val"):
        _save(tmp_path / part / "cat" / "a.JPEG", (10, 200, 10))
        _save(tmp_path / part / "dog" / "b.png", (10, 10, 200), mode="RGBA")
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    deep = np.full((6, 6), 65535, dtype=np.uint16)
    deep[0, 0] = 0
    Image.fromarray(deep).save(tmp_path / "train" / "cat" / "deep.png")  # 16-bit grayscale
    train, test = read_imagenet(_cfg("imagenet", tmp_path))
    assert train.classes == ["cat", "dog"] == test.classes
    assert [(p.name, label) for p, label in train.items] == [("a.JPEG", 0), ("deep.png", 0), ("b.png", 1)]
    image = read_rgb(tmp_path / "train" / "cat" / "deep.png")
    assert image.dtype == torch.uint8 and image.shape == (3, 6, 6)
    assert image[:, 1, 1].tolist() == [255, 255, 255] and image[:, 0, 0].tolist() == [0, 0, 0]
    assert read_rgb(tmp_path / "val" / "dog" / "b.png").shape == (3, 16, 16)  # RGBA -> RGB
    (tmp_path / "val" / "bird").mkdir()
    with pytest.raises(UserError, match="class folders differ"):
        read_imagenet(_cfg("imagenet", tmp_path))
    with pytest.raises(UserError, match="train/train not found; expected train/<class>"):
        read_imagenet(_cfg("imagenet", tmp_path / "train"))


def test_digits_split_is_stratified_and_fixed():
    train, test = read_digits(None)
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert train.images.shape[1:] == (32, 32, 3) and train.images.dtype == np.uint8
    for label in range(10):
        n_test, n_all = (test.labels == label).sum(), (train.labels == label).sum() + (test.labels == label).sum()
        assert abs(n_test - 0.2 * n_all) <= 1
    pixels = {train.images[i].tobytes() for i in range(len(train))}
    assert sum(test.images[i].tobytes() in pixels for i in range(len(test))) < 5  # only true duplicates
    assert np.array_equal(read_digits(None)[1].labels, test.labels)


def test_augmentation_depends_only_on_seed_and_index():
    train, _ = read_digits(None)
    ds = ImageDataset(train, 32, MEAN, STD, train=True, crop=padded_crop(4), hflip=True, seed=3)
    a, b = ds[7][0], ds[7][0]
    assert torch.equal(a, b) and a.shape == (3, 32, 32)
    ds.set_epoch_seed(4)
    assert not torch.equal(a, ds[7][0])
    gen = torch.Generator().manual_seed(0)
    big = torch.rand(3, 40, 60)
    assert resized_crop()(big, 24, gen).shape == (3, 24, 24)
    shifted = padded_crop(2)(torch.ones(3, 8, 8), 8, torch.Generator().manual_seed(1))
    assert shifted.shape == (3, 8, 8) and 0 < shifted.mean() <= 1  # zero padding shows at most 2 px


def test_digits_cli_train_then_eval(tmp_path: Path, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--model", "resnet18_cifar", "--method", "rigl", "--sparsity", "0.5",
            "--epochs", "1", "--batch-size", "32", "--out", str(run), "--set", "model.size=tiny",
            "--set", "model.width=8", "--set", "optim.warmup_epochs=0", "--set", "optim.lr=0.05"]
    assert main(args) == 0
    row = next(csv.DictReader((run / "metrics.csv").open()))
    assert float(row["density"]) == pytest.approx(0.5, abs=0.01)
    assert float(row["test_top1"]) > 0.2  # 10 classes: chance is 0.1
    assert main(["eval", "--run", str(run)]) == 0
    clean = json.loads((run / "eval.json").read_text())["clean"]
    assert clean["n"] == 359 and clean["top1"] == pytest.approx(float(row["test_top1"]), abs=1e-4)
    capsys.readouterr()
    assert main(["train", "--dataset", "digits", "--model", "r3d_small", "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot train on image dataset 'digits'" in err and "\n" not in err


def test_cifar100_cli_trains_resnet34_cifar_with_rigl(tmp_path: Path):
    folder = tmp_path / "data" / "cifar-100-python"
    labels = [k % 4 for k in range(16)]
    _dump(folder / "train", {b"data": _cifar_rows(labels), b"fine_labels": labels})
    _dump(folder / "test", {b"data": _cifar_rows(labels[:8]), b"fine_labels": labels[:8]})
    _dump(folder / "meta", {b"fine_label_names": [f"f{k}".encode() for k in range(100)]})
    run = tmp_path / "run"
    assert main(["train", "--dataset", "cifar100", "--data-root", str(folder), "--model", "resnet34_cifar",
                 "--method", "rigl", "--sparsity", "0.4", "--epochs", "1", "--batch-size", "8", "--workers", "0",
                 "--out", str(run), "--set", "model.size=tiny", "--set", "sparse.update_every=1"]) == 0
    row = next(csv.DictReader((run / "metrics.csv").open()))
    assert float(row["density"]) == pytest.approx(0.6, abs=0.01) and int(row["skipped"]) == 0
    assert len(torch.load(run / "last.pt", weights_only=False)["classes"]) == 100


def test_tinyimagenet_cli_counts_unreadable_images(tiny_root: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "tinyimagenet", "--data-root", str(tiny_root), "--model", "resnet18",
                 "--epochs", "1", "--batch-size", "4", "--workers", "0", "--out", str(run),
                 "--set", "model.size=tiny"]) == 0
    assert "1 images named in the annotations are missing" in capsys.readouterr().err
    row = next(csv.DictReader((run / "metrics.csv").open()))
    assert int(row["skipped"]) == 1  # the truncated val_2.JPEG
    assert main(["eval", "--run", str(run)]) == 0
    assert json.loads((run / "eval.json").read_text())["clean"]["n"] == 2


def test_normalize_reuses_its_statistics_and_matches_the_formula():
    transform = ImageTransform(32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    for image in images:
        x = image.float().div(255)
        expected = (x - torch.tensor(transform.mean).view(3, 1, 1)) / torch.tensor(transform.std).view(3, 1, 1)
        assert torch.equal(transform(image), expected)
    out = transform(images[0])
    out.add_(1.0)  # a caller changing the result in place does not change the next image's statistics
    assert torch.equal(transform(images[1]), (images[1].float().div(255) - torch.tensor(transform.mean).view(3, 1, 1))
                       / torch.tensor(transform.std).view(3, 1, 1))
