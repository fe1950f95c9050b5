"""EfficientNet-B0 (Tan & Le 2019), torchvision's implementation.

The tiny configuration is torchvision's own compound scaling taken down (width x0.25 and
one block per stage), so it has every layer type of B0: MBConv, depthwise convolutions and
squeeze-excitation (whose two 1x1 convolutions the sparse engine masks like any conv).
"""

from __future__ import annotations

from torch import nn
from torchvision.models import efficientnet as tv

from vidsparse.models.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec, check_positive, pick_size, register_model

B0_STEM = 32  # stem channels at width_mult 1.0
# The published B0 stages: (expand ratio, kernel, stride, in channels, out channels, blocks).
B0_STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
             (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))


@register_model("efficientnet_b0", "image-cnn",
                InputSpec(frames=1, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, tiny=(1, 32)))
def efficientnet_b0(num_classes: int, size: str = "", width: int | None = None,
                    dropout: float | None = None) -> nn.Module:
    """EfficientNet-B0 (Tan & Le 2019; torchvision): MBConv blocks with squeeze-excitation."""
    check_positive("width", width)
    width_mult, depth_mult = pick_size(size, (1.0, 1.0), (0.25, 0.1))
    if width:
        width_mult = width / B0_STEM
    setting = [tv.MBConvConfig(*stage, width_mult=width_mult, depth_mult=depth_mult) for stage in B0_STAGES]
    return tv.EfficientNet(setting, dropout=0.2 if dropout is None else dropout, num_classes=num_classes)
