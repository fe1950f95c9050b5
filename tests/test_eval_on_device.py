"""Evaluation with corruptions made on the model's device in batches (--corrupt-on device) equals the workers' path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import corruptions
from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.errors import UserError
from vidsparse.evaluation import on_device
from vidsparse.evaluation.cells import CLEAN_CELL, Cell, CorruptionOptions


@pytest.fixture(scope="module")
def trained_run(synthetic_root: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "dense"
    assert main(tiny_train_args(synthetic_root, run)) == 0
    return run


def _eval_json(trained_run: Path, where: Path, corrupt_on: str) -> dict:
    run = where / corrupt_on
    shutil.copytree(trained_run, run)
    # jumble: the whole video; gaussian noise: the views' frames; mpeg4: an encoder, kept in the workers;
    # box_jumble at severity 5 (32-frame segments) leaves these short videos unchanged: a no-op cell
    assert main(["eval", "--run", str(run), "--views", "2x2", "--corruptions", "jumble,gaussian_noise,mpeg4,box_jumble",
                 "--severities", "2,5", "--corrupt-on", corrupt_on, "--workers", "0"]) == 0
    data = json.loads((run / "eval.json").read_text())
    return {"clean": data["clean"], "corruptions": data["corruptions"], "summary": data["summary"]}


def test_device_path_gives_the_workers_numbers(trained_run: Path, tmp_path: Path, monkeypatch):
    batches: list[tuple[str, int]] = []
    real = corruptions.apply_batch

    def counting(videos, name, severity, **kw):
        batches.append((name, len(videos)))
        return real(videos, name, severity, **kw)

    monkeypatch.setattr(on_device.corruptions, "apply_batch", counting)
    workers = _eval_json(trained_run, tmp_path, "workers")
    assert not batches  # the workers' path never batches
    device = _eval_json(trained_run, tmp_path, "device")
    assert device == workers
    assert workers["corruptions"]["jumble"]["5"]["n"] == 8
    assert workers["summary"]["noop_cells"]["box_jumble"]["5"] == "no-op on 8 of 8 videos"  # both paths count
    made = {name for name, _ in batches}
    assert made == {"jumble", "gaussian_noise", "box_jumble"}  # mpeg4 stayed in the workers
    assert max(size for _, size in batches) == 4  # a batch of samples per call (eval batch size 4)


def test_corrupt_on_setting():
    assert on_device.resolve_corrupt_on("auto", torch.device("cpu")) == "workers"
    assert on_device.resolve_corrupt_on("auto", torch.device("cuda", 0)) == "device"
    assert on_device.resolve_corrupt_on("workers", torch.device("cuda")) == "workers"
    with pytest.raises(UserError, match="--corrupt-on"):
        on_device.resolve_corrupt_on("gpu", torch.device("cpu"))
    cells = [CLEAN_CELL, Cell("jpeg", 1), Cell("mpeg2", 1), Cell("freeze", 1), Cell("rotate", 1)]
    assert on_device.device_cells(cells, CorruptionOptions("ucf101-p")) == {0, 3, 4}


def test_device_batches_stay_on_the_models_device(monkeypatch):
    """Variants and views of a batch are made where the frames are (fake CUDA tensors: mixing raises)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from corruptions import api
    from vidsparse.data.video.dataset import ClipSpec
    from vidsparse.data.video.transforms import ClipTransform
    from vidsparse.evaluation.sources import Sample, VideoSource

    class CudaLabelled(torch.Generator):  # FakeTensorMode cannot make a real CUDA generator here
        @property
        def device(self) -> torch.device:  # type: ignore[override]
            return torch.device("cuda")

    monkeypatch.setattr(api, "seeded", lambda device, seed: CudaLabelled().manual_seed(seed))
    source = VideoSource([], Path("."), ClipSpec(clip_len=2, stride=2, num_clips=2, num_crops=2),
                         ClipTransform(20, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    cells = [CLEAN_CELL, Cell("gaussian_noise", 3), Cell("jumble", 2), Cell("rotate", 1)]
    options = CorruptionOptions("ucf101-p")
    with FakeTensorMode():
        raws = []
        for index, length in enumerate([9, 12]):
            frames = torch.empty(length, 3, 24, 32, dtype=torch.uint8, device="cuda")
            plan = source.plan(length)
            raws.append((index, on_device.ship(Sample(frames, 30.0, f"v{index}"), plan, cells, options)))
        made = list(on_device.device_batches(source, cells, range(len(cells)), options, raws, torch.device("cuda")))
    assert [m.failed for m in made] == [[]] * 4
    assert all(m.views.device.type == "cuda" and m.views.shape == (2, 4, 3, 2, 16, 16) for m in made)
