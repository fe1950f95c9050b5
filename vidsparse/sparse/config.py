"""What the user chooses (SparseConfig) and what the training loop provides (SparseContext).

Validation lives here so every bad value fails at start-up with one line naming the fix,
instead of deep inside the first topology update.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from torch import Tensor

from vidsparse.errors import UserError, did_you_mean

GROW_RULES = ("random", "gradient")
REGROW_MOMENTUM = ("zero", "keep")
UPDATE_UNITS = ("steps", "epochs")
DROP_SCHEDULES = ("cosine", "constant")
PRUNE_SCOPES = ("layer", "global")
LTH_SCHEDULES = ("imp", "split")
MEST_SCHEDULES = ("linear", "bounds")

# The sparsity of a sparse method when none is given: the top of the 0.1-0.5 range of the
# DST robustness study this toolkit reproduces (arXiv 2410.03030), where sparse and dense
# models differ measurably, and half the weights gone is unmistakably sparse. "dense" is 0.
DEFAULT_SPARSITY = 0.5
# dT when update_every is 0 (auto): RigL's 100 steps (or one epoch with update_unit=epochs),
# shortened in a short run to a quarter of the update (or pruning) window so at least four
# topology updates happen and gradual pruning finishes inside the run.
DEFAULT_UPDATE_EVERY = 100
MIN_UPDATES = 4


@dataclass
class SparseConfig:
    """Sparse-training options; every field has a default so YAML/CLI may set any subset."""

    method: str = "dense"
    # overall fraction of zeros over the maskable layers, in [0, 1); None = the method's
    # default (DEFAULT_SPARSITY, 0 for dense), fixed by resolve_defaults
    sparsity: float | None = None
    distribution: str = "erk"  # uniform | er | erk
    dense_first_layer: bool = False
    dense_classifier: bool = False
    update_every: int = 0  # dT, in `update_unit`; 0 = auto (DEFAULT_UPDATE_EVERY, scaled to short runs)
    update_unit: str = "steps"  # steps | epochs
    update_start: float = 0.0  # fraction of training
    update_end: float = 0.75  # fraction of training
    drop_fraction: float = 0.3
    drop_schedule: str = "cosine"  # cosine | constant
    grow: str = ""  # "" = method default; random | gradient
    regrow_momentum: str = "zero"  # zero | keep
    set_signed_drop: bool = False  # SET reference: drop separately among positive and negative weights
    mest_lambda: float = 0.0
    mest_extra_density: float = 0.1  # EM&S: extra active weights as a fraction of the target count
    mest_extra_until: float = 0.5  # fraction of training by which the extra density is gone
    mest_schedule: str = "linear"  # linear decay of the extra density | bounds (MEST code's epochs)
    initial_density: float = 0.8  # granet start density
    prune_start: float = 0.0  # gmp/granet pruning window (fractions of training)
    prune_end: float = 0.75
    prune_scope: str = ""  # "" = method default; layer | global (gmp, omp, lth)
    snip_batches: int = 1
    init_from: str = ""  # omp: RUN_DIR of a trained dense run
    rounds: int = 3  # lth
    lth_schedule: str = "imp"  # imp: each round trains all epochs, LR restarted | split: epochs / rounds
    rewind_epoch: int = 0  # lth: rewind to weights after this many epochs (0 = init)
    broadcast_masks: bool = False  # distributed guard: copy rank 0's masks after every update
    seed: int = 0  # mask RNG seed; identical on every rank


@dataclass
class SparseContext:
    """What the training loop hands the sparsifier: sizes of the run and access to data."""

    total_steps: int
    steps_per_epoch: int
    epochs: int
    example_input: Tensor | tuple | None  # one batch of model input, for FLOPs and layer order
    loss_fn: Callable[[Tensor, Tensor], Tensor]
    batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]  # fresh iterator of (inputs, labels)
    run_dir: Path | None = None
    log: Callable[[str], None] = print


def default_sparsity(method: str) -> float:
    return 0.0 if method == "dense" else DEFAULT_SPARSITY


def resolve_defaults(cfg: SparseConfig) -> SparseConfig:
    """Fill the defaults that depend on the method (sparsity), in place; returns `cfg`."""
    if cfg.sparsity is None:
        cfg.sparsity = default_sparsity(cfg.method)
    return cfg


def _check_fraction(name: str, value: float, upper_open: bool = False) -> None:
    ok = 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0
    if not ok:
        bound = "[0, 1)" if upper_open else "[0, 1]"
        raise UserError(f"sparse.{name}={value} is out of range; use a value in {bound}")


def _check_choice(name: str, value: str, choices: tuple[str, ...], allow_empty: bool = False) -> None:
    if allow_empty and value == "":
        return
    if value not in choices:
        raise did_you_mean(value, choices, f"sparse.{name}")


def validate(cfg: SparseConfig, methods: list[str], distributions: list[str]) -> None:
    """Raise UserError for the first invalid field (names and ranges only; method-specific
    requirements such as `init_from` are checked by the method that needs them)."""
    _check_choice("method", cfg.method, tuple(methods))
    _check_choice("distribution", cfg.distribution, tuple(distributions))
    _check_choice("grow", cfg.grow, GROW_RULES, allow_empty=True)
    _check_choice("regrow_momentum", cfg.regrow_momentum, REGROW_MOMENTUM)
    _check_choice("update_unit", cfg.update_unit, UPDATE_UNITS)
    _check_choice("drop_schedule", cfg.drop_schedule, DROP_SCHEDULES)
    _check_choice("prune_scope", cfg.prune_scope, PRUNE_SCOPES, allow_empty=True)
    _check_choice("lth_schedule", cfg.lth_schedule, LTH_SCHEDULES)
    _check_choice("mest_schedule", cfg.mest_schedule, MEST_SCHEDULES)
    resolve_defaults(cfg)
    _check_fraction("sparsity", cfg.sparsity, upper_open=True)
    for name in ("drop_fraction", "update_start", "update_end", "prune_start", "prune_end",
                 "mest_extra_until", "initial_density"):
        _check_fraction(name, getattr(cfg, name))
    if cfg.update_start > cfg.update_end:
        raise UserError(f"sparse.update_start={cfg.update_start} is after sparse.update_end="
                        f"{cfg.update_end}; make start <= end")
    if cfg.prune_start > cfg.prune_end:
        raise UserError(f"sparse.prune_start={cfg.prune_start} is after sparse.prune_end="
                        f"{cfg.prune_end}; make start <= end")
    if cfg.update_every < 0:
        raise UserError(f"sparse.update_every={cfg.update_every} must be >= 1 (or 0 = auto)")
    if cfg.mest_extra_density < 0 or cfg.mest_lambda < 0:
        raise UserError("sparse.mest_extra_density and sparse.mest_lambda must be >= 0")
    if cfg.snip_batches < 1:
        raise UserError(f"sparse.snip_batches={cfg.snip_batches} must be >= 1")

