"""One configured fvcore FlopCountAnalysis for the whole toolkit (model stats and sparse FLOPs).

Convention: one multiply-add = one FLOP (fvcore's). fvcore does not count PyTorch's fused
``scaled_dot_product_attention``; we add its two matrix products so transformer totals are
not understated (about a quarter of a ViT-B's cost at 16x224).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from torch import nn


def sdpa_flops(inputs: list[Any], outputs: list[Any]) -> int:
    """scaled_dot_product_attention: Q @ K^T then A @ V."""
    from fvcore.nn.jit_handles import get_shape  # optional: fvcore (heavy)

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def flop_analysis(model: nn.Module, inputs: Any):
    """A FlopCountAnalysis with the attention handle and fvcore's warnings silenced."""
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's import warns about torch.jit.script
        from fvcore.nn import FlopCountAnalysis  # optional: fvcore (heavy)

    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flops)
    return analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
