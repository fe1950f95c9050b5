"""Image ResNets (He et al. 2016) with the ImageNet stem or the CIFAR stem.

The CIFAR stem (one 3x3 stride-1 convolution, no max-pool) keeps 32x32 inputs at full
resolution into stage 1, as in the DST papers' CIFAR experiments. The network reuses
torchvision's blocks and module names (conv1, layer1..4, fc), with the widths as an argument
so the tiny configuration is the same network; at width 64 with the ImageNet stem its state
dict is torchvision's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import Tensor, nn
from torchvision.models import resnet as tv

from vidsparse.models.registry import (CIFAR_MEAN, CIFAR_STD, IMAGENET_MEAN, IMAGENET_STD, InputSpec, check_positive,
                                       pick_size, register_model)

Block = type[tv.BasicBlock] | type[tv.Bottleneck]


class ResNet(nn.Module):
    def __init__(self, num_classes: int, block: Block, layers: Sequence[int], width: int = 64,
                 cifar_stem: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
            self.maxpool: nn.Module = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        in_ch = width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            out_ch = planes * block.expansion
            downsample = None
            if stride != 1 or in_ch != out_ch:
                downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(out_ch))
            stage = [block(in_ch, planes, stride, downsample)] + [block(out_ch, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_ch = out_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.dropout(self.avgpool(x).flatten(1)))


@dataclass(frozen=True)
class ResNetDepth:
    block: Block
    layers: tuple[int, int, int, int]


DEPTHS = {
    18: ResNetDepth(tv.BasicBlock, (2, 2, 2, 2)),
    34: ResNetDepth(tv.BasicBlock, (3, 4, 6, 3)),
    50: ResNetDepth(tv.Bottleneck, (3, 4, 6, 3)),
}
TINY_WIDTH = 8
IMAGENET_INPUT = InputSpec(frames=1, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, tiny=(1, 32))
CIFAR_INPUT = InputSpec(frames=1, size=32, mean=CIFAR_MEAN, std=CIFAR_STD, tiny=(1, 32))


def resnet(depth: int, cifar_stem: bool, num_classes: int, size: str = "", width: int | None = None,
           dropout: float | None = None) -> ResNet:
    check_positive("width", width)
    spec = DEPTHS[depth]
    layers = pick_size(size, spec.layers, (1, 1, 1, 1))
    return ResNet(num_classes, spec.block, layers, width or pick_size(size, 64, TINY_WIDTH), cifar_stem,
                  dropout or 0.0)


def _register(depth: int, cifar_stem: bool) -> None:
    name = f"resnet{depth}" + ("_cifar" if cifar_stem else "")
    stem = "CIFAR stem: 3x3 conv, no max-pool" if cifar_stem else "ImageNet stem"
    description = f"ResNet-{depth} (He et al. 2016), {stem}"

    def build(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
        return resnet(depth, cifar_stem, num_classes, size, width, dropout)

    build.__name__ = name
    register_model(name, "image-cnn", CIFAR_INPUT if cifar_stem else IMAGENET_INPUT, description)(build)


for _depth in DEPTHS:
    for _cifar in (False, True):
        _register(_depth, _cifar)
