"""Fake CUDA tensors on a CPU-only machine: device checks without a GPU.

Inside ``fake_cuda()`` every tensor is a ``FakeTensor`` (shape, dtype and device, no data), so
``torch.empty(..., device="cuda")`` works here, and an operation that mixes a CUDA tensor with a
CPU tensor of one or more dimensions raises ``FakeTensorDeviceMismatchError``, exactly where a
real GPU run would fail. Code under test therefore runs unchanged; a tensor built on the CPU
(a constant, a kernel, a table) and used with the input is a leak the test reports.

Two things a fake tensor cannot do are stubbed, because they are about values, not devices:

- reading a value (``.item()``, ``bool(t)``, ``torch.equal``) returns 0 / 0.0 / True,
  so control flow picks some branch and carries on;
- ops whose output shape depends on values (``nonzero``, boolean indexing) return a result with
  one row / the input's shape, on the input's device.

``torch.Generator(device="cuda")`` needs a CUDA driver; inside the block it is a CPU generator
that reports the CUDA device (fake random ops never read its state). Caches that hold tensors
(``functools`` caches of the ``corruptions`` and ``vidsparse`` modules, keyed by device) are
cleared on entry and exit, so fake tensors never reach a later real run in the same process.

Backward passes cannot run: the autograd engine asks the CUDA driver for a device context. The
forward pass is checked for real; ``fake_autograd()`` stands in for
backward with gradients shaped (and placed) like their inputs, which is what backward yields.

Reused by every device test (``tests/test_fake_cuda.py``, the batched corruptions' tests)::

    with fake_cuda() as cuda:
        out = corruptions.apply(cuda.empty(4, 3, 32, 32, dtype=torch.uint8), "fog", 3, seed=0)
        assert out.device.type == "cuda"
"""

from __future__ import annotations

import sys
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator
from unittest import mock

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten
CUDA = torch.device("cuda", 0)
_RealGenerator = torch.Generator


class _FakeDeviceGenerator(_RealGenerator):
    """A CPU generator that says it lives on ``device`` (fake random ops ignore its state)."""

    def __new__(cls, device: Any = "cpu") -> "_FakeDeviceGenerator":
        return _RealGenerator.__new__(cls)  # a CPU generator: creating a CUDA one needs a driver

    def __init__(self, device: Any = "cpu") -> None:
        super().__init__()
        self._device = torch.device(device)
        if self._device.type == "cuda" and self._device.index is None:
            self._device = CUDA

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return self._device


def _scalar(t: torch.Tensor) -> Any:
    if t.dtype == torch.bool:
        return True  # checks pass (finite, in range); loops on a flag must not depend on it
    return 0.0 if t.dtype.is_floating_point or t.dtype.is_complex else 0


class _ValueStub(TorchDispatchMode):
    """Answers the value-dependent ops that ``FakeTensorMode`` cannot (see the module docstring)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        if func is aten._local_scalar_dense.default:
            return _scalar(args[0])
        if func in (aten.equal.default, aten.is_nonzero.default):
            return True
        if func is aten.nonzero.default:
            return torch.zeros((1, args[0].dim()), dtype=torch.long, device=args[0].device)
        if func is aten.masked_select.default:
            return torch.zeros((1,), dtype=args[0].dtype, device=args[0].device)
        if func in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default) and any(
                i is not None and i.dtype == torch.bool for i in args[1]):
            return args[0] if func is aten.index_put_.default else args[0].clone()
        return func(*args, **kwargs)


def clear_tensor_caches() -> int:
    """Clear every ``functools`` cache in the ``corruptions`` and ``vidsparse`` modules; returns how many."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("corruptions", "vidsparse")):
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and isinstance(
                    getattr(value, "__wrapped__", None), type(clear_tensor_caches)):
                value.cache_clear()
                cleared += 1
    return cleared


class FakeCuda:
    """Handle of one ``fake_cuda()`` block: makes fake CUDA tensors and modules."""

    device = CUDA

    def __init__(self, mode: FakeTensorMode) -> None:
        self.mode = mode

    def empty(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype, device=CUDA)

    def module(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` with fake CUDA parameters and buffers (build it outside the block)."""
        return module.to(CUDA)


def _fake_grad(outputs: Any, inputs: Any, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, ...]:
    outputs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    assert_on(inputs[0].device, *outputs)
    return tuple(torch.empty_like(x) for x in inputs)


def _leaves(output: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors ``output`` was computed from (the AccumulateGrad nodes of its graph)."""
    leaves, seen, stack = [], set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.append(node.variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def _fake_backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> None:
    for leaf in _leaves(self):
        assert leaf.device == self.device, f"a leaf on {leaf.device}, the loss on {self.device}"
        leaf.grad = torch.empty_like(leaf)


@contextmanager
def fake_autograd() -> Iterator[None]:
    """``torch.autograd.grad`` and ``Tensor.backward`` give gradients like their inputs / leaves,
    after checking they share the output's device (see the module docstring)."""
    with mock.patch.object(torch.autograd, "grad", _fake_grad), \
            mock.patch.object(torch.Tensor, "backward", _fake_backward):
        yield


@contextmanager
def fake_cuda() -> Iterator[FakeCuda]:
    """Fake CUDA for the length of the block (see the module docstring)."""
    clear_tensor_caches()
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch, "Generator", _FakeDeviceGenerator))
        stack.callback(clear_tensor_caches)
        stack.enter_context(mode)
        stack.enter_context(_ValueStub())
        yield FakeCuda(mode)


def assert_on(device: torch.device, *tensors: Any) -> None:
    """Every tensor (nested in tuples, lists and dicts too) is on ``device``."""
    for value in tensors:
        if isinstance(value, torch.Tensor):
            assert value.device == device, f"tensor on {value.device}, expected {device}"
        elif isinstance(value, (list, tuple)):
            assert_on(device, *value)
        elif isinstance(value, dict):
            assert_on(device, *value.values())


__all__ = ["CUDA", "FakeCuda", "assert_on", "clear_tensor_caches", "fake_autograd", "fake_cuda"]
