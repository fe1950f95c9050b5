"""fvcore (last release 2022) against PyTorch's own ``FlopCounterMode`` over the whole model zoo,
so that replacing fvcore later cannot silently change a published FLOP count.

Conventions converted: fvcore counts one multiply-add as one FLOP, FlopCounterMode as two, so
its totals are halved. What each counts differs in two known ways, both handled here:

* FlopCounterMode has no formula for CPU ``scaled_dot_product_attention``
  (``_scaled_dot_product_flash_attention_for_cpu``); we give it PyTorch's own SDPA formula, the
  same two matrix products ``core.flop_count.sdpa_flops`` adds to fvcore.
* fvcore also counts element-wise normalisation and pooling (``batch_norm``, ``layer_norm``,
  ``adaptive_avg_pool*``, ...), which FlopCounterMode ignores. Those operators are left out of
  fvcore's total before comparing.

Tolerance: the matrix products (convolutions, linear layers, matmul/bmm/einsum, attention) must
agree to 0.1% (in practice exactly); the whole fvcore total may exceed them only by the
element-wise operators, which stay under 15% in every tiny model.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from vidsparse.core.flop_count import flop_analysis
from vidsparse.models import create_model, list_models, model_input

ELEMENTWISE = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "adaptive_avg_pool", "upsample")
MATRIX_TOLERANCE = 1e-3
ELEMENTWISE_SHARE = 0.15


def _cpu_sdpa(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


CUSTOM = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa}


def _distinct_tiny_models() -> list[str]:
    """One model per distinct tiny network: several names (resnet18/resnet34, deit_*, x3d_*)
    share their tiny configuration, and counting it twice would only cost time."""
    seen: dict[tuple, str] = {}
    for name in list_models():
        model = create_model(name, 5, size="tiny")
        signature = (type(model).__name__, model_input(name, "tiny").shape(),
                     tuple((k, tuple(p.shape)) for k, p in model.named_parameters()))
        seen.setdefault(signature, name)
    return sorted(seen.values())


@pytest.fixture(scope="module")
def counts() -> dict[str, tuple[dict[str, float], float]]:
    """fvcore's per-operator counts and FlopCounterMode's halved total, per distinct model."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for name in _distinct_tiny_models():
            torch.manual_seed(0)
            model = create_model(name, 5, size="tiny").eval()
            x = torch.randn(model_input(name, "tiny").shape(batch=1))
            by_op = dict(flop_analysis(model, x).by_operator())
            with FlopCounterMode(display=False, custom_mapping=CUSTOM) as counter, torch.no_grad():
                model(x)
            out[name] = by_op, counter.get_total_flops() / 2  # 2 FLOPs per multiply-add -> 1
    finally:
        torch.set_num_threads(previous)
    return out


def test_zoo_is_covered(counts):
    assert len(counts) >= 15
    assert {"r3d_18", "timesformer", "swin3d_t", "mvit_v2_s", "resnet18", "deit_base", "efficientnet_b0"} <= set(counts)


def test_matrix_products_agree(counts):
    for name, (by_op, torch_total) in counts.items():
        matrix = sum(v for k, v in by_op.items() if not k.startswith(ELEMENTWISE))
        assert torch_total > 0
        assert abs(matrix - torch_total) <= MATRIX_TOLERANCE * torch_total, (name, by_op, torch_total)


def test_fvcore_extra_is_only_elementwise(counts):
    for name, (by_op, torch_total) in counts.items():
        total = sum(by_op.values())
        assert torch_total * (1 - MATRIX_TOLERANCE) <= total <= torch_total * (1 + ELEMENTWISE_SHARE), (name, by_op)


def test_known_values():
    """Hand-checked: a 3x3 conv, 2->4 channels, on 8x8 (padding 1) is 4*8*8*2*9 = 4608 MACs."""
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), torch.nn.Flatten(),
                                torch.nn.Linear(256, 3, bias=False))
    x = torch.randn(1, 2, 8, 8)
    with FlopCounterMode(display=False) as counter:
        model(x)
    assert flop_analysis(model, x).total() == 4608 + 768 == counter.get_total_flops() / 2
