"""Evaluation on 2 CPU ranks (gloo) gives exactly the single-process numbers.

`evaluate()` is called from every rank as the training loop does (DDP-wrapped model), and
`vidsparse eval` runs under torchrun. Both sets have an odd number of samples, so a sampler
that pads the last shard, or drops a sample, would change `n` and the accuracies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset

from tests.conftest import TINY_SYNTHETIC, tiny_train_args
from vidsparse.cli import main
from vidsparse.evaluation.accuracy import evaluate

ODD_SET = {**TINY_SYNTHETIC, "classes": 3, "test_per_class": 3}  # 9 test videos
TEST_VIDEOS = 9
ON_THE_FLY = ["--corruptions", "gaussian_noise,jumble", "--severities", "1,4", "--views", "2x2", "--fourier",
              "--radii", "0,4"]
CLASSES = ["a", "b", "c", "d"]


class Points(Dataset):
    """11 labelled feature vectors; index 7 is undecodable (None), as a broken video would be."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(1)
        self.x, self.y = torch.randn(11, 6, generator=gen), torch.arange(11) % 4

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return None if i == 7 else (self.x[i], int(self.y[i]), i)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(6, 4)


def _evaluate_on_rank(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world)
    acc = evaluate(DistributedDataParallel(_model()), Points(), CLASSES, torch.device("cpu"), batch_size=2,
                   progress=False)
    torch.save(acc, Path(tmp) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_evaluate_on_two_ranks_equals_one_process(tmp_path: Path):
    single = evaluate(_model(), Points(), CLASSES, torch.device("cpu"), batch_size=2, progress=False)
    assert single.n == 10 and single.skipped == 1 and 0 < single.top1 < 1
    mp.spawn(_evaluate_on_rank, args=(2, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):  # shards of 6 and 5 samples; the skipped one counted once
        assert torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) == single


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory) -> tuple[Path, Path]:
    """(data root, trained run) on a synthetic set with 9 test videos."""
    from vidsparse.config import SyntheticConfig
    from vidsparse.data.video.synthetic import ensure_synthetic

    tmp = tmp_path_factory.mktemp("ddp")
    root = ensure_synthetic(tmp / "data", SyntheticConfig(**ODD_SET))
    sets = [arg for k, v in ODD_SET.items() for arg in ("--set", f"data.synthetic.{k}={v}")]
    assert main(tiny_train_args(root, tmp / "run", "--epochs", "2", *sets)) == 0
    return root, tmp / "run"


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """2 ranks on this machine; eval takes --run-dir, since torchrun claims --run for --run-path."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "vidsparse.cli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _results(run: Path) -> dict:
    return json.loads((run / "eval.json").read_text())


def test_on_the_fly_eval_on_two_ranks_equals_one_process(odd_run, tmp_path: Path):
    _, run = odd_run
    single, ddp = _copy(run, tmp_path / "single"), _copy(run, tmp_path / "ddp")
    assert main(["eval", "--run", str(single), *ON_THE_FLY]) == 0
    done = _torchrun("eval", "--run-dir", str(ddp), *ON_THE_FLY, cwd=tmp_path)

    one, two = _results(single), _results(ddp)
    assert one["clean"]["n"] == TEST_VIDEOS and one["fourier"]["n"] == TEST_VIDEOS
    for severities in one["corruptions"].values():
        assert all(entry["n"] == TEST_VIDEOS for entry in severities.values())
    assert len(one["corruptions"]) == 2 and len(one["clean"]["per_class"]) == 3
    assert two == one  # every number, per-class accuracy and summary
    assert done.stdout.count("wrote ") == 1  # rank 0 alone reports
    assert not list(ddp.glob(".eval-partial*")) and (ddp / "fourier.png").is_file()
