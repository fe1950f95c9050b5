"""LeNet-5 (LeCun et al. 1998) for 32x32 images: the pruning literature's MNIST network.

Two 5x5 convolutions, each followed by 2x2 max-pooling, then fully connected layers of 120 and
84 units. As in the modern reading the pruning papers train (Han et al. 2015; SNIP, Lee et al.
2019): ReLU for the scaled tanh, max-pooling for the trainable sub-sampling, and full
connections between C1 and C3. 28x28 digits padded to 32x32 are its original input. At 0.65 M
multiply-adds it is the cheapest image model here, which is what a CPU study of many runs needs.
"""

from __future__ import annotations

from torch import Tensor, nn

from vidsparse.models.registry import CIFAR_MEAN, CIFAR_STD, InputSpec, check_positive, pick_size, register_model

# C1 maps, C3 maps, F5 units, F6 units at the published width (C1 = 6 maps)
WIDTHS = (6, 16, 120, 84)
LENET_INPUT = InputSpec(frames=1, size=32, mean=CIFAR_MEAN, std=CIFAR_STD, tiny=(1, 32))


class LeNet5(nn.Module):
    def __init__(self, num_classes: int, width: int = 6, dropout: float = 0.0, in_channels: int = 3) -> None:
        super().__init__()
        c1, c3, f5, f6 = (max(1, round(w * width / WIDTHS[0])) for w in WIDTHS)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c3, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5),  # identity at 32 px; lets larger images through
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c3 * 25, f5), nn.ReLU(inplace=True),
            nn.Linear(f5, f6), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(f6, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model("lenet5", "image-cnn", LENET_INPUT)
def lenet5(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """LeNet-5 (LeCun et al. 1998): two 5x5 conv + max-pool stages, 120-84 fully connected, ReLU"""
    check_positive("width", width)
    return LeNet5(num_classes, width or pick_size(size, WIDTHS[0], 3), dropout or 0.0)
