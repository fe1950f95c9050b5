"""3D ResNets: torchvision's R3D-18 / MC3-18 / R(2+1)D-18 and a small 3D ResNet for CPUs.

torchvision's ``VideoResNet`` hard-codes its widths (64..512), so the tiny configurations
could not share its code. ``VideoResNet`` here takes the widths as an argument, reuses
torchvision's blocks and convolution makers, and keeps torchvision's module names: at the
standard widths its state dict is interchangeable with ``torchvision.models.video.r3d_18``
and friends (tested), so their checkpoints load with ``--pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from torch import Tensor, nn
from torchvision.models.video import resnet as tv

from vidsparse.models.registry import InputSpec, check_positive, pick_size, register_model

ConvMaker = type[nn.Module]  # torchvision's Conv3DSimple | Conv3DNoTemporal | Conv2Plus1D


def basic_stem(width: int) -> nn.Sequential:
    """R3D/MC3 stem: one 3x7x7 convolution (torchvision's BasicStem at width 64)."""
    return nn.Sequential(
        nn.Conv3d(3, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem(width: int) -> nn.Sequential:
    """R(2+1)D stem: 1x7x7 spatial then 3x1x1 temporal (45 mid channels at width 64)."""
    mid = max(1, width * 45 // 64)
    return nn.Sequential(
        nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, (3, 1, 1), stride=1, padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


class VideoResNet(nn.Module):
    """torchvision's VideoResNet with configurable widths and classifier dropout."""

    def __init__(self, num_classes: int, conv_makers: Sequence[ConvMaker], stem: Callable[[int], nn.Module],
                 layers: Sequence[int] = (2, 2, 2, 2), width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.stem = stem(width)
        in_ch = width
        for i, (maker, blocks) in enumerate(zip(conv_makers, layers)):
            out_ch, stride = width * 2**i, 1 if i == 0 else 2
            downsample = None
            if stride != 1 or in_ch != out_ch:
                downsample = nn.Sequential(
                    nn.Conv3d(in_ch, out_ch, 1, stride=maker.get_downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(out_ch),
                )
            stage = [tv.BasicBlock(in_ch, out_ch, maker, stride, downsample)]
            stage += [tv.BasicBlock(out_ch, out_ch, maker) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_ch = out_ch
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(self.avgpool(x).flatten(1)))


@dataclass(frozen=True)
class VideoResNetSize:
    layers: tuple[int, int, int, int]
    width: int


R18 = VideoResNetSize((2, 2, 2, 2), 64)
R18_TINY = VideoResNetSize((1, 1, 1, 1), 8)
MC3_MAKERS = (tv.Conv3DSimple,) + (tv.Conv3DNoTemporal,) * 3  # 3D early, 2D late


def _video_resnet(makers: Sequence[ConvMaker], stem: Callable[[int], nn.Module], num_classes: int,
                  size: str, width: int | None, dropout: float | None) -> VideoResNet:
    check_positive("width", width)
    cfg = pick_size(size, R18, R18_TINY)
    return VideoResNet(num_classes, makers, stem, cfg.layers, width or cfg.width, dropout or 0.0)


VIDEO_RESNET_INPUT = InputSpec(frames=16, size=112, tiny=(4, 32))


@register_model("r3d_18", "3dcnn", VIDEO_RESNET_INPUT)
def r3d_18(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """R3D-18 (Tran et al. 2018): 3D ResNet-18 with full 3x3x3 convolutions."""
    return _video_resnet((tv.Conv3DSimple,) * 4, basic_stem, num_classes, size, width, dropout)


@register_model("mc3_18", "3dcnn", VIDEO_RESNET_INPUT)
def mc3_18(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """MC3-18 (Tran et al. 2018): 3D convolutions in the first stage, 1x3x3 in the rest."""
    return _video_resnet(MC3_MAKERS, basic_stem, num_classes, size, width, dropout)


@register_model("r2plus1d_18", "3dcnn", VIDEO_RESNET_INPUT)
def r2plus1d_18(num_classes: int, size: str = "", width: int | None = None,
                dropout: float | None = None) -> nn.Module:
    """R(2+1)D-18 (Tran et al. 2018): each 3D convolution split into spatial + temporal."""
    return _video_resnet((tv.Conv2Plus1D,) * 4, r2plus1d_stem, num_classes, size, width, dropout)


# -------------------------------------------------------------------------------------------
# A small 3D ResNet that trains on a laptop CPU in minutes (the quick-start default).


class BasicBlock3d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(out_ch)
        self.conv2 = nn.Conv3d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm3d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if in_ch != out_ch or stride != (1, 1, 1):
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm3d(out_ch)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class SmallResNet3d(nn.Module):
    """A 3-stage 3D ResNet whose base width sets its cost."""

    def __init__(self, num_classes: int, width: int = 16, blocks: int = 1, dropout: float = 0.2) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, width, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False),
            nn.BatchNorm3d(width),
            nn.ReLU(inplace=True),
        )
        layers, in_ch = [], width
        for stage, stride in enumerate([(1, 1, 1), (2, 2, 2), (2, 2, 2)]):
            out_ch = width * 2**stage
            for b in range(blocks):
                layers.append(BasicBlock3d(in_ch, out_ch, stride if b == 0 else (1, 1, 1)))
                in_ch = out_ch
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.layers(self.stem(x))).flatten(1)
        return self.fc(self.dropout(x))


@register_model("r3d_small", "3dcnn", InputSpec(frames=8, size=40, tiny=(4, 32)))
def r3d_small(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """Small 3-stage 3D ResNet (base width 16; tiny = 4) for CPU training."""
    check_positive("width", width)
    width = width or pick_size(size, 16, 4)
    return SmallResNet3d(num_classes, width=width, dropout=0.2 if dropout is None else dropout)
