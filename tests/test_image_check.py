"""``vidsparse data check`` on every image layout the toolkit reads: CIFAR pickles, CIFAR-C .npy
stacks, Tiny-ImageNet annotations, -C folder trees, and odd image files of real photographs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

import corruptions
from image_formats import ODDITIES, crop, photo, truncated_jpeg, write_oddity
from vidsparse.cli import main


def _check(root: Path, capsys, *extra: str) -> tuple[int, str]:
    code = main(["data", "check", "--data-root", str(root), *extra])
    return code, capsys.readouterr().out


def _cifar10(root: Path, n: int = 6) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{k}".encode() for k in range(10)]}))
    return folder


def test_cifar_batches(tmp_path: Path, capsys):
    folder = _cifar10(tmp_path)
    code, out = _check(tmp_path, capsys)
    assert code == 0, out
    assert "cifar10 python batches" in out and "data_batch_3: 6 images 32x32x3" in out
    assert "5 training batches: 30 images; test: 6 images" in out and "batches.meta: 10 class names" in out
    batch = pickle.loads((folder / "test_batch").read_bytes())
    batch[b"labels"] = batch[b"labels"][:-1] + [12]
    (folder / "test_batch").write_bytes(pickle.dumps(batch))
    (folder / "data_batch_2").unlink()
    code, out = _check(tmp_path, capsys)
    assert code == 1
    assert "PROBLEM data_batch_2: missing" in out and "PROBLEM test_batch: labels 0..12 outside 0..9" in out


def _cifar_c(root: Path, n: int = 4) -> Path:
    root.mkdir()
    rng = np.random.default_rng(1)
    for name in corruptions.names("cifar-c"):
        np.save(root / f"{name}.npy", rng.integers(0, 256, (5 * n, 32, 32, 3), dtype=np.uint8))
    np.save(root / "labels.npy", np.tile(np.arange(n, dtype=np.uint8), 5))
    return root


def test_cifar_c_stacks(tmp_path: Path, capsys):
    root = _cifar_c(tmp_path / "CIFAR-10-C")
    code, out = _check(root, capsys)
    assert code == 0, out
    assert "19 corruption files, 19 of them uint8 [20, 32, 32, 3]" in out and "4 labels tiled 5 times" in out
    np.save(root / "fog.npy", np.zeros((19, 32, 32, 3), np.uint8))  # one row short
    (root / "frost.npy").unlink()
    stack = np.load(root / "snow.npy")
    stack[4:8] = stack[:4]  # severity 1 stacked twice
    np.save(root / "snow.npy", stack)
    np.save(root / "labels.npy", np.arange(20) % 4 * (np.arange(20) < 10))
    code, out = _check(root, capsys)
    assert code == 1
    assert "PROBLEM fog.npy: 19 rows, expected 5 severities x 4 = 20" in out
    assert "PROBLEM corruption files missing: frost.npy" in out
    assert "PROBLEM snow.npy: severity blocks 1=2 hold identical images" in out
    assert "PROBLEM labels.npy: its 20 labels are not the same 4 repeated for 5 severities" in out


def test_tinyimagenet_annotations(tmp_path: Path, capsys):
    root = tmp_path / "tiny-imagenet-200"
    image = photo("chelsea")
    (root / "val" / "images").mkdir(parents=True)
    root.joinpath("wnids.txt").write_text("n01\nn02\n")
    for wnid in ("n01", "n02"):
        (root / "train" / wnid / "images").mkdir(parents=True)
        for k in range(2):
            crop(image, k, 64, 64).save(root / "train" / wnid / "images" / f"{wnid}_{k}.JPEG")
    for k in range(3):
        crop(image, 10 + k, 64, 64).save(root / "val" / "images" / f"val_{k}.JPEG")
    (root / "val" / "val_annotations.txt").write_text(
        "val_0.JPEG\tn01\t0\t0\t63\t63\nval_1.JPEG\tn02\t0\t0\t63\t63\nval_7.JPEG\tn01\t0\t0\t63\t63\n"
        "val_1.JPEG\tn03\t0\t0\t63\t63\n")
    code, out = _check(root, capsys)
    assert code == 1
    assert "2 classes in wnids.txt; train: 4 images (2..2 per class)" in out
    assert "val: 3 images annotated, 3 in val/images" in out
    assert "PROBLEM val: 1 annotated with a class not in wnids.txt: val_1.JPEG (n03)" in out
    assert "PROBLEM val: 1 annotated but absent from val/images: val_7.JPEG" in out
    assert "PROBLEM val: 1 in val/images but not annotated: val_2.JPEG" in out
    assert "PROBLEM val: 1 annotated more than once: val_1.JPEG" in out


def test_c_folder_tree_grid(tmp_path: Path, capsys):
    root = tmp_path / "ImageNet-C"
    image = photo("astronaut")
    for corruption in ("gaussian_noise", "fog"):
        for severity in (1, 2):
            for label in ("n01", "n02"):
                folder = root / corruption / str(severity) / label
                folder.mkdir(parents=True)
                for k in range(2):
                    crop(image, k, 32, 32).save(folder / f"{k}.JPEG")
    code, out = _check(root, capsys)
    assert code == 0, out
    assert "2 corruptions x severities 1, 2 x 2 classes" in out and "4 images per corruption and severity" in out
    (root / "fog" / "2" / "n01" / "1.JPEG").unlink()
    for path in (root / "gaussian_noise" / "2").rglob("*"):
        if path.is_file():
            path.unlink()
    (root / "gaussian_noise" / "2" / "n01").rmdir()
    (root / "gaussian_noise" / "2" / "n02").rmdir()
    (root / "gaussian_noise" / "2").rmdir()
    code, out = _check(root, capsys)
    assert code == 1
    assert "PROBLEM 1 corruption/severity folders missing: gaussian_noise/2" in out
    assert "fog/2/n01 (1 of 2)" in out


def test_odd_image_files_are_noted_and_the_truncated_one_skipped(tmp_path: Path, capsys):
    picture = crop(photo("coffee"), 2, 50, 40)
    for name in ODDITIES:
        write_oddity(tmp_path, name, picture)
    truncated_jpeg(tmp_path / "truncated.JPEG", picture)
    code, out = _check(tmp_path, capsys, "--verbose")
    assert code == 1
    assert "UNDECODABLE [unreadable_image]" in out and "truncated.JPEG" in out
    for note, name in (("exif_rotation", "exif_rotated.JPEG"), ("named_as_other", "png_named.JPEG"),
                       ("sixteen_bit", "deep16.png"), ("converted", "cmyk.JPEG"), ("converted", "gray.JPEG")):
        assert f"NOTE [{note}] {tmp_path / name}" in out
    assert "1  skipped  unreadable_image" in out


def test_no_dataset_at_all_is_one_line(tmp_path: Path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 2
    assert "no video or image files, CIFAR batches or -C .npy stacks under" in capsys.readouterr().err


def test_a_cifar10_c_written_by_corrupt_checks_clean_until_a_file_loses_a_row(tmp_path: Path, capsys):
    _cifar10(tmp_path / "cifar")
    out = tmp_path / "CIFAR-10-C"
    assert main(["corrupt", "--dataset", "cifar10", "--data-root", str(tmp_path / "cifar"), "--out", str(out),
                 "--corruptions", "gaussian_noise,brightness", "--severities", "1-5"]) == 0
    code, report = _check(out, capsys)
    assert code == 0, report  # the two files it was asked for (manifest.jsonl), not the 19 published
    assert "2 corruption files, 2 of them uint8 [30, 32, 32, 3]" in report and "6 labels tiled 5 times" in report
    np.save(out / "brightness.npy", np.load(out / "brightness.npy")[:-1])
    code, report = _check(out, capsys)
    assert code == 1 and "PROBLEM brightness.npy: 29 rows, expected 5 severities x 6 = 30" in report
