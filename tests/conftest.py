"""Shared fixtures: every test makes its own tiny data (encoded videos, split trees)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "2")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def moving_square_video(frames: int = 12, height: int = 32, width: int = 40, seed: int = 0) -> torch.Tensor:
    """uint8 [T, H, W, 3]: a square moving right; frame t has red channel ~ 10 * t (mod 250)."""
    gen = torch.Generator().manual_seed(seed)
    video = (torch.rand(frames, height, width, 3, generator=gen) * 60).to(torch.uint8)
    for t in range(frames):
        video[t, ..., 0] = (10 * t) % 250
        x = (2 * t) % (width - 8)
        video[t, 8:16, x : x + 8, 1] = 255
    return video


@pytest.fixture
def write_tiny_video():
    from vidsparse.data.video.writer import write_video

    def write(path: Path, codec: str = "libx264", frames: int = 12, seed: int = 0, **kw) -> Path:
        options = {"mpeg4": {"qscale": "2"}, "libx264": {"crf": "10"}}.get(codec)
        return write_video(path, moving_square_video(frames, seed=seed, **kw), 10, codec=codec, options=options)

    return write


TINY_SYNTHETIC = {
    "classes": 4, "train_per_class": 3, "test_per_class": 2, "frames": 12, "size": 32, "fps": 10, "seed": 0,
}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A tiny synthetic dataset shared by the tests that only read it."""
    from vidsparse.config import SyntheticConfig
    from vidsparse.data.video.synthetic import ensure_synthetic

    return ensure_synthetic(tmp_path_factory.mktemp("data") / "synthetic", SyntheticConfig(**TINY_SYNTHETIC))


def tiny_train_args(root: Path, out: Path, *extra: str) -> list[str]:
    """CLI arguments for a seconds-long training run on the tiny synthetic set."""
    sets = [f"data.synthetic.{k}={v}" for k, v in TINY_SYNTHETIC.items()]
    args = ["train", "--data-root", str(root), "--out", str(out), "--epochs", "1", "--batch-size", "4",
            "--workers", "0", "--set", "model.width=4", "--set", "data.resize=32", "--set", "data.crop=24",
            "--set", "data.clip_len=4", "--set", "train.eval_batch_size=4"]
    for s in sets:
        args += ["--set", s]
    return args + list(extra)
