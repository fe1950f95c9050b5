"""Methods whose masks never change: dense and static random."""

from __future__ import annotations

from vidsparse.sparse.sparsifier import Sparsifier, register_method


@register_method
class Dense(Sparsifier):
    name = "dense"
    description = "dense training; no masks (the baseline)"
    uses_sparsity = False

    def check(self) -> None:
        if self.cfg.sparsity:
            self.ctx.log(f"sparse: method dense ignores sparsity {self.cfg.sparsity}")


@register_method
class Static(Sparsifier):
    name = "static"
    description = "random mask at init (uniform/ER/ERK), fixed for the whole run"

    def initialize(self) -> None:
        self.random_masks([t.target for t in self.sparse_tensors])
