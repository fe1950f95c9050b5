"""Name -> method lookup: the two functions the rest of vidsparse calls."""

from __future__ import annotations

import torch
from torch import nn

from vidsparse.sparse import methods  # noqa: F401  (registers every method)
from vidsparse.sparse.config import SparseConfig, SparseContext, validate
from vidsparse.sparse.density import DISTRIBUTIONS
from vidsparse.sparse.sparsifier import METHODS, Sparsifier


def build_sparsifier(cfg: SparseConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                     ctx: SparseContext) -> Sparsifier:
    """Validate `cfg` and attach the chosen method to `model` (unwrapped, not DDP) and
    `optimizer`. Under DDP, call it after wrapping so every rank starts from rank 0's
    weights (magnitude- and gradient-based masks depend on them)."""
    validate(cfg, list(METHODS), list(DISTRIBUTIONS))
    return METHODS[cfg.method](cfg, model, optimizer, ctx)


def list_methods() -> list[tuple[str, str]]:
    """(name, one-line description) of every method, for `vidsparse list methods`."""
    return [(name, cls.description) for name, cls in METHODS.items()]
