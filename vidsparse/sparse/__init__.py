"""Sparse training: masks, layer-wise density, schedules and the DST / pruning methods.

    sparsifier = build_sparsifier(SparseConfig(method="rigl", sparsity=0.5), model, opt, ctx)
    loss.backward(); sparsifier.before_step(step); opt.step(); sparsifier.after_step(step)
"""

from vidsparse.sparse.build import build_sparsifier, list_methods, training_epochs
from vidsparse.sparse.config import SparseConfig, SparseContext
from vidsparse.sparse.distributed import assert_masks_identical, broadcast_masks
from vidsparse.sparse.sparsifier import Sparsifier, register_method
from vidsparse.sparse.targets import register_sparse_module

__all__ = ["SparseConfig", "SparseContext", "Sparsifier", "build_sparsifier", "list_methods",
           "assert_masks_identical", "broadcast_masks", "register_method",
           "register_sparse_module", "training_epochs"]
