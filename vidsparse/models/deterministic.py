"""Deterministic stand-ins for the layers whose CUDA backward has no deterministic kernel.

``torch.use_deterministic_algorithms(True)`` makes most CUDA kernels repeatable, but raises on
the backward of adaptive and 3-D average pooling and of linear/bicubic/trilinear interpolation.
Average pooling whose windows tile the input (a global pool, ``AdaptiveAvgPool`` with output
sizes that divide the input, ``AvgPool`` with stride == kernel and no padding) is a reshape
and a mean, whose backward is an expand: deterministic everywhere. ``make_deterministic``
swaps those in on a CUDA model under ``--deterministic`` and names the layers it cannot swap.
The swap is not made on the CPU, where every kernel is deterministic already and the numbers
must not move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

# Layers with no deterministic CUDA backward and no equivalent here (torch's documented list).
NONDETERMINISTIC = (nn.AdaptiveMaxPool2d, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d, nn.MaxUnpool1d,
                    nn.MaxUnpool2d, nn.MaxUnpool3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d,
                    nn.CTCLoss, nn.AvgPool3d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


class TiledAvgPool(nn.Module):
    """Average pooling over windows that tile the last ``dims`` dimensions, as reshape + mean.

    ``output_size`` (adaptive form, ``None`` entries keep a dimension) or ``kernel`` (stride ==
    kernel, trailing remainders dropped as ``AvgPool`` drops them). Sizes that do not tile
    fall back to ``adaptive_avg_pool``, which the deterministic mode then reports by raising.
    """

    def __init__(self, dims: int, output_size: tuple | None = None, kernel: tuple | None = None) -> None:
        super().__init__()
        self.dims, self.output_size, self.kernel = dims, output_size, kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = x.shape[-self.dims:]
        if self.kernel is not None:
            kernels = self.kernel
            outs = tuple(s // k for s, k in zip(sizes, kernels))
            x = x[(..., *(slice(0, o * k) for o, k in zip(outs, kernels)))]
        else:
            outs = tuple(s if o is None else o for s, o in zip(sizes, self.output_size))
            if any(s % o for s, o in zip(sizes, outs)):
                pool = nn.functional.adaptive_avg_pool3d if self.dims == 3 else nn.functional.adaptive_avg_pool2d
                return pool(x, self.output_size)
            kernels = tuple(s // o for s, o in zip(sizes, outs))
        if all(o == 1 for o in outs):
            return x.mean(tuple(range(-self.dims, 0)), keepdim=True)
        split = [n for o, k in zip(outs, kernels) for n in (o, k)]
        tiled = x.reshape(*x.shape[:-self.dims], *split)
        return tiled.mean(tuple(range(-2 * self.dims + 1, 0, 2)))

    def extra_repr(self) -> str:
        return f"dims={self.dims}, output_size={self.output_size}, kernel={self.kernel}"


def _as_tuple(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def tiled_equivalent(module: nn.Module) -> TiledAvgPool | None:
    """The deterministic stand-in for ``module``, or None when there is none."""
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        dims = 3 if isinstance(module, nn.AdaptiveAvgPool3d) else 2
        return TiledAvgPool(dims, output_size=_as_tuple(module.output_size, dims))
    if isinstance(module, nn.AvgPool3d):
        kernel, stride = _as_tuple(module.kernel_size, 3), _as_tuple(module.stride or module.kernel_size, 3)
        if kernel == stride and not any(_as_tuple(module.padding, 3)) and not module.ceil_mode \
                and module.divisor_override is None:
            return TiledAvgPool(3, kernel=kernel)
    return None


@dataclass
class DeterminismReport:
    replaced: list[str] = field(default_factory=list)  # "name (AdaptiveAvgPool3d)"
    nondeterministic: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        if self.replaced:
            out.append(f"deterministic: {len(self.replaced)} pooling layer(s) computed as means: "
                       f"{', '.join(self.replaced)}")
        if self.nondeterministic:
            out.append(f"deterministic: no deterministic CUDA backward for {', '.join(self.nondeterministic)}; "
                       "these stay nondeterministic (torch warns at each)")
        return out


def make_deterministic(model: nn.Module) -> DeterminismReport:
    """Swap, in place, pooling layers for their tiled-mean equivalents; report what remains."""
    report = DeterminismReport()
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            equivalent = tiled_equivalent(child)
            if equivalent is not None:
                setattr(module, child_name, equivalent)
                report.replaced.append(f"{full} ({type(child).__name__})")
            elif isinstance(child, NONDETERMINISTIC) or (
                    isinstance(child, nn.Upsample) and child.mode in INTERPOLATING):
                report.nondeterministic.append(f"{full} ({type(child).__name__})")
    return report


def interpolation_matrix(grid: tuple[int, ...], new_grid: tuple[int, ...], mode: str,
                         device: torch.device) -> torch.Tensor:
    """[prod(new_grid), prod(grid)] matrix A with A @ x == interpolate(x) for x laid out on ``grid``.

    Interpolation is linear in its input, so interpolating the identity gives the map; applying
    it is a matmul, whose backward is deterministic where interpolate's is not (CUDA).
    """
    n = 1
    for g in grid:
        n *= g
    eye = torch.eye(n, device=device).reshape(1, n, *grid)
    basis = nn.functional.interpolate(eye, size=new_grid, mode=mode, align_corners=False)
    return basis.reshape(n, -1).T
