"""FLOPs estimates the way the RigL paper counts them: fvcore's per-layer forward counts
scaled by each layer's density; a training step costs about 3x the forward pass (forward,
input gradients, weight gradients), and a step that reads the dense gradient pays the weight
gradient densely (2 f_sparse + f_dense). The counts are theoretical: PyTorch still runs the
dense kernels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch import Tensor, nn

from vidsparse.core.flop_count import flop_analysis
from vidsparse.sparse.targets import SparseTensor, single_sample_args

# Modules whose every counted op uses their own weight; in other modules (attention) only
# the projection ops are weight-bound, the score/value products stay dense.
WEIGHT_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
PROJECTION_OPS = ("linear", "addmm", "matmul")


@dataclass
class FlopsModel:
    """Forward FLOPs per sample: the model total and the share of each maskable weight."""

    dense_total: float
    per_tensor: dict[str, float]

    def forward(self, densities: dict[str, float]) -> float:
        """Forward FLOPs with each weight's share scaled by its density."""
        saved = sum(f * (1.0 - densities.get(name, 1.0)) for name, f in self.per_tensor.items())
        return self.dense_total - saved

    def train_step(self, densities: dict[str, float], dense_gradient: bool) -> float:
        """One training step: 3 f_S, or 2 f_S + f_D when the dense gradient is read."""
        sparse = self.forward(densities)
        return 2 * sparse + self.dense_total if dense_gradient else 3 * sparse


def measure_flops(model: nn.Module, example_input: Tensor | tuple,
                  tensors: list[SparseTensor]) -> FlopsModel:
    """Count one sample's forward pass with fvcore (eval mode, so BatchNorm statistics stay
    untouched) and attribute each counted module's FLOPs to its weights."""
    was_training = model.training
    model.eval()
    try:
        # Traced with autograd on: under no_grad + eval, nn.MultiheadAttention takes a fused
        # fast path that fvcore cannot count.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's tracer warns about torch.jit
            analysis = flop_analysis(model, single_sample_args(example_input))
            by_module = analysis.by_module_and_operator()
            total = float(analysis.total())
    finally:
        model.train(was_training)
    modules = dict(model.named_modules())
    owners = {t.module_name for t in tensors}

    def accounting_module(name: str) -> str:
        # A weight used functionally by its parent (MultiheadAttention.out_proj) is counted
        # inside the parent's ops, so it shares the parent's count.
        if sum(by_module.get(name, {}).values()) > 0:
            return name
        parent = name
        while parent:
            parent = parent.rpartition(".")[0]
            if parent in owners and not isinstance(modules[parent], WEIGHT_MODULES):
                return parent
        return name

    groups: dict[str, list[SparseTensor]] = {}
    for t in tensors:
        groups.setdefault(accounting_module(t.module_name), []).append(t)
    per_tensor: dict[str, float] = {}
    for module_name, owned in groups.items():
        ops = by_module.get(module_name, {})
        if isinstance(modules[module_name], WEIGHT_MODULES):
            flops = float(sum(ops.values()))
        else:
            flops = float(sum(ops.get(op, 0) for op in PROJECTION_OPS))
        numel = sum(t.numel for t in owned)
        for t in owned:  # several weights share one count (q/k/v, in/out proj): split by size
            per_tensor[t.name] = flops * t.numel / numel
    return FlopsModel(total, per_tensor)
