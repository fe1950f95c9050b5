"""GPU-minded settings of the training loop, checked on the CPU: device-side running sums read
back once per log interval, the evaluator's checkpoint loading, channels-last weights."""

from __future__ import annotations

import torch

from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.config import ModelConfig
from vidsparse.core.checkpoint import TRAINING_ONLY, load_checkpoint
from vidsparse.models import model_from_config
from vidsparse.training import loop
from vidsparse.training.setup import channels_last


def test_running_sums_are_read_once_per_epoch_not_per_step(synthetic_root, tmp_path, monkeypatch):
    reads = []
    real = loop.read_sums
    monkeypatch.setattr(loop, "read_sums", lambda progress, sums: reads.append(progress.batches) or real(progress, sums))
    assert main(tiny_train_args(synthetic_root, tmp_path / "run", "--batch-size", "2", "--epochs", "2")) == 0
    assert reads == [6, 6]  # 12 videos / batch 2: six steps per epoch, one read at each epoch's end
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and "nan" not in rows[1]


def test_evaluator_loading_skips_optimizer_and_rng_state(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"model": {"w": torch.ones(2)}, "optimizer": {"state": {0: torch.ones(2)}}, "scheduler": {},
                "scaler": {}, "rng": {}, "ranks": [], "classes": ["a"], "epoch": 3}, path)
    state = load_checkpoint(path, inference=True)
    assert set(state) == {"model", "classes", "epoch"} and not set(state) & set(TRAINING_ONLY)
    assert torch.equal(state["model"]["w"], torch.ones(2))


def test_channels_last_weights_give_the_same_outputs():
    torch.manual_seed(0)
    model = model_from_config(ModelConfig(name="r3d_small", width=4), 5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    before = model(x)
    channels_last(model)
    conv = next(p for p in model.parameters() if p.dim() == 5)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) and not conv.is_contiguous()
    torch.testing.assert_close(model(x), before, rtol=1e-5, atol=1e-6)
