"""Checkpoints resume across device types (CPU <-> CUDA), simulated on this CPU machine.

A CPU run saves the GradScaler state as ``{}`` and a 5,056-byte generator state; a CUDA run a
filled scaler state, a 16-byte (Philox) generator state and CUDA RNG streams. An enabled CPU
``GradScaler`` stands in for the CUDA one (both reject ``{}``).
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import tiny_train_args
from tests.sparse_fixtures import make_run, train_steps
from vidsparse.cli import main
from vidsparse.core.checkpoint import (generator_state_fits, restore_generator, restore_scaler, rng_state,
                                       set_rng_state)
from vidsparse.sparse import SparseConfig
from vidsparse.training import setup

CUDA_GENERATOR_STATE = torch.zeros(16, dtype=torch.uint8)  # Philox: seed and offset


def _cuda_like_scaler_state() -> dict:
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    scaler.scale(torch.ones(()))  # creates the scale tensor, as the first CUDA step does
    return scaler.state_dict()


def test_generator_state_of_the_other_device_type_is_recognised():
    cpu = torch.Generator()
    assert generator_state_fits(cpu, cpu.get_state())
    assert not generator_state_fits(cpu, CUDA_GENERATOR_STATE)
    with pytest.raises(RuntimeError):
        torch.Generator().set_state(CUDA_GENERATOR_STATE)  # what a resume did before
    notes = restore_generator(cpu, CUDA_GENERATOR_STATE, reseed=7, what="stream")
    assert notes == ["stream (saved on another device type; reseeded)"]
    assert torch.equal(cpu.get_state(), torch.Generator().manual_seed(7).get_state())


def test_scaler_states_cross_between_enabled_and_disabled():
    enabled = torch.amp.GradScaler("cpu", enabled=True)  # stands in for the CUDA scaler
    with pytest.raises(RuntimeError, match="empty"):
        enabled.load_state_dict({})  # a CPU checkpoint's state, loaded as before
    assert restore_scaler(enabled, {}) == ["AMP loss scale (none saved; starts at its initial value)"]
    assert enabled.get_scale() == 65536.0
    assert restore_scaler(torch.amp.GradScaler("cpu", enabled=False), _cuda_like_scaler_state()) == []
    state = _cuda_like_scaler_state() | {"scale": 1024.0}
    assert restore_scaler(enabled, state) == [] and enabled.get_scale() == 1024.0


def test_cuda_rng_streams_are_reported_when_they_cannot_be_restored():
    state = rng_state()
    assert set_rng_state(state, cuda_devices=0) == []
    cuda_saved = state | {"cuda": [CUDA_GENERATOR_STATE]}
    assert set_rng_state(cuda_saved, cuda_devices=0) == ["CUDA random streams (1 saved, 0 GPU(s) here)"]
    assert set_rng_state(state, cuda_devices=2) == ["CUDA random streams (0 saved, 2 GPU(s) here)"]


def test_sparsifier_resumes_a_checkpoint_with_a_cuda_generator_state():
    cfg = SparseConfig(method="set", sparsity=0.5, update_every=2)
    model, opt, sparsifier = make_run(cfg)
    train_steps(model, opt, sparsifier, 0, 4)
    state = sparsifier.state_dict() | {"generator": CUDA_GENERATOR_STATE}
    _, _, fresh = make_run(cfg)
    fresh.load_state_dict(state)
    assert fresh.restore_notes == ["the sparse method's random stream (saved on another device type; reseeded)"]
    assert all(torch.equal(a.mask, b.mask) for a, b in zip(sparsifier.tensors, fresh.tensors) if a.mask is not None)


def _train(root, out, capsys, *extra):
    code = main(tiny_train_args(root, out, "--method", "set", "--sparsity", "0.5",
                                "--set", "sparse.update_every=2", *extra))
    assert code == 0
    return capsys.readouterr().out


def test_cpu_checkpoint_resumes_where_a_cuda_scaler_is_built_and_back(synthetic_root, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    _train(synthetic_root, out, capsys)
    # the CPU checkpoint resumed by a job whose scaler is enabled (as on CUDA with --amp)
    monkeypatch.setattr(setup, "make_scaler", lambda device, amp: torch.amp.GradScaler("cpu", enabled=True))
    log = _train(synthetic_root, out, capsys, "--epochs", "2", "--resume")
    assert "not carried over: AMP loss scale (none saved; starts at its initial value)" in log
    monkeypatch.undo()

    # a CUDA-written checkpoint (filled scaler, Philox generator, CUDA streams) resumed on this CPU
    last = out / "last.pt"
    state = torch.load(last, weights_only=False)
    state["scaler"] = _cuda_like_scaler_state()
    state["sparsifier"]["generator"] = CUDA_GENERATOR_STATE
    state["device"] = "cuda"
    for rank in state["ranks"]:
        rank["rng"]["cuda"] = [CUDA_GENERATOR_STATE]
    torch.save(state, last)
    log = _train(synthetic_root, out, capsys, "--epochs", "3", "--resume")
    assert "resumed on cpu, saved on cuda: not carried over: CUDA random streams (1 saved, 0 GPU(s) here); " \
           "the sparse method's random stream (saved on another device type; reseeded)" in log
    assert "epoch 3" in log
