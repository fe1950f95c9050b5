"""C3D (Tran et al. 2015): eight 3x3x3 convolutions, five poolings, three fully connected layers."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from torch import Tensor, nn

from vidsparse.models.registry import InputSpec, check_positive, pick_size, register_model


@dataclass(frozen=True)
class C3DSize:
    convs: tuple[int, ...]  # convolutions per stage (the paper: 1, 1, 2, 2, 2)
    width: int  # channels of stage 1; stages 2-5 use 2x, 4x, 8x, 8x
    fc_dim: int  # fc6 / fc7 width
    temporal_pools: int  # poolings (from pool2 on) that also halve time: clip_len = 2 ** n
    pooled: tuple[int, int, int]  # (T, H, W) grid fed to fc6


C3D_STANDARD = C3DSize((1, 1, 2, 2, 2), 64, 4096, 4, (1, 4, 4))
C3D_TINY = C3DSize((1, 1, 1, 1, 1), 4, 16, 2, (1, 1, 1))


class C3D(nn.Module):
    """C3D with module names after the paper (conv1a ... fc8).

    The adaptive pool in front of fc6 is the identity at the standard 16x112 input (pool5
    already yields 1x4x4), and lets other clip lengths and crops reach the same fc6.
    """

    def __init__(self, num_classes: int, cfg: C3DSize, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        in_ch = 3
        for stage, convs in enumerate(cfg.convs, start=1):
            out_ch = cfg.width * (1, 2, 4, 8, 8)[stage - 1]
            for i in range(convs):
                layers.append((f"conv{stage}{'ab'[i]}", nn.Conv3d(in_ch, out_ch, 3, padding=1)))
                layers.append((f"relu{stage}{'ab'[i]}", nn.ReLU(inplace=True)))
                in_ch = out_ch
            halves_time = 2 <= stage <= 1 + cfg.temporal_pools
            kernel = (2 if halves_time else 1, 2, 2)
            padding = (0, 1, 1) if stage == 5 else 0
            layers.append((f"pool{stage}", nn.MaxPool3d(kernel, stride=kernel, padding=padding)))
        self.features = nn.Sequential(OrderedDict(layers))
        self.pool = nn.AdaptiveAvgPool3d(cfg.pooled)
        pooled = cfg.pooled[0] * cfg.pooled[1] * cfg.pooled[2]
        self.fc6 = nn.Linear(in_ch * pooled, cfg.fc_dim)
        self.fc7 = nn.Linear(cfg.fc_dim, cfg.fc_dim)
        self.fc8 = nn.Linear(cfg.fc_dim, num_classes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.features(x)).flatten(1)
        x = self.dropout(self.relu(self.fc6(x)))
        x = self.dropout(self.relu(self.fc7(x)))
        return self.fc8(x)


@register_model("c3d", "3dcnn", InputSpec(frames=16, size=112, tiny=(4, 32)))
def c3d(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """C3D (Tran et al. 2015): the first deep 3D CNN, 3x3x3 convolutions throughout."""
    check_positive("width", width)
    cfg = pick_size(size, C3D_STANDARD, C3D_TINY)
    if width:
        cfg = replace(cfg, width=width)
    return C3D(num_classes, cfg, 0.5 if dropout is None else dropout)
