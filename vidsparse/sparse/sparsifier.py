"""The Sparsifier: owns the masks of one model and keeps its weights sparse during training.

Weights stay ordinary nn.Parameters that hold zeros where masked (in-place masking); the
masks live here, not as module buffers (DDP would broadcast them every forward) and not via
torch.nn.utils.prune (breaks nn.MultiheadAttention.out_proj, deepcopy and state-dict keys).
Per step: the loop calls `before_step` after backward (dense gradient available, averaged
under DDP), which runs any scheduled mask change and masks the gradients; an optimizer
step post-hook then zeroes masked weights again, whatever the optimizer did (momentum,
weight decay, Adam).

Methods are subclasses that only say how masks start (`initialize`) and change (`update`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from vidsparse.core.checkpoint import restore_generator
from vidsparse.errors import UserError
from vidsparse.sparse.config import SparseConfig, SparseContext
from vidsparse.sparse.density import distribute
from vidsparse.sparse.distributed import assert_masks_identical, broadcast_masks
from vidsparse.sparse.flops import FlopsModel, measure_flops
from vidsparse.sparse.masks import drop_lowest, global_drop_lowest, random_mask
from vidsparse.sparse.report import format_table, layer_table
from vidsparse.sparse.schedules import Schedule
from vidsparse.sparse.targets import SparseTensor, find_sparse_tensors

METHODS: dict[str, type["Sparsifier"]] = {}


def multiplier(mask: Tensor, param: Tensor) -> Tensor:
    """The mask as the per-step multiply uses it. On CUDA in the weight's dtype: _foreach_mul_
    then masks every layer in one fused launch (bool masks make it fall back to one kernel per
    layer), for 4 bytes per masked weight; x * 1.0 and x * 0.0 equal x * True and x * False.
    Elsewhere bool (1 byte), where launches cost nothing."""
    return mask.to(param.dtype) if param.is_cuda else mask


def register_method(cls: type["Sparsifier"]) -> type["Sparsifier"]:
    """Class decorator: make a method available under its `name`."""
    METHODS[cls.name] = cls
    return cls


def check_prune_schedule(sparsifier: "Sparsifier") -> None:
    """Gradual pruning that cannot finish inside the run would silently train at the wrong
    density, so it is an error."""
    s = sparsifier.schedule
    if not s.reaches_prune_end:
        raise UserError(f"{sparsifier.name} would not reach its target sparsity: the last pruning "
                        f"step {s.prune_end} is beyond the run's {s.total} steps; lower "
                        f"sparse.update_every (now {s.every} steps) or sparse.prune_end")


@dataclass
class EpochStats:
    """Counters since the last on_epoch_end (checkpointed, so a resumed epoch adds up)."""

    steps: int = 0
    updates: int = 0
    changed: int = 0  # weights whose mask flipped (dropped + grown)
    train_flops: float = 0.0  # per-sample estimate, summed over steps
    dense_train_flops: float = 0.0


@dataclass(frozen=True)
class TopologyUpdate:
    """The last mask change made in ``before_step`` (for experiment tracking)."""

    step: int  # the ``before_step`` argument: the update precedes optimizer step step + 1
    changed: int  # weights whose mask flipped in it (dropped + grown)


class Sparsifier:
    """Base class; on its own it keeps every weight dense and never changes anything."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    grows: ClassVar[bool] = False  # accepts sparse.grow
    default_grow: ClassVar[str] = ""
    prunes: ClassVar[bool] = False  # accepts sparse.prune_scope
    default_prune_scope: ClassVar[str] = "layer"
    uses_sparsity: ClassVar[bool] = True  # False: sparse.sparsity is ignored (dense)

    def __init__(self, cfg: SparseConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                 ctx: SparseContext) -> None:
        self.cfg, self.model, self.optimizer, self.ctx = cfg, model, optimizer, ctx
        self._check_options()
        self.tensors = find_sparse_tensors(model, ctx.example_input, cfg.dense_first_layer,
                                           cfg.dense_classifier)
        if not self.tensors:
            raise UserError("the model has no Conv/Linear/attention weights to sparsify")
        self.device = self.tensors[0].param.device
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)  # from the config, never the rank
        self.grow = cfg.grow or self.default_grow
        self.prune_scope = cfg.prune_scope or self.default_prune_scope
        self.schedule = Schedule.build(cfg.update_every, cfg.update_unit, ctx.steps_per_epoch,
                                       ctx.total_steps, (cfg.update_start, cfg.update_end),
                                       (cfg.prune_start, cfg.prune_end))
        counts = distribute(cfg.distribution, [t.shape for t in self.tensors], self.sparsity,
                            [t.dense for t in self.tensors])
        for t, count in zip(self.tensors, counts):
            t.target = count
        self.check()
        self.step = -1
        self.restore_notes: list[str] = []  # what a checkpoint from another device could not restore
        self.flops = self._measure_flops()
        self.epoch_stats = EpochStats()
        self.initialize()
        # Random draws on a device may differ between ranks (device type, GPU model): every rank
        # starts from rank 0's masks, checked (collectives under DDP; no-ops in one process).
        broadcast_masks(self)
        self._apply_masks()
        assert_masks_identical(self)
        self.epoch_stats = EpochStats()  # the initial masks are not "changes"
        self.last_update: TopologyUpdate | None = None
        self._refresh()
        self._hook = optimizer.register_step_post_hook(self._remask_after_optimizer_step)

    @property
    def sparsity(self) -> float:
        return self.cfg.sparsity if self.uses_sparsity else 0.0

    @classmethod
    def training_epochs(cls, cfg: SparseConfig, epochs: int) -> tuple[int, int]:
        """(epochs the run trains in all, epochs per learning-rate schedule) for a run asked
        to train `epochs`: one schedule over the run, except methods that repeat training
        (LTH's iterative magnitude pruning restarts it every round)."""
        return epochs, epochs

    # ----- what methods override -------------------------------------------------------
    def check(self) -> None:
        """Method-specific validation (raise UserError); runs before any heavy work."""

    def initialize(self) -> None:
        """Set the masks the run starts with."""

    def update(self, step: int) -> bool:
        """Change masks if `step` is scheduled; return True if anything was evaluated."""
        return False

    @property
    def reads_dense_gradient(self) -> bool:
        """Whether updates read the dense gradient (costs a dense backward in FLOPs terms)."""
        return False

    def epoch_end(self, epoch: int) -> None:
        """Per-epoch mask changes (LTH rounds)."""

    def drop_fraction_at(self, step: int) -> float | None:
        """The fraction of active weights an update at ``step`` swaps (None: the method swaps none)."""
        return None

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ----- the loop's interface --------------------------------------------------------
    def before_step(self, step: int) -> None:
        """After backward (and unscale/clipping), before optimizer.step()."""
        self.step = step
        changed = self.epoch_stats.changed
        updated = self.update(step)
        if updated:
            self.epoch_stats.updates += 1
            self.last_update = TopologyUpdate(step, self.epoch_stats.changed - changed)
            if self.cfg.broadcast_masks:
                broadcast_masks(self)
                self._apply_masks()
            self._refresh()
            assert_masks_identical(self)  # collective under DDP; a no-op in one process
        self._mask_gradients()
        if self.flops is not None:
            self.epoch_stats.train_flops += self.flops.train_step(
                self._densities, dense_gradient=updated and self.reads_dense_gradient)
            self.epoch_stats.dense_train_flops += 3 * self.flops.dense_total
        self.epoch_stats.steps += 1

    def after_step(self, step: int) -> None:
        """After optimizer.step(); re-masking already happened in the step post-hook."""
        self.step = step

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        """Metrics for metrics.csv of the model the epoch trained, then the method's
        epoch-end mask changes (an LTH round's prune and rewind), so the loop evaluates
        before calling this; `epoch` is the 0-based index of the epoch just finished."""
        metrics = self._epoch_metrics()
        self.epoch_end(epoch)
        self._refresh()
        assert_masks_identical(self)
        return metrics

    def _epoch_metrics(self) -> dict[str, float]:
        stats, self.epoch_stats = self.epoch_stats, EpochStats()
        total = self.density_totals()
        metrics = {"density": total["density"], "mask_changed": float(stats.changed),
                   "mask_updates": float(stats.updates)}
        if self.flops is not None:
            steps = max(stats.steps, 1)
            metrics.update({
                "train_gflops": stats.train_flops / steps / 1e9,
                "train_flops_ratio": (stats.train_flops / stats.dense_train_flops
                                      if stats.dense_train_flops else self._forward_ratio()),
                "infer_gflops": self._forward_flops / 1e9,
                "infer_flops_ratio": self._forward_ratio(),
            })
        return metrics

    def report(self) -> dict:
        """Per-layer table and totals (RUN_DIR/sparsity.json)."""
        table = layer_table(self.tensors, self.model)
        report = {"method": self.name, "sparsity": self.sparsity,
                  "distribution": self.cfg.distribution if self.uses_sparsity else "",
                  "at_target_density": self.at_target_density, **table}
        if self.flops is not None:
            report["flops"] = {"dense_forward": self.flops.dense_total,
                               "sparse_forward": self._forward_flops,
                               "forward_ratio": self._forward_ratio()}
        return report

    def format_report(self) -> str:
        return format_table(self.report())

    def state_dict(self) -> dict[str, Any]:
        return {"method": self.name,
                "masks": {t.name: t.mask for t in self.tensors},
                "generator": self.generator.get_state(),
                "step": self.step,
                "epoch_stats": asdict(self.epoch_stats),
                "extra": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["method"] != self.name:
            raise UserError(f"checkpoint was written by sparse method {state['method']!r}, not "
                            f"{self.name!r}; resume with --method {state['method']}")
        masks = state["masks"]
        names = {t.name for t in self.tensors}
        if set(masks) != names:
            raise UserError(f"checkpoint masks do not match this model (differ at "
                            f"{sorted(set(masks) ^ names)[:3]}); resume with the same --model")
        for t in self.tensors:
            mask = masks[t.name]
            t.mask = None if mask is None else mask.to(t.param.device, torch.bool)
        # a checkpoint from another device type holds the other kind of generator state
        reseed = self.cfg.seed * 1_000_003 + state["step"] + 1  # alike on every rank, not the first draws again
        self.restore_notes = restore_generator(self.generator, state["generator"], reseed,
                                               "the sparse method's random stream")
        self.step = state["step"]
        self.epoch_stats = EpochStats(**state["epoch_stats"])
        self.load_extra_state(state["extra"])
        self._apply_masks()
        self._refresh()

    def close(self) -> None:
        """Detach from the optimizer (the masks stop being enforced)."""
        self._hook.remove()

    # ----- helpers for methods ---------------------------------------------------------
    @property
    def sparse_tensors(self) -> list[SparseTensor]:
        """Tensors a method may mask (not kept dense by option)."""
        return [t for t in self.tensors if not t.dense]

    def set_mask(self, t: SparseTensor, new: Tensor, active: int | None = None) -> None:
        """Install a new mask: zero dropped weights, count flips, and (regrow_momentum=zero)
        reset every optimizer slot of newly grown weights, as RigL does. A weight dropped and
        regrown in the same update never leaves the mask, so it keeps its value and state.
        `active` is the new mask's count when the caller knows it (saves a pass)."""
        flipped = t.active_mask ^ new
        self.epoch_stats.changed += int(flipped.count_nonzero())
        t.assign(new, active)
        with torch.no_grad():
            t.param.mul_(new)
            slots = [s for s in self.optimizer.state.get(t.param, {}).values()
                     if isinstance(s, Tensor) and s.shape == t.param.shape]
            if slots and self.cfg.regrow_momentum == "zero":
                grown = flipped & new
                for slot in slots:
                    slot.masked_fill_(grown, 0)

    def install_masks(self, masks: list[Tensor | None]) -> None:
        """Set the starting masks of the sparse tensors and zero the masked weights."""
        for t, mask in zip(self.sparse_tensors, masks):
            t.mask = None if mask is None or bool(mask.all()) else mask
        self._apply_masks()
        self._refresh()

    def random_masks(self, counts: list[int]) -> None:
        """Exact-count random masks for the sparse tensors (dense where count == numel)."""
        self.install_masks([None if count >= t.numel else random_mask(t.shape, count, self.generator)
                            for t, count in zip(self.sparse_tensors, counts)])

    def prune_to(self, density: Callable[[float, float], float],
                 start: list[int] | None = None) -> None:
        """Magnitude pruning to density(d_start, d_final): per layer (prune_scope=layer) or
        ranked over all sparse tensors at once (global). d_final comes from the layer
        targets, d_start from `start` counts (default: dense)."""
        tensors = self.sparse_tensors
        start = start or [t.numel for t in tensors]
        scores = [t.param.detach().abs() for t in tensors]
        if self.prune_scope == "layer":
            for t, s, score in zip(tensors, start, scores):
                keep = round(t.numel * density(s / t.numel, t.target / t.numel))
                if keep < t.active:
                    new = drop_lowest(t.active_mask, score, t.active - keep, t.active)
                    self.set_mask(t, new, keep)
        else:
            numel = sum(t.numel for t in tensors)
            keep = round(numel * density(sum(start) / numel, sum(t.target for t in tensors) / numel))
            active = sum(t.active for t in tensors)
            if keep < active:
                new = global_drop_lowest([t.active_mask for t in tensors], scores, active - keep)
                for t, mask in zip(tensors, new):
                    self.set_mask(t, mask)

    @property
    def at_target_density(self) -> bool:
        """True once the masks hold the final number of weights (GMP/GraNet after pruning,
        LTH in its last round, MEST after the extra density is gone)."""
        tensors = self.sparse_tensors
        return sum(t.active for t in tensors) == sum(t.target for t in tensors)

    def density_totals(self) -> dict[str, float]:
        params = sum(t.numel for t in self.tensors)
        active = sum(t.active for t in self.tensors)
        return {"params": params, "active": active, "density": active / params}

    # ----- internals -------------------------------------------------------------------
    def _check_options(self) -> None:
        if self.cfg.grow and not self.grows:
            raise UserError(f"sparse.grow does not apply to method {self.name!r}; it selects the "
                            f"regrowth of set, rigl, mest and granet")
        if self.cfg.prune_scope and not self.prunes:
            raise UserError(f"sparse.prune_scope does not apply to method {self.name!r}; it is "
                            f"for gmp, granet, omp and lth")

    def _measure_flops(self) -> FlopsModel | None:
        if self.ctx.example_input is None:
            return None
        try:
            return measure_flops(self.model, self.ctx.example_input, self.tensors)
        except Exception as err:  # FLOPs are a report, not a reason to stop training
            self.ctx.log(f"sparse: FLOPs not counted (fvcore failed: {type(err).__name__}: {err})")
            return None

    def _apply_masks(self) -> None:
        masked = [t for t in self.tensors if t.mask is not None]
        if masked:
            with torch.no_grad():
                torch._foreach_mul_([t.param for t in masked], [t.mask for t in masked])

    def _refresh(self) -> None:
        """Rebuild the cached lists used every step, and the density-dependent FLOPs."""
        masked = [t for t in self.tensors if t.mask is not None]
        self._params = [t.param for t in masked]
        self._masks = [multiplier(t.mask, t.param) for t in masked]
        self._densities = {t.name: t.active / t.numel for t in self.tensors}
        self._forward_flops = self.flops.forward(self._densities) if self.flops else math.nan

    def _forward_ratio(self) -> float:
        return self._forward_flops / self.flops.dense_total if self.flops else math.nan

    def _mask_gradients(self) -> None:
        pairs = [(p.grad, m if m.dtype == p.grad.dtype else m.to(p.grad.dtype))
                 for p, m in zip(self._params, self._masks) if p.grad is not None]
        if pairs:
            grads, masks = zip(*pairs)
            torch._foreach_mul_(list(grads), list(masks))

    def _remask_after_optimizer_step(self, optimizer: torch.optim.Optimizer, args: Any,
                                     kwargs: Any) -> None:
        if self._params:
            with torch.no_grad():
                torch._foreach_mul_(self._params, self._masks)

