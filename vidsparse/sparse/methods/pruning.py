"""Pruning baselines: masks come from a score once (SNIP, OMP), on a gradual schedule
(GMP), or over rounds with rewinding (LTH), and never regrow.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from vidsparse.core.checkpoint import load_checkpoint
from vidsparse.errors import UserError
from vidsparse.run_dir import RunDir
from vidsparse.sparse.distributed import is_distributed
from vidsparse.sparse.config import SparseConfig
from vidsparse.sparse.masks import global_drop_lowest
from vidsparse.sparse.schedules import cubic_density
from vidsparse.sparse.sparsifier import Sparsifier, check_prune_schedule, register_method


@register_method
class SNIP(Sparsifier):
    name = "snip"
    description = "SNIP: keep the top |w * grad| connections at init, ranked globally (Lee et al. 2019)"

    def initialize(self) -> None:
        tensors = self.sparse_tensors
        scores = self._connection_sensitivity()
        n_drop = sum(t.numel for t in tensors) - sum(t.target for t in tensors)
        masks = global_drop_lowest([torch.ones_like(s, dtype=torch.bool) for s in scores],
                                   scores, n_drop)
        self.install_masks(masks)

    def _connection_sensitivity(self) -> list[Tensor]:
        """|w * dL/dw| with the gradient summed over snip_batches batches (averaged over
        ranks). BatchNorm statistics touched by these passes are restored afterwards."""
        model = self.model
        buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
        model.zero_grad(set_to_none=True)
        seen = 0
        for inputs, labels in itertools.islice(self.ctx.batches(), self.cfg.snip_batches):
            args = inputs if isinstance(inputs, tuple) else (inputs,)
            self.ctx.loss_fn(model(*args), labels).backward()
            seen += 1
        if seen == 0:
            raise UserError("snip needs at least one training batch, but the data loader is empty")
        params = [t.param for t in self.sparse_tensors]
        grads = [torch.zeros_like(p) if p.grad is None else p.grad.detach() for p in params]
        if is_distributed():
            for grad in grads:
                dist.all_reduce(grad)
        scores = [(p.detach() * g).abs() for p, g in zip(params, grads)]
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
        return scores


@register_method
class GMP(Sparsifier):
    name = "gmp"
    description = "GMP: gradual magnitude pruning from dense on a cubic schedule (Zhu & Gupta 2017)"
    prunes = True
    default_prune_scope = "layer"

    def check(self) -> None:
        check_prune_schedule(self)

    def update(self, step: int) -> bool:
        if not self.schedule.is_prune(step):
            return False
        s = self.schedule
        self.prune_to(lambda d0, d1: cubic_density(step, s.prune_start, s.prune_end, d0, d1))
        return True


def load_dense_weights(model: nn.Module, run_dir: Path) -> Path:
    """Load the "model" weights of RUN_DIR/best.pt (or last.pt) into `model`."""
    path = next((p for p in (RunDir(run_dir).best, RunDir(run_dir).last) if p.is_file()), None)
    if path is None:
        raise UserError(f"no best.pt or last.pt in {run_dir}; --init-from must be the RUN_DIR "
                        f"of a finished dense run")
    device = next(model.parameters()).device
    checkpoint = load_checkpoint(path, device)  # weights_only: a planted file cannot run code
    state = checkpoint.get("model") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise UserError(f"{path} has no 'model' weights; point --init-from at a vidsparse run")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatch
        raise UserError(f"{path} does not fit this model ({str(err).splitlines()[-1].strip()}); "
                        f"use the same --model and dataset as the dense run") from None
    if missing or unexpected:
        raise UserError(f"{path} does not fit this model (missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]}); use the same --model and dataset as the dense run")
    return path


@register_method
class OMP(Sparsifier):
    name = "omp"
    description = "OMP: one-shot magnitude pruning of a trained dense run (init_from), then training"
    prunes = True
    default_prune_scope = "global"

    def check(self) -> None:
        if not self.cfg.init_from:
            raise UserError("method omp needs --init-from RUN_DIR (a trained dense run)")
        if not Path(self.cfg.init_from).is_dir():
            raise UserError(f"--init-from {self.cfg.init_from} is not a directory; pass the "
                            f"RUN_DIR of a trained dense run")

    def initialize(self) -> None:
        path = load_dense_weights(self.model, Path(self.cfg.init_from))
        self.prune_to(lambda d0, d1: d1)
        self.ctx.log(f"sparse: omp pruned the weights of {path} to density "
                     f"{self.density_totals()['density']:.4f}")


@register_method
class LTH(Sparsifier):
    name = "lth"
    description = ("LTH: iterative magnitude pruning over `rounds`, each round training the "
                   "full schedule from weights rewound to init or rewind_epoch "
                   "(Frankle & Carbin 2019); costs `rounds` trainings")
    prunes = True
    default_prune_scope = "global"

    @classmethod
    def training_epochs(cls, cfg: SparseConfig, epochs: int) -> tuple[int, int]:
        """imp (published IMP): every round trains `epochs` with the LR schedule restarted,
        so the run trains rounds x epochs; split: `epochs` in all, one LR schedule."""
        if cfg.lth_schedule == "imp":
            return epochs * max(cfg.rounds, 1), epochs
        return epochs, epochs

    def check(self) -> None:
        rounds, epochs = self.cfg.rounds, self.ctx.epochs
        if rounds < 2:
            raise UserError(f"sparse.rounds={rounds}: lth needs >= 2 rounds (the first trains "
                            f"dense, the last at the target sparsity)")
        if self.cfg.lth_schedule == "imp":
            if epochs < rounds or epochs % rounds:
                raise UserError(f"lth (imp) trains each of its {rounds} rounds for the full "
                                f"schedule, so the run needs a multiple of {rounds} epochs "
                                f"(sparse.training_epochs), got {epochs}")
            per_round = epochs // rounds  # the loop trains rounds x --epochs (training_epochs)
            self.round_ends = [r * per_round for r in range(1, rounds)]
        else:
            if epochs < rounds:
                raise UserError(f"lth with {rounds} rounds needs at least {rounds} epochs, got "
                                f"{epochs}; raise --epochs or lower --rounds")
            self.round_ends = [round(r * epochs / rounds) for r in range(1, rounds)]
        # Epochs completed when each round ends; the last round just trains to the end.
        if self.cfg.rewind_epoch >= self.round_ends[0]:
            raise UserError(f"sparse.rewind_epoch={self.cfg.rewind_epoch} must be before the end "
                            f"of the first round (epoch {self.round_ends[0]})")

    def initialize(self) -> None:
        self.rewind_weights = self._snapshot() if self.cfg.rewind_epoch == 0 else None

    def epoch_end(self, epoch: int) -> None:
        done = epoch + 1
        if done == self.cfg.rewind_epoch:
            self.rewind_weights = self._snapshot()
        if done not in self.round_ends:
            return
        round_index = self.round_ends.index(done) + 1
        fraction = round_index / (self.cfg.rounds - 1)
        self.prune_to(lambda d0, d1: d0 * (d1 / d0) ** fraction)
        self._rewind()
        lr = ("LR schedule restarted" if self.cfg.lth_schedule == "imp"
              else "the LR schedule continues")
        self.ctx.log(f"sparse: lth round {round_index}/{self.cfg.rounds} done: density "
                     f"{self.density_totals()['density']:.4f}, weights rewound to "
                     f"{'init' if self.cfg.rewind_epoch == 0 else f'epoch {self.cfg.rewind_epoch}'}"
                     f", optimizer state reset, {lr}")

    def _snapshot(self) -> dict[str, Tensor]:
        return {name: p.detach().clone() for name, p in self.model.named_parameters()}

    def _rewind(self) -> None:
        """Every parameter back to the snapshot (masked ones stay zero); fresh optimizer."""
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                p.copy_(self.rewind_weights[name])
        self._apply_masks()
        self.optimizer.state.clear()

    def extra_state(self) -> dict[str, Any]:
        return {"rewind_weights": self.rewind_weights}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.rewind_weights = state["rewind_weights"]  # copy_ in _rewind moves it to the device
