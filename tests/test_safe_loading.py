"""Checkpoint loading never unpickles code: a planted ``.pt`` is refused with one line."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vidsparse.cli import main
from vidsparse.config import RunConfig, save_config
from vidsparse.core.checkpoint import UnsafeCheckpoint, load_checkpoint, rng_state, save_checkpoint
from vidsparse.errors import UserError
from vidsparse.models.pretrained import read_state_dict


class Payload:
    """Unpickling this runs ``touch MARKER``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "classes": ["a"], "x": Payload(marker)}, path)
    return path, marker


def test_payload_refused_and_not_run(evil):
    path, marker = evil
    with pytest.raises(UnsafeCheckpoint) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "\n" not in message and "refused" in message and "system" in message
    assert not marker.exists()


def test_refused_checkpoint_is_not_replaced_by_its_predecessor(evil, tmp_path):
    """A planted last.pt is an attack, not damage: resume must not quietly fall back."""
    from vidsparse.core.checkpoint import load_latest_checkpoint, previous_path

    path, _ = evil
    save_checkpoint(previous_path(path), {"epoch": 1})
    with pytest.raises(UnsafeCheckpoint):
        load_latest_checkpoint(path, warn=print)


def test_our_checkpoint_with_numpy_rng_state_loads(tmp_path):
    """The allow-list covers what training writes: numpy's RNG state is an uint32 ndarray."""
    np.random.seed(3)
    state = {"model": {"w": torch.ones(3)}, "rng": rng_state(), "config": {"a": [1, 2.5, None]}}
    loaded = load_checkpoint(save_checkpoint(tmp_path / "last.pt", state))
    assert np.array_equal(loaded["rng"]["numpy"][1], np.random.get_state()[1])
    assert loaded["config"] == {"a": [1, 2.5, None]}


def test_pretrained_payload_refused(evil):
    path, marker = evil
    with pytest.raises(UserError, match="refused") as err:
        read_state_dict(path)
    assert "\n" not in str(err.value) and not marker.exists()


def test_eval_cli_refuses_planted_checkpoint(evil, tmp_path, capsys):
    path, marker = evil
    run = tmp_path / "run"
    run.mkdir()
    save_config(RunConfig(), run / "config.yaml")
    os.replace(path, run / "best.pt")
    assert main(["eval", "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "refused" in err and "best.pt" in err
    assert not marker.exists()
