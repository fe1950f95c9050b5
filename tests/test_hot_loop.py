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


class _PidSet(torch.utils.data.Dataset):
    """Returns (pid of the process that loaded it, epoch seed, index): what a worker saw."""

    def __init__(self, size: int) -> None:
        self.size, self.epoch_seed = size, None

    def __len__(self) -> int:
        return self.size

    def set_epoch_seed(self, seed: int) -> None:
        self.epoch_seed = seed

    def __getitem__(self, index: int):
        import os
        return torch.tensor([os.getpid(), self.epoch_seed, index]), 0, index


def test_training_workers_persist_across_epochs_with_each_epochs_order_and_seed():
    from types import SimpleNamespace

    from vidsparse.config import RunConfig
    from vidsparse.training.setup import TrainLoader, epoch_order

    cfg = RunConfig()
    cfg.data.workers, cfg.train.batch_size, cfg.train.seed = 2, 4, 3
    loader = TrainLoader(SimpleNamespace(train=_PidSet(12)), cfg, torch.device("cpu"))
    seen = {}
    for epoch in (0, 1, 2):
        rows = torch.cat([clips for clips, _, _, _ in loader.epoch(epoch)])
        seen[epoch] = rows
        assert rows[:, 1].tolist() == [30_000 + epoch] * 12  # the epoch's augmentation seed reached the workers
        assert rows[:, 2].tolist() == epoch_order(12, 30_000 + epoch)  # and its order
    pids = [set(rows[:, 0].tolist()) for rows in seen.values()]
    assert len(pids[0]) == 2 and pids[0] == pids[1] == pids[2]  # the same two workers every epoch
    resumed = torch.cat([clips for clips, _, _, _ in loader.epoch(1, skip_batches=2)])
    assert resumed[:, 2].tolist() == seen[1][8:, 2].tolist()  # mid-epoch resume skips the batches done
