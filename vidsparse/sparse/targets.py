"""Which weight tensors get masks: chosen by module TYPE, never by parameter-name patterns.

Only the weights of convolutions, linear layers and attention projections are maskable.
Biases, normalisation layers, embeddings, positional/class tokens and relative-position
tables are never registered here, so they can never be masked by accident (a name list
would silently miss a new model's `pos_embed` spelled differently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

ParamNames = Callable[[nn.Module], tuple[str, ...]]
SPARSE_MODULE_TYPES: dict[type[nn.Module], ParamNames] = {}


def register_sparse_module(module_type: type[nn.Module], param_names: ParamNames) -> None:
    """Declare which parameters of a module type are maskable (subclasses inherit it)."""
    SPARSE_MODULE_TYPES[module_type] = param_names


def _weight_only(module: nn.Module) -> tuple[str, ...]:
    return ("weight",)


def _attention_projections(module: nn.MultiheadAttention) -> tuple[str, ...]:
    # out_proj is an nn.Linear subclass and is found as its own module.
    if module.in_proj_weight is not None:
        return ("in_proj_weight",)
    return ("q_proj_weight", "k_proj_weight", "v_proj_weight")


for _type in (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d):
    register_sparse_module(_type, _weight_only)
register_sparse_module(nn.MultiheadAttention, _attention_projections)


def maskable_parameter_names(module: nn.Module) -> tuple[str, ...]:
    """Maskable parameter names of one module, looked up along its class hierarchy."""
    for cls in type(module).__mro__:
        if cls in SPARSE_MODULE_TYPES:
            return SPARSE_MODULE_TYPES[cls](module)
    return ()


@dataclass(eq=False)
class SparseTensor:
    """One maskable weight and its mask (None = every weight active)."""

    name: str  # as in model.named_parameters()
    module_name: str
    param: nn.Parameter
    order: int  # position in the forward pass (first layer = 0)
    dense: bool = False  # kept dense by option; never masked
    target: int = 0  # active count the distribution assigns (the method's goal)
    _mask: Tensor | None = field(default=None, repr=False)
    _active: int | None = field(default=None, repr=False)  # cached count of the mask

    @property
    def mask(self) -> Tensor | None:
        return self._mask

    @mask.setter
    def mask(self, mask: Tensor | None) -> None:
        self.assign(mask)

    def assign(self, mask: Tensor | None, active: int | None = None) -> None:
        """Set the mask; pass `active` when the caller already knows the count."""
        self._mask, self._active = mask, active

    @property
    def numel(self) -> int:
        return self.param.numel()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.param.shape)

    @property
    def active(self) -> int:
        if self._active is None:
            self._active = self.numel if self._mask is None else int(self._mask.count_nonzero())
        return self._active

    @property
    def active_mask(self) -> Tensor:
        """Bool mask, materialised as all-True for a dense tensor."""
        if self._mask is None:
            return torch.ones_like(self.param, dtype=torch.bool)
        return self._mask


def single_sample_args(example_input: Tensor | tuple) -> tuple:
    """Positional model arguments cut to the first sample: enough for shapes, order, FLOPs."""
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    return tuple(a[:1] if isinstance(a, Tensor) and a.dim() > 0 else a for a in args)


def execution_order(model: nn.Module, example_input: Tensor | tuple | None,
                    module_names: list[str]) -> dict[str, int]:
    """Order in which the given modules are first entered in one forward pass.

    Modules that are never called themselves (nn.MultiheadAttention.out_proj: its weight is
    used functionally by the parent) take their closest called ancestor's position; without
    an example input, registration order is used.
    """
    registration = {name: i for i, name in enumerate(module_names)}
    if example_input is None:
        return registration
    modules = dict(model.named_modules())
    seen: dict[str, int] = {}

    def record(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: tuple) -> None:  # must return None: keeps the input
            seen.setdefault(name, len(seen))
        return hook

    hooks = [modules[name].register_forward_pre_hook(record(name)) for name in module_names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(*single_sample_args(example_input))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    order = {}
    for name in module_names:
        ancestor = name
        while ancestor not in seen and ancestor:
            ancestor = ancestor.rpartition(".")[0]
        # Called modules keep their slot; uncalled ones sort right after their ancestor,
        # and modules outside the forward pass go last in registration order.
        order[name] = (2 * seen[ancestor] + (ancestor != name) if ancestor in seen
                       else 2 * len(seen) + registration[name])
    return order


def find_sparse_tensors(model: nn.Module, example_input: Tensor | tuple | None = None,
                        dense_first_layer: bool = False,
                        dense_classifier: bool = False) -> list[SparseTensor]:
    """All maskable weights of `model` in registration order, with the first-executed
    (stem / patch embedding) and last-executed (classifier) ones optionally marked dense.
    Frozen parameters are skipped: they are not trained, so sparse training has no say."""
    found: list[tuple[str, str, nn.Parameter]] = []
    seen_params: set[int] = set()
    for module_name, module in model.named_modules():
        for attr in maskable_parameter_names(module):
            param = getattr(module, attr, None)
            if not isinstance(param, nn.Parameter) or not param.requires_grad:
                continue
            if id(param) in seen_params:  # tied weights are masked once
                continue
            seen_params.add(id(param))
            found.append((f"{module_name}.{attr}" if module_name else attr, module_name, param))
    module_names = list(dict.fromkeys(module_name for _, module_name, _ in found))
    order = execution_order(model, example_input, module_names)
    tensors = [SparseTensor(name, module_name, param, order[module_name])
               for name, module_name, param in found]
    if tensors:
        first, last = min(t.order for t in tensors), max(t.order for t in tensors)
        for t in tensors:
            t.dense = (dense_first_layer and t.order == first) or (dense_classifier and t.order == last)
    return tensors
