"""VGG-16/19 with batch normalisation for 32x32 images (the DST papers' CIFAR VGGs).

Five stages of 3x3 convolutions, each followed by BatchNorm, ReLU and a 2x2 max-pool, leave
a 1x1 map at 32 px; one linear classifier follows (no 4096-wide fully connected layers).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

from torch import Tensor, nn

from vidsparse.models.registry import CIFAR_MEAN, CIFAR_STD, InputSpec, check_positive, pick_size, register_model

STAGE_WIDTHS = (1, 2, 4, 8, 8)  # x base width (64)
CONVS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
TINY_CONVS = (1, 1, 1, 1, 1)


class VGG(nn.Module):
    def __init__(self, num_classes: int, convs: Sequence[int], width: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        in_ch = 3
        for stage, (n, factor) in enumerate(zip(convs, STAGE_WIDTHS), start=1):
            for i in range(1, n + 1):
                out_ch = width * factor
                layers += [(f"conv{stage}_{i}", nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)),
                           (f"bn{stage}_{i}", nn.BatchNorm2d(out_ch)),
                           (f"relu{stage}_{i}", nn.ReLU(inplace=True))]
                in_ch = out_ch
            layers.append((f"pool{stage}", nn.MaxPool2d(2)))
        self.features = nn.Sequential(OrderedDict(layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # identity at 32 px; lets larger images through
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_ch, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.avgpool(self.features(x)).flatten(1)))


VGG_INPUT = InputSpec(frames=1, size=32, mean=CIFAR_MEAN, std=CIFAR_STD, tiny=(1, 32))


def _vgg(depth: int, num_classes: int, size: str, width: int | None, dropout: float | None) -> nn.Module:
    check_positive("width", width)
    convs = pick_size(size, CONVS[depth], TINY_CONVS)
    return VGG(num_classes, convs, width or pick_size(size, 64, 4), dropout or 0.0)


@register_model("vgg16_cifar", "image-cnn", VGG_INPUT)
def vgg16_cifar(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """VGG-16 with BatchNorm for CIFAR (13 convolutions, one linear classifier)."""
    return _vgg(16, num_classes, size, width, dropout)


@register_model("vgg19_cifar", "image-cnn", VGG_INPUT)
def vgg19_cifar(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """VGG-19 with BatchNorm for CIFAR (16 convolutions, one linear classifier)."""
    return _vgg(19, num_classes, size, width, dropout)
