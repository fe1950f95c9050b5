"""CIFAR-C written by ``vidsparse corrupt`` equals on-the-fly corruption; ``vidsparse data download``."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import corruptions
from vidsparse.cli import main
from vidsparse.data.corrupted import read_npy_cell
from vidsparse.data.image import readers as image_data
from vidsparse.errors import UserError

CORRUPTIONS, SEVERITIES = ["gaussian_noise", "contrast"], [1, 5]


def _batch(rng: np.random.Generator, n: int) -> dict:
    """A CIFAR python batch of ``n`` random images whose labels follow the mean red level,
    so a model can learn something from one epoch."""
    data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
    labels = [int(row[:1024].mean() * 10 // 256) for row in data]
    return {b"data": data, b"labels": labels}


def write_cifar10(folder: Path, train_per_batch: int = 4, test: int = 20) -> dict:
    """The cifar-10-batches-py files, tiny; returns the test batch."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for k in range(1, 6):
        (folder / f"data_batch_{k}").write_bytes(pickle.dumps(_batch(rng, train_per_batch)))
    test_batch = _batch(rng, test)
    (folder / "test_batch").write_bytes(pickle.dumps(test_batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{k}".encode() for k in range(10)]}))
    return test_batch


@pytest.fixture(scope="module")
def cifar_run(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(data root, trained run, test batch): resnet18_cifar (tiny) trained one epoch via the CLI."""
    tmp = tmp_path_factory.mktemp("cifar")
    root = tmp / "data"
    test_batch = write_cifar10(root / "cifar-10-batches-py")
    run = tmp / "run"
    assert main(["train", "--dataset", "cifar10", "--data-root", str(root), "--model", "resnet18_cifar",
                 "--set", "model.size=tiny", "--epochs", "1", "--batch-size", "10", "--workers", "0",
                 "--out", str(run)]) == 0
    return root, run, test_batch


def test_corrupt_output_equals_on_the_fly_and_evaluates_the_same(cifar_run, tmp_path: Path):
    root, run, test_batch = cifar_run
    out = tmp_path / "CIFAR-10-C"
    assert main(["corrupt", "--dataset", "cifar10", "--data-root", str(root), "--out", str(out),
                 "--corruptions", ",".join(CORRUPTIONS), "--severities", "1,5"]) == 0

    # every row is corruptions.apply on that image alone, with the on-the-fly evaluation's id and preset
    clean = test_batch[b"data"].reshape(-1, 3, 32, 32)
    for name in CORRUPTIONS:
        stacked = np.load(out / f"{name}.npy")
        assert stacked.shape == (2 * 20, 32, 32, 3)
        for severity in SEVERITIES:
            images, labels = read_npy_cell(out, name, severity)
            assert labels.tolist() == test_batch[b"labels"]
            expected = np.stack([
                corruptions.apply(torch.from_numpy(image)[None], name, severity, seed=0, preset="cifar-c",
                                  video_id=str(i))[0].permute(1, 2, 0).numpy()
                for i, image in enumerate(clean)
            ])
            assert np.array_equal(images, expected), (name, severity)
        assert read_npy_cell(out, name, 3) is None  # not generated: absent, not mis-sliced

    fly_run = tmp_path / "run-fly"
    shutil.copytree(run, fly_run)
    (fly_run / "eval.json").unlink(missing_ok=True)
    common = ["--corruptions", ",".join(CORRUPTIONS), "--severities", "1,5"]
    assert main(["eval", "--run", str(run), "--corrupted-root", str(out), *common]) == 0
    assert main(["eval", "--run", str(fly_run), *common]) == 0
    stored = json.loads((run / "eval.json").read_text())["corruptions"]
    fly = json.loads((fly_run / "eval.json").read_text())["corruptions"]
    for name in CORRUPTIONS:
        for severity in ("1", "5"):
            assert stored[name][severity]["source"] == str(out)
            assert fly[name][severity]["source"] == "on-the-fly"
            assert stored[name][severity]["n"] == fly[name][severity]["n"] == 20
            assert stored[name][severity]["top1"] == fly[name][severity]["top1"], (name, severity)


# ---------------------------------------------------------------------------------------------
# vidsparse data download


def _cifar_archive(path: Path, members: dict[str, bytes]) -> str:
    """A tar.gz holding ``members``; returns its md5."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, str]:
    source = tmp_path / "source"
    write_cifar10(source / "cifar-10-batches-py", train_per_batch=2, test=3)
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()}
    path = tmp_path / "cifar-10-python.tar.gz"
    return path, _cifar_archive(path, members)


def test_download_verifies_extracts_and_trains_readable(archive, tmp_path: Path, monkeypatch, capsys):
    path, md5 = archive
    layout = image_data.CIFAR["cifar10"]
    monkeypatch.setitem(image_data.CIFAR, "cifar10", dataclasses.replace(layout, url=path.as_uri(), md5=md5))
    out = tmp_path / "data"
    assert main(["data", "download", "cifar10", "--out", str(out)]) == 0
    assert "cifar10 ready at" in capsys.readouterr().out
    train, test = image_data.read_cifar(type("Cfg", (), {"dataset": "cifar10", "root": str(out)}))
    assert len(train) == 10 and len(test) == 3
    assert sorted(p.name for p in out.iterdir()) == ["cifar-10-batches-py"]  # no archive or temporary left
    path.unlink()
    assert main(["data", "download", "cifar10", "--out", str(out)]) == 0  # already there: not fetched again


def test_download_md5_mismatch_leaves_nothing(archive, tmp_path: Path, capsys):
    path, md5 = archive
    out = tmp_path / "data"
    with pytest.raises(UserError, match=f"has md5 {md5}, expected c58f30108f718f92721af3b95e74349a"):
        image_data.download_cifar("cifar10", out, url=path.as_uri(), progress=False)
    assert list(out.iterdir()) == []
    # through the CLI: a one-line error and exit code 2
    assert main(["data", "download", "cifar10", "--out", str(out), "--url", path.as_uri()]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot download cifar10" in err and "\n" not in err
    assert f"manually and extract it in {out}" in err


def test_download_without_network_or_with_unsafe_archive_is_one_line(tmp_path: Path):
    with pytest.raises(UserError, match=r"cannot download cifar100 from file:.*nowhere.*extract it in") as err:
        image_data.download_cifar("cifar100", tmp_path / "data", url=(tmp_path / "nowhere.tar.gz").as_uri(),
                                  progress=False)
    assert "\n" not in str(err.value)
    evil = tmp_path / "evil.tar.gz"
    md5 = _cifar_archive(evil, {"cifar-10-batches-py/test_batch": b"x", "cifar-10-batches-py/../../escape": b"x"})
    with pytest.raises(UserError, match="unsafe archive member"):
        image_data.download_cifar("cifar10", tmp_path / "data", url=evil.as_uri(), md5=md5, progress=False)
    assert not (tmp_path / "escape").exists() and list((tmp_path / "data").iterdir()) == []
    with pytest.raises(UserError, match="downloadable dataset"):
        image_data.download_cifar("cifar11", tmp_path / "data")
