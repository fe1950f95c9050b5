"""Name -> method lookup: the two functions the rest of vidsparse calls."""

from __future__ import annotations

import torch
from torch import nn

from vidsparse.sparse import methods  # noqa: F401  (registers every method)
from vidsparse.sparse.config import SparseConfig, SparseContext, resolve_defaults, validate
from vidsparse.sparse.density import DISTRIBUTIONS
from vidsparse.sparse.sparsifier import METHODS, Sparsifier


def build_sparsifier(cfg: SparseConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                     ctx: SparseContext) -> Sparsifier:
    """Validate `cfg` and attach the chosen method to `model` (unwrapped, not DDP) and
    `optimizer`. Under DDP, call it after wrapping (DDP's constructor copies rank 0's weights
    to every rank, so magnitude- and gradient-based masks start from the same weights
    everywhere) and pass the module inside; the sparsifier checks right away that every
    rank drew the same masks (`assert_masks_identical`)."""
    validate(cfg, list(METHODS), list(DISTRIBUTIONS))
    return METHODS[cfg.method](cfg, model, optimizer, ctx)


def training_epochs(cfg: SparseConfig, epochs: int) -> tuple[int, int]:
    """(epochs in all, epochs per learning-rate schedule) of a run asked for `epochs`: the
    training loop sizes the run and its LR schedule with this (LTH/IMP trains every round
    for the full schedule)."""
    validate(resolve_defaults(cfg), list(METHODS), list(DISTRIBUTIONS))
    return METHODS[cfg.method].training_epochs(cfg, epochs)


def list_methods() -> list[tuple[str, str]]:
    """(name, one-line description) of every method, for `vidsparse list methods`."""
    return [(name, cls.description) for name, cls in METHODS.items()]
