"""ImageNet-style class folders of real photographs (mixed sizes, CMYK/grayscale JPEGs, a PNG named
.JPEG, a 16-bit PNG, an EXIF-rotated JPEG, a truncated JPEG): decoding, the ImageNet-C protocol, and
train + every kind of evaluation through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import corruptions
from image_formats import ODDITIES, crop, photo, photo_tree, reference_rgb, truncated_jpeg, write_oddity
from vidsparse.cli import main
from vidsparse.data.image.datasets import FileImages, ResizeCrop
from vidsparse.data.image.io import PUBLISHED_JPEG_QUALITY, jpeg_roundtrip, read_rgb
from vidsparse.data.image.readers import class_tree


def test_odd_files_decode_as_torchvision_loads_them(tmp_path: Path):
    picture = crop(photo("astronaut"), 3, 60, 44)
    for name in ODDITIES:
        path = write_oddity(tmp_path, name, picture)
        assert np.array_equal(read_rgb(path).permute(1, 2, 0).numpy(), reference_rgb(path)), name
    assert read_rgb(tmp_path / "exif_rotated.JPEG").shape == (3, 44, 60)  # stored pixels: EXIF not applied
    assert read_rgb(tmp_path / "deep16.png").max() > 200  # 16-bit keeps its range (not clipped to white)
    cmyk = read_rgb(tmp_path / "cmyk.JPEG").float()
    assert (cmyk - torch.from_numpy(np.array(picture)).permute(2, 0, 1)).abs().mean() < 12  # a real colour photo
    with pytest.raises(OSError):
        read_rgb(truncated_jpeg(tmp_path / "cut.JPEG", picture))


def test_resize_crop_is_torchvisions_resize_256_centre_crop_224():
    transforms = pytest.importorskip("torchvision.transforms")
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    image = photo("coffee")
    for k, (w, h) in enumerate([(500, 375), (333, 500), (257, 300), (640, 427), (224, 224), (80, 61)]):
        picture = crop(image, k, w, h)
        ours = ResizeCrop(256, 224)(torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1))
        assert ours.shape == (3, 224, 224)
        assert np.array_equal(ours.permute(1, 2, 0).numpy(), np.asarray(reference(picture))), (w, h)


def test_jpeg_roundtrip_is_a_published_style_file(tmp_path: Path):
    image = torch.from_numpy(np.asarray(crop(photo("chelsea"), 1, 90, 70)).copy()).permute(2, 0, 1)
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / "x.JPEG", quality=PUBLISHED_JPEG_QUALITY)
    assert torch.equal(jpeg_roundtrip(image), read_rgb(tmp_path / "x.JPEG"))
    assert not torch.equal(jpeg_roundtrip(image), image)


def _eval(run: Path, *extra: str) -> dict:
    assert main(["eval", "--run", str(run), "--workers", "0", *extra]) == 0
    return json.loads((run / "eval.json").read_text())


def test_imagenet_folders_train_and_evaluate_end_to_end(tmp_path: Path, capsys):
    root = tmp_path / "imagenet"
    photo_tree(root / "train", per_class=4, truncated=True)
    readable = photo_tree(root / "val", per_class=3, start=100, truncated=True)
    assert len({Image.open(p).size for p, _ in class_tree(root / "val")[1]}) > 5  # mixed sizes
    run = tmp_path / "run"
    assert main(["train", "--dataset", "imagenet", "--data-root", str(root), "--model", "resnet18_cifar",
                 "--set", "model.width=8", "--epochs", "1", "--batch-size", "8", "--workers", "0",
                 "--out", str(run)]) == 0
    row = next(csv.DictReader((run / "metrics.csv").open()))
    assert int(row["skipped"]) == 2  # the truncated JPEG of train and of val; nothing else

    first = _eval(run, "--fourier", "--radii", "0,8", "--attack", "fgsm", "--eps", "2/255")
    clean = first["clean"]  # the validation images stream from disk: no common size needed
    assert clean["n"] == readable == 14 and clean["skipped"] == 1
    assert first["fourier"]["n"] == readable and len(first["adversarial"]["fgsm"]) == 1
    assert clean["top1"] == pytest.approx(float(row["test_top1"]), abs=1e-6)  # same pixels as training's test set

    cells = ["--corruptions", "gaussian_noise,brightness", "--severities", "3"]
    fly = _eval(run, *cells)["corruptions"]
    for name in ("gaussian_noise", "brightness"):
        assert fly[name]["3"]["n"] == readable and 0 <= fly[name]["3"]["top1"] <= 1

    c_root = tmp_path / "imagenet-c"
    assert main(["corrupt", "--dataset", "imagenet", "--data-root", str(root), "--out", str(c_root), *cells]) == 0
    written = sorted(c_root.glob("gaussian_noise/3/*/*.JPEG"))
    assert len(written) == readable and {Image.open(p).size for p in written} == {(224, 224)}
    assert main(["eval", "--run", str(run), "--published-jpeg", "--corrupted-root", str(c_root)]) == 2
    (run / "eval.json").unlink()  # results with the same settings would be reused
    stored = _eval(run, "--corrupted-root", str(c_root), *cells)
    assert stored["clean"]["n"] == readable
    published = _eval(run, "--published-jpeg", *cells)  # stored under views "1x1 jpeg85": evaluated anew
    for name in ("gaussian_noise", "brightness"):
        cell = stored["corruptions"][name]["3"]
        assert cell["n"] == readable and cell["skipped"] == 0
        assert published["corruptions"][name]["3"]["top1"] == cell["top1"]
        assert published["corruptions"][name]["3"]["views"] == "1x1 jpeg85"

    # on the fly with the JPEG save reproduces every file of 'vidsparse corrupt' bit for bit
    val = FileImages(*reversed(class_tree(root / "val")))
    for index in range(len(val)):
        if val.items[index][0].name == "truncated.JPEG":
            continue
        prepared = ResizeCrop(256, 224)(val.read(index))
        made = corruptions.apply(prepared[None], "gaussian_noise", 3, seed=0, preset="imagenet-c",
                                 video_id=val.sample_id(index))[0]
        label, name = val.sample_id(index).split("/")
        file = c_root / "gaussian_noise" / "3" / label / (Path(name).stem + ".JPEG")
        assert torch.equal(jpeg_roundtrip(made), read_rgb(file)), name
