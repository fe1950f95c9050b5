"""Corruption evaluation: on the fly vs generated sets, resume, reuse, bad input, images, Fourier."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from torch import nn

import corruptions
from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.config import load_run_config
from vidsparse.data import build as data_build
from vidsparse.errors import UserError
from vidsparse.evaluation import engine, sources
from vidsparse.evaluation import video as video_eval
from vidsparse.evaluation.accuracy import evaluate
from vidsparse.evaluation.cells import CLEAN_CELL, Cell, CorruptionOptions
from vidsparse.evaluation.context import load_run_model
from vidsparse.evaluation.engine import predict_cells
from vidsparse.evaluation.fourier import default_radii, filter_frequencies
from vidsparse.reporting import plots


@pytest.fixture(scope="module")
def trained_run(synthetic_root: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "dense"
    assert main(tiny_train_args(synthetic_root, run, "--epochs", "2")) == 0
    return run


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy, so tests can write eval.json without affecting each other."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    return run


def _loaded(run: Path):
    from vidsparse.models import get_model_entry

    cfg, model, state = load_run_model(run)
    spec = get_model_entry(cfg.model.name).input
    return cfg, model, state, data_build.build_test_set(cfg, spec.mean, spec.std, (2, 2))


# ----------------------------------------------------------------------------------------------
# on-the-fly engine


@pytest.mark.parametrize("num_frames, single_frame", [(48, False), (5, False), (1, False), (48, True)])
def test_views_from_the_planned_frames_equal_views_from_the_whole_video(num_frames, single_frame):
    """The evaluator corrupts only plan.frames; views built from those equal views of the full video."""
    from vidsparse.data.video.transforms import ClipTransform
    from vidsparse.data.video.dataset import ClipSpec

    spec = ClipSpec(8, 2, 3, 2, single_frame)  # 3 clips x 2 crops; a 5- or 1-frame video repeats frames
    source = sources.VideoSource([], Path("."), spec, ClipTransform(24, 20, (0.5,) * 3, (0.25,) * 3, False))
    video = torch.randint(0, 256, (num_frames, 3, 24, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    plan = source.plan(num_frames)
    assert plan.frames == sorted({i for c in spec.test_clips(num_frames) for i in c})
    if single_frame:
        assert len(plan.frames) == 3  # each clip repeats its middle frame
    assert torch.equal(source.views(video[plan.frames], plan), source.views(video))


def test_in_memory_views_equal_the_dataset_reader(trained_run: Path):
    """Clean on-the-fly views are bit-identical to what VideoClipDataset reads."""
    _, _, _, test = _loaded(trained_run)
    source = sources.video_source(test)
    for i in (0, 5):
        assert torch.equal(source.views(source.load(i).frames), test.dataset[i][0])
    assert source.sample_id(0).endswith(".mp4") and "/" in source.sample_id(0)


def test_each_video_decoded_once_and_interrupted_eval_resumes(trained_run: Path, tmp_path: Path, monkeypatch):
    cfg, model, state, test = _loaded(trained_run)
    source = sources.video_source(test)
    cells = [CLEAN_CELL, Cell("jumble", 2), Cell("gaussian_noise", 4)]
    options = CorruptionOptions("ucf101-p", seed=3)
    calls = []
    real_read = sources.read_video
    monkeypatch.setattr(sources, "read_video", lambda *a, **k: calls.append(a[0]) or real_read(*a, **k))
    args = (source, cells, options, state["classes"], torch.device("cpu"))
    straight = predict_cells(model, *args, batch_size=4, progress=False)
    assert len(calls) == len(test.dataset) == 8  # one decode per video for all three cells

    class Interrupting(nn.Module):  # stops after two batches, as Ctrl-C would
        def __init__(self):
            super().__init__()
            self.inner, self.calls = model, 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 2:
                raise KeyboardInterrupt
            return self.inner(x)

    partial = tmp_path / "partial.pt"
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        predict_cells(Interrupting(), *args, batch_size=4, progress=False, partial_path=partial, save_every=0)
    assert partial.is_file()
    calls.clear()
    resumed = predict_cells(model, *args, batch_size=4, progress=False, partial_path=partial)
    assert resumed.resumed >= 2 and len(calls) == 8 - resumed.resumed
    for cell in cells:
        assert resumed.accuracy[cell] == straight.accuracy[cell]
    # a different seed does not resume from this partial file
    other = predict_cells(model, source, cells, CorruptionOptions("ucf101-p", seed=4), state["classes"],
                          torch.device("cpu"), batch_size=4, progress=False, partial_path=partial)
    assert other.resumed == 0


def test_on_the_fly_equals_the_vidsparse_corrupt_set(trained_run: Path, tmp_path: Path, monkeypatch):
    """Same seeds, same variants: the generated set and on-the-fly evaluation agree exactly.

    Exact equality needs RGB-lossless storage (--lossless: libx264rgb qp 0); the default
    coding (CRF 17, 4:2:0) is read by the same evaluator, with its small coding error.
    """
    root = data_build.dataset_root(load_run_config(trained_run).data)
    gen = tmp_path / "generated"
    names = "jumble,rotate,mpeg4"
    assert main(["corrupt", "--dataset", "synthetic", "--data-root", str(root), "--out", str(gen),
                 "--corruptions", names, "--severities", "2", "--seed", "5", "--lossless"]) == 0
    runs = {"fly": tmp_path / "fly", "gen": tmp_path / "gen-run"}
    for run in runs.values():
        shutil.copytree(trained_run, run)
    assert _eval(runs["fly"], "--corruptions", names, "--severities", "2", "--seed", "5") == 0
    assert _eval(runs["gen"], "--corruptions", names, "--severities", "2", "--corrupted-root", str(gen)) == 0
    fly, stored = (json.loads((r / "eval.json").read_text()) for r in runs.values())
    for name in names.split(","):
        a, b = fly["corruptions"][name]["2"], stored["corruptions"][name]["2"]
        assert b["seed"] == 5 and b["source"] == str(gen)  # the manifest's seed is recorded
        assert (a["top1"], a["top5"], a["n"], a["per_class"]) == (b["top1"], b["top5"], b["n"], b["per_class"])
    assert fly["summary"]["mean_robust_top1"] == stored["summary"]["mean_robust_top1"]

    # the model inputs themselves are bit-identical, though on the fly corrupts only the frames
    # the views read for rotate (per frame) and the frames up to the last one read for mpeg4
    # (causal), and the whole video for jumble
    cfg, model, state, test = _loaded(trained_run)
    source = sources.video_source(test)
    spec = test.dataset.transform
    stream = engine._VariantStream(source, [], CorruptionOptions("ucf101-p", seed=5), [])
    corrupted_frames = []
    real_apply = corruptions.apply
    monkeypatch.setattr(corruptions, "apply", lambda *a, **k: corrupted_frames.append(k["frames"]) or real_apply(*a, **k))
    for name in names.split(","):
        gen_test = data_build.build_test_set(cfg, spec.mean, spec.std, (2, 2), root=gen / name / "2")
        for i in (0, 7):
            sample = source.load(i)
            plan = source.plan(sample.frames.shape[0])
            assert torch.equal(stream.variant_views(sample, Cell(name, 2), plan), gen_test.dataset[i][0]), name
            assert corrupted_frames.pop() == (None if name == "jumble" else plan.frames)
            assert len(plan.frames) < sample.frames.shape[0]
    # a cell the set does not have is reported, not fatal
    missing = video_eval.evaluate_generated(model, cfg, spec.mean, spec.std, gen, [Cell("freeze", 1)],
                                            state["classes"], (2, 2), torch.device("cpu"), progress=False)
    assert missing[0].accuracy is None and "does not exist" in missing[0].reason

    # the default coding (CRF 17, 4:2:0) is read by the same evaluator, on every video
    crf_set, crf_run = tmp_path / "generated-crf17", tmp_path / "crf-run"
    assert main(["corrupt", "--dataset", "synthetic", "--data-root", str(root), "--out", str(crf_set),
                 "--corruptions", "jumble", "--severities", "2", "--seed", "5"]) == 0
    assert json.loads((crf_set / "manifest.jsonl").read_text().splitlines()[0])["coding"] == {
        "codec": "libx264", "pix_fmt": "yuv444p", "crf": 17}
    shutil.copytree(trained_run, crf_run)
    assert _eval(crf_run, "--corruptions", "jumble", "--severities", "2", "--corrupted-root", str(crf_set)) == 0
    crf = json.loads((crf_run / "eval.json").read_text())["corruptions"]["jumble"]["2"]
    assert crf["n"] == fly["corruptions"]["jumble"]["2"]["n"] and crf["skipped"] == 0


# ----------------------------------------------------------------------------------------------
# the eval command


def _eval(run: Path, *extra: str) -> int:
    return main(["eval", "--run", str(run), "--views", "2x2", *extra])


def test_eval_writes_results_and_reuses_them(run_copy: Path, capsys):
    assert _eval(run_copy, "--corruptions", "jumble,gaussian_noise", "--severities", "1,3") == 0
    first = json.loads((run_copy / "eval.json").read_text())
    assert set(first["corruptions"]) == {"jumble", "gaussian_noise"}
    cell = first["corruptions"]["jumble"]["3"]
    assert cell["n"] == 8 and cell["skipped"] == 0 and cell["seed"] == 0 and cell["views"] == "2x2"
    assert sum(cell["per_class"].values()) == pytest.approx(cell["top1"] * 4)  # 2 videos per class
    summary = first["summary"]
    cells = [e["top1"] for sev in first["corruptions"].values() for e in sev.values()]
    assert summary["mean_robust_top1"] == pytest.approx(sum(cells) / 4)
    assert set(summary["by_family"]) == {"temporal", "noise"}
    assert summary["gamma_a"] == pytest.approx(1 - (first["clean"]["top1"] - summary["mean_robust_top1"]))
    rows = list(csv.DictReader((run_copy / "eval.csv").open()))
    assert [(r["corruption"], r["severity"]) for r in rows] == [
        ("clean", "0"), ("jumble", "1"), ("jumble", "3"), ("gaussian_noise", "1"), ("gaussian_noise", "3")]
    assert "jumble" in capsys.readouterr().out

    assert _eval(run_copy, "--corruptions", "jumble,gaussian_noise,freeze", "--severities", "1,3") == 0
    assert "reusing 5 finished results" in capsys.readouterr().err
    second = json.loads((run_copy / "eval.json").read_text())
    assert second["corruptions"]["jumble"] == first["corruptions"]["jumble"]
    assert set(second["corruptions"]) == {"jumble", "gaussian_noise", "freeze"}

    assert _eval(run_copy, "--corruptions", "freeze", "--severities", "1", "--seed", "7") == 0
    assert "dropped" in capsys.readouterr().err  # other seed: old results are not mixed in
    third = json.loads((run_copy / "eval.json").read_text())
    assert list(third["corruptions"]) == ["freeze"] and third["corruptions"]["freeze"]["1"]["seed"] == 7


def test_generated_root_with_missing_cells_and_baseline(run_copy: Path, trained_run: Path, tmp_path: Path, capsys):
    _, _, _, test = _loaded(trained_run)
    gen = tmp_path / "gen"
    # an 'identity' generated cell: the clean videos, under jumble/1 (only the first class's videos)
    base = gen / "jumble" / "1"
    shutil.copytree(test.root / "ucfTrainTestlist", base / "ucfTrainTestlist")
    for path, label in test.dataset.items:
        if label == 0:
            rel = sources.video_id(path, test.root)
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, base / rel)
    assert _eval(run_copy, "--corrupted-root", str(gen), "--corruptions", "jumble", "--severities", "1,2") == 0
    err = capsys.readouterr().err
    assert "jumble severity 2: no result" in err and "6 videos absent" in err
    data = json.loads((run_copy / "eval.json").read_text())
    assert data["corruptions"]["jumble"]["1"]["n"] == 2 and data["summary"]["missing"] == ["jumble/2"]

    # baseline: same cells -> CE computed; a baseline with other corruptions -> one-line error
    base_run = tmp_path / "base"
    shutil.copytree(trained_run, base_run)
    assert _eval(base_run, "--corruptions", "jumble", "--severities", "1") == 0
    assert _eval(run_copy, "--corrupted-root", str(gen), "--corruptions", "jumble", "--severities", "1",
                 "--baseline", str(base_run)) == 0
    summary = json.loads((run_copy / "eval.json").read_text())["summary"]
    ours = 1 - data["corruptions"]["jumble"]["1"]["top1"]
    theirs = 1 - json.loads((base_run / "eval.json").read_text())["corruptions"]["jumble"]["1"]["top1"]
    if theirs > 0:
        assert summary["ce"]["jumble"] == pytest.approx(ours / theirs)
    else:  # the baseline made no error there: CE undefined, said so
        assert "jumble" in summary["ce_undefined"] and summary["mce"] is None
    (base_run / "eval.json").unlink()
    assert _eval(base_run, "--corruptions", "freeze", "--severities", "1") == 0
    capsys.readouterr()
    assert _eval(run_copy, "--corrupted-root", str(gen), "--corruptions", "jumble", "--severities", "1",
                 "--baseline", str(base_run)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vidsparse eval: error: baseline base was evaluated on different corruptions")
    assert "\n" not in err


@pytest.mark.parametrize("args,message", [
    (["--corruptions", "gausian_noise"], "unknown corruption"),
    (["--corruptions", "ucf101-p,jumble"], "one preset per evaluation"),
    (["--severities", "0-9", "--corruptions", "jumble"], "severities run from 1 to 5"),
    (["--corrupted-root", "/nonexistent/set", "--corruptions", "jumble"], "does not exist"),
    (["--baseline", "/nonexistent/run", "--corruptions", "jumble"], "has no eval.json"),
])
def test_bad_input_is_one_line(run_copy: Path, args, message, capsys):
    assert _eval(run_copy, *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_run_without_checkpoint(run_copy: Path, capsys):
    (run_copy / "best.pt").unlink()
    (run_copy / "last.pt").unlink()
    assert _eval(run_copy) == 2
    assert "no checkpoint in" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# frequency analysis


def test_fourier_filters_split_the_spectrum():
    x = torch.randn(2, 3, 4, 16, 16)
    for r in (0, 1, 3.5, 8):
        low, high = filter_frequencies(x, r, "low_pass"), filter_frequencies(x, r, "high_pass")
        assert torch.allclose(low + high, x, atol=1e-5)
    dc = filter_frequencies(x, 0, "low_pass")
    assert torch.allclose(dc, x.mean((-2, -1), keepdim=True).expand_as(x), atol=1e-5)
    assert torch.allclose(filter_frequencies(x, default_radii(16)[-1], "low_pass"), x, atol=1e-5)
    assert default_radii(16) == [0.0, 1.0, 2.0, 4.0, 8.0, 11.314]


def test_eval_fourier_writes_curves_and_plot(run_copy: Path):
    assert _eval(run_copy, "--fourier", "--radii", "0,2,40") == 0
    data = json.loads((run_copy / "eval.json").read_text())
    curves = data["fourier"]
    assert list(curves["low_pass"]) == ["0", "2", "40"] and curves["n"] == 8
    # radius 40 passes every frequency of a 24 px crop: the clean accuracy again
    assert curves["low_pass"]["40"] == pytest.approx(data["clean"]["top1"])
    # and high-pass at 40 leaves an all-zero input: one constant prediction, right for 2 of 8 videos
    assert curves["high_pass"]["40"] == pytest.approx(0.25)
    width, height = plots.figure_size("radius", 2)
    assert mpimg.imread(run_copy / "fourier.png").shape[:2] == (height, width)


# ----------------------------------------------------------------------------------------------
# images


class TinyConvNet(nn.Module):
    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(x.mean((-2, -1)))


def colour_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class k = images whose channel k is brightest, over textured noise."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.rand(n, 32, 32, 3, generator=gen) * 0.5
    images[torch.arange(n), :, :, labels] += 0.5
    return (images * 255).to(torch.uint8).numpy(), labels.numpy()


@pytest.fixture(scope="module")
def image_model():
    from vidsparse.data.image.datasets import ImageTransform

    torch.manual_seed(0)
    model = TinyConvNet()
    transform = ImageTransform(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    images, labels = colour_images(60)
    x = torch.stack([transform(torch.from_numpy(im).permute(2, 0, 1)) for im in images])
    opt = torch.optim.Adam(model.parameters(), 0.02)
    for _ in range(40):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), torch.from_numpy(labels)).backward()
        opt.step()
    return model.eval(), transform


CLASSES = ["red", "green", "blue"]


def write_cifar_c(root: Path, images: np.ndarray, labels: np.ndarray, names: list[str]) -> Path:
    """A CIFAR-C style set: <corruption>.npy [5 * N, H, W, 3] + labels.npy [5 * N], image i seeded by id 'i'."""
    root.mkdir(parents=True)
    for name in names:
        stack = [corruptions.apply(torch.from_numpy(im).permute(2, 0, 1)[None], name, s, seed=0, preset="cifar-c",
                                   video_id=str(i))[0].permute(1, 2, 0).numpy()
                 for s in range(1, 6) for i, im in enumerate(images)]
        np.save(root / f"{name}.npy", np.stack(stack))
    np.save(root / "labels.npy", np.tile(labels, 5))
    return root


def test_image_c_readers_and_on_the_fly_equality(image_model, tmp_path: Path):
    from vidsparse.data.corrupted import c_cell_dataset, c_format
    from vidsparse.data.image.datasets import ImageArrayDataset, ImageArrays
    from vidsparse.evaluation.sources import ImageSource

    model, transform = image_model
    images, labels = colour_images(12, seed=1)
    classes = CLASSES
    cells = [Cell("gaussian_noise", 2), Cell("saturate", 2)]
    npy = write_cifar_c(tmp_path / "cifar-c", images, labels, ["gaussian_noise", "saturate"])
    assert c_format(npy) == "npy"

    dev = torch.device("cpu")
    clean = evaluate(model, ImageArrayDataset(images, labels, transform), classes, dev, progress=False)
    assert clean.top1 > 0.9 and clean.n == 12  # the model learned the colours
    fly = predict_cells(model, ImageSource(ImageArrays(images, labels, classes), transform), [CLEAN_CELL, *cells],
                        CorruptionOptions("cifar-c"), classes, dev, batch_size=5, progress=False)
    assert fly.accuracy[CLEAN_CELL] == clean
    for cell in cells:
        stored = evaluate(model, c_cell_dataset(npy, cell.corruption, cell.severity, classes, transform), classes,
                          dev, progress=False)
        assert stored == fly.accuracy[cell]
    assert fly.accuracy[Cell("saturate", 2)].top1 < 0.7  # saturation x 0.1 removes most of the colour
    assert c_cell_dataset(npy, "fog", 1, classes, transform) is None

    # an ImageNet-C style tree of PNGs (lossless): <corruption>/<severity>/<class>/<image>
    from PIL import Image

    tree = tmp_path / "imagenet-c"
    arrays = np.load(npy / "saturate.npy")[1 * 12 : 2 * 12]
    for i, (im, lab) in enumerate(zip(arrays, labels)):
        path = tree / "saturate" / "2" / classes[lab] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(path)
    (tree / "saturate" / "2" / "red" / "broken.png").write_bytes(b"not a png")
    assert c_format(tree) == "folder"
    folder = evaluate(model, c_cell_dataset(tree, "saturate", 2, classes, transform), classes, dev, progress=False)
    assert folder.top1 == fly.accuracy[Cell("saturate", 2)].top1 and folder.skipped == 1
    (tree / "saturate" / "2" / "purple").mkdir()
    with pytest.raises(UserError, match="not one of the run's 3 classes"):
        c_cell_dataset(tree, "saturate", 2, classes, transform)


def test_image_run_through_the_eval_command(image_model, tmp_path: Path, monkeypatch, capsys):
    """An image run (dataset kind "image") is evaluated on the fly and from a CIFAR-C style set."""
    from vidsparse.config import RunConfig, save_config
    from vidsparse.data.registry import DATASETS, DatasetSpec
    from vidsparse.data.image.datasets import ImageArrays
    from vidsparse.models.registry import MODELS, InputSpec, ModelEntry

    model, transform = image_model
    images, labels = colour_images(12, seed=2)
    monkeypatch.setitem(MODELS, "tiny_convnet", ModelEntry(
        "tiny_convnet", "image-cnn", lambda num_classes, **kw: TinyConvNet(num_classes), InputSpec(1, 32, transform.mean, transform.std)))
    monkeypatch.setitem(DATASETS, "colours", DatasetSpec("colours", "test colours", lambda cfg: (None, ImageArrays(images, labels, CLASSES)),
                                                         kind="image"))
    run = tmp_path / "image-run"
    cfg = RunConfig()
    cfg.data.dataset, cfg.model.name, cfg.data.workers = "colours", "tiny_convnet", 0
    run.mkdir()
    save_config(cfg, run / "config.yaml")
    torch.save({"model": model.state_dict(), "classes": CLASSES, "epoch": 3}, run / "best.pt")

    args = ["eval", "--run", str(run), "--preset", "cifar-c", "--corruptions", "gaussian_noise,saturate",
            "--severities", "1,2"]
    assert main(args) == 0
    fly = json.loads((run / "eval.json").read_text())
    assert fly["clean"]["n"] == 12 and fly["corruptions"]["saturate"]["2"]["source"] == "on-the-fly"
    assert main(args + ["--published-jpeg"]) == 2  # its corrupted sets are not JPEG folders
    assert "--published-jpeg reproduces JPEG -C files" in capsys.readouterr().err
    npy = write_cifar_c(tmp_path / "cifar-c", images, labels, ["gaussian_noise"])  # saturate absent
    (run / "eval.json").unlink()
    assert main(args + ["--corrupted-root", str(npy)]) == 0
    assert "saturate severity 1: no result" in capsys.readouterr().err
    stored = json.loads((run / "eval.json").read_text())
    for sev in ("1", "2"):
        assert stored["corruptions"]["gaussian_noise"][sev]["top1"] == fly["corruptions"]["gaussian_noise"][sev]["top1"]
    assert stored["summary"]["missing"] == ["saturate/1", "saturate/2"]

    # the ImageNet-C preset normalises CE by AlexNet's errors
    assert main(["eval", "--run", str(run), "--corruptions", "gaussian_noise", "--severities", "1"]) == 0
    data = json.loads((run / "eval.json").read_text())
    err = 1 - data["corruptions"]["gaussian_noise"]["1"]["top1"]
    assert data["summary"]["preset"] == "imagenet-c" and data["summary"]["ce_baseline"].startswith("AlexNet")
    assert data["summary"]["mce"] == pytest.approx(err / 0.69528)
