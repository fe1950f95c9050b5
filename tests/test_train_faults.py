"""Crash safety of `vidsparse train`: killed or signalled mid-epoch, resumed, same result.

The training subprocess runs the real CLI through a tiny entry script that pauses at the top
of one chosen training step (it touches ``paused`` and waits for ``go``), so the test kills
it at a known point in the middle of an epoch instead of racing the clock. It uses a data
loader worker and signals the whole process group, as torchrun and cluster schedulers do.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_train_args
from vidsparse.cli import main

# Wraps the per-batch agreement of the training loop (called with [stop flag, empty batch]).
PAUSE_ENTRY = '''
import os, sys, time
from pathlib import Path
import vidsparse.training.loop
from vidsparse.cli import main

real_agree, batches = vidsparse.training.loop.max_across_ranks, 0
pause_at, flags = int(os.environ["PAUSE_AT"]), Path(os.environ["PAUSE_DIR"])

def agree(values, world, device):
    global batches
    decided = real_agree(values, world, device)
    batches += len(values) == 2
    if batches == pause_at:
        (flags / "paused").touch()
        deadline = time.time() + 120
        while not (flags / "go").exists() and time.time() < deadline:
            time.sleep(0.02)
    return decided

vidsparse.training.loop.max_across_ranks = agree
sys.exit(main(sys.argv[1:]))
'''

# 12 training videos, batch 1: 12 steps per epoch, 2 epochs, a checkpoint every 4 steps. The
# pause comes at the top of the 7th step of epoch 2 (global batch 19), 3 steps after the
# step-16 checkpoint; a signal sent there lets that step finish, so 19 steps are done.
PAUSE_AT = 19
STEPS_DONE = 19


def run_args(root: Path, out: Path, *extra: str) -> list[str]:
    return tiny_train_args(root, out, "--epochs", "2", "--batch-size", "1", "--method", "rigl",
                           "--sparsity", "0.5", "--set", "sparse.update_every=3", *extra)


@pytest.fixture(scope="module")
def reference(synthetic_root: Path, tmp_path_factory) -> Path:
    """The uninterrupted run (without periodic checkpoints: they must not change anything)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(run_args(synthetic_root, out)) == 0
    return out


def assert_same_run(a: Path, b: Path) -> None:
    wa = torch.load(a / "last.pt", weights_only=False)["model"]
    wb = torch.load(b / "last.pt", weights_only=False)["model"]
    for key in wa:
        assert torch.allclose(wa[key].float(), wb[key].float(), atol=1e-6, rtol=0), key
    assert metrics_without_time(a) == metrics_without_time(b)
    assert not [p.name for p in b.iterdir() if p.name.endswith(".tmp")]


def metrics_without_time(run: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader((run / "metrics.csv").open())]


def start_paused_run(root: Path, run: Path, tmp_path: Path) -> subprocess.Popen:
    entry = tmp_path / "entry.py"
    entry.write_text(PAUSE_ENTRY)
    threads = str(torch.get_num_threads())  # as in this process, which runs the reference and the resume
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PAUSE_AT": str(PAUSE_AT), "PAUSE_DIR": str(tmp_path)}
    args = run_args(root, run, "--checkpoint-every", "4", "--workers", "1")
    proc = subprocess.Popen([sys.executable, str(entry), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not (tmp_path / "paused").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "training never reached the pause point"
        time.sleep(0.05)
    return proc


def position(run: Path, name: str = "last.pt") -> tuple[int, int, int]:
    state = torch.load(run / name, weights_only=False)
    return state["epoch"], state["batch"], state["step"]


def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(synthetic_root, reference, tmp_path, capsys):
    run = tmp_path / "run"
    proc = start_paused_run(synthetic_root, run, tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert position(run) == (1, 4, 16)  # the last periodic checkpoint, mid-epoch 2
    assert position(run, "last.prev.pt") == (1, 0, 12)  # the one before it: end of epoch 1

    damaged, lost = tmp_path / "damaged", tmp_path / "lost"
    shutil.copytree(run, damaged)
    shutil.copytree(run, lost)
    (run / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves it

    assert main(run_args(synthetic_root, run, "--resume")) == 0
    assert "resumed" in capsys.readouterr().out
    assert_same_run(reference, run)

    # a truncated last.pt: one warning, then the previous checkpoint, and still the same result
    data = (damaged / "last.pt").read_bytes()
    (damaged / "last.pt").write_bytes(data[: len(data) // 2])
    assert main(run_args(synthetic_root, damaged, "--resume")) == 0
    err = capsys.readouterr().err
    assert "warning: last.pt is unreadable (truncated?); resuming from" in err and "last.prev.pt" in err
    assert_same_run(reference, damaged)

    # neither checkpoint readable: one line, exit 2
    for name in ("last.pt", "last.prev.pt"):
        (lost / name).write_bytes(b"")
    assert main(run_args(synthetic_root, lost, "--resume")) == 2
    err = capsys.readouterr().err.strip()
    assert "no readable checkpoint" in err and "\n" not in err and "Traceback" not in err


def test_sigterm_saves_mid_epoch_and_exits_143_then_resume_equals_uninterrupted(
        synthetic_root, reference, tmp_path):
    run = tmp_path / "run"
    proc = start_paused_run(synthetic_root, run, tmp_path)
    os.killpg(proc.pid, signal.SIGTERM)  # the main process and its loader worker
    (tmp_path / "go").touch()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1] == f"interrupted at epoch 2 step {STEPS_DONE}; continue with --resume"
    assert position(run) == (1, 7, STEPS_DONE)  # the step in progress finished, then it saved

    assert main(run_args(synthetic_root, run, "--resume")) == 0
    assert_same_run(reference, run)


def test_sigint_in_process_exits_130(synthetic_root, tmp_path, monkeypatch, capsys):
    import vidsparse.training.loop

    real_agree, batches = vidsparse.training.loop.max_across_ranks, []

    def agree(values, world, device):
        decided = real_agree(values, world, device)
        batches.append(len(values) == 2)
        if sum(batches) == 3:  # Ctrl-C during the 3rd step: it finishes, then the run stops
            os.kill(os.getpid(), signal.SIGINT)
        return decided

    monkeypatch.setattr(vidsparse.training.loop, "max_across_ranks", agree)
    before = signal.getsignal(signal.SIGINT)
    assert main(run_args(synthetic_root, tmp_path / "run")) == 130
    assert capsys.readouterr().err.strip() == "interrupted at epoch 1 step 3; continue with --resume"
    assert position(tmp_path / "run") == (0, 3, 3)
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are restored
