"""Resume: N steps straight == N/2 steps, save, fresh objects, load, N/2 steps."""

from __future__ import annotations

import io

import pytest
import torch

from tests.sparse_fixtures import make_run, train_steps
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.core.checkpoint import safe_load
from vidsparse.sparse import SparseConfig

STEPS = 20


def checkpoint(model, opt, sparsifier) -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                "sparsifier": sparsifier.state_dict()}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("method, optimizer, split", [
    ("rigl", "sgd", 10), ("set", "sgd", 10), ("set", "adamw", 7), ("mest", "sgd", 7),
    ("lth", "sgd", 10),
])
def test_resume_continues_identically(method, optimizer, split):
    cfg = SparseConfig(method=method, sparsity=0.6, update_every=3, update_end=0.9, rounds=2)
    straight = make_run(cfg, optimizer=optimizer, seed=0)
    train_steps(*straight, 0, STEPS)

    first = make_run(cfg, optimizer=optimizer, seed=0)
    train_steps(*first, 0, split)
    updates_first = [s for s in range(split) if first[2].schedule.is_update(s)]
    saved = safe_load(io.BytesIO(checkpoint(*first)))  # weights_only, as every load

    model, opt, sparsifier = make_run(cfg, optimizer=optimizer, seed=99)  # other init & masks
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    sparsifier.load_state_dict(saved["sparsifier"])
    train_steps(model, opt, sparsifier, split, STEPS)
    if method in ("rigl", "set"):
        assert updates_first and any(sparsifier.schedule.is_update(s) for s in range(split, STEPS))

    for a, b in zip(straight[2].tensors, sparsifier.tensors):
        assert torch.equal(a.active_mask, b.active_mask), a.name
    for (name, p), q in zip(straight[0].named_parameters(), model.parameters()):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), name
    assert straight[2].on_epoch_end(3) == sparsifier.on_epoch_end(3)


def test_loading_another_methods_state_is_a_user_error():
    from vidsparse.errors import UserError

    _, _, rigl = make_run(SparseConfig(method="rigl", sparsity=0.5))
    _, _, static = make_run(SparseConfig(method="static", sparsity=0.5))
    with pytest.raises(UserError, match="resume with --method rigl"):
        static.load_state_dict(rigl.state_dict())
