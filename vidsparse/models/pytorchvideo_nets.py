"""pytorchvideo backbones: Slow R50, I3D R50, ir-CSN-101, X3D-XS/S/M and SlowFast R50.

The builders are pytorchvideo's own, called with the settings of its model hub, so the
module names match its Kinetics checkpoints. Two changes apply to every model:

- the head pools adaptively, so one model accepts any clip length and crop (pytorchvideo
  sizes the pooling kernel for one input; at that input both give the same numbers);
- the head returns logits (X3D's hub head ends in a softmax, which cross-entropy must not see);
- X3D's swish is ``nn.SiLU`` (the same function; pytorchvideo's own autograd version uses a
  deprecated API and is slower).

pytorchvideo's ResNet builders accept depth 50/101/152 only, so the tiny configurations are
built at depth 50 and then cut to the first block of every stage (which holds the stage's
projection shortcut, so shapes stay consistent): the same layer types, a fraction of the cost.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

with warnings.catch_warnings():  # fvcore (imported by pytorchvideo) warns about torch.jit
    warnings.simplefilter("ignore", FutureWarning)
    from pytorchvideo.models.csn import create_csn
    from pytorchvideo.models.resnet import ResStage, create_resnet
    from pytorchvideo.models.slowfast import create_slowfast
    from pytorchvideo.models.x3d import ProjectedPool, create_x3d

from vidsparse.errors import UserError
from vidsparse.models.registry import VIDEO_MEAN, VIDEO_STD, InputSpec, check_positive, pick_size, register_model

ADAPTIVE_HEAD = {"head_pool": nn.AdaptiveAvgPool3d, "head_output_size": (1, 1, 1)}


def keep_first_blocks(model: nn.Module, blocks: int = 1) -> nn.Module:
    """Cut every residual stage to its first `blocks` blocks."""
    for module in model.modules():
        if isinstance(module, ResStage):
            module.res_blocks = module.res_blocks[:blocks]
    return model


@dataclass(frozen=True)
class ResNetSize:
    width: int  # stem channels; stage outputs are 4x, 8x, 16x, 32x (bottlenecks)
    blocks_per_stage: int | None  # None = the depth's own (3, 4, 6, 3) for R50


RESNET_STANDARD = ResNetSize(64, None)
RESNET_TINY = ResNetSize(4, 1)


def _pv_resnet(create: Callable[..., nn.Module], hub_settings: dict[str, Any], num_classes: int, size: str,
               width: int | None, dropout: float | None, default_dropout: float = 0.5) -> nn.Module:
    check_positive("width", width)
    cfg = pick_size(size, RESNET_STANDARD, RESNET_TINY)
    model = create(model_num_class=num_classes, stem_dim_out=width or cfg.width,
                   dropout_rate=default_dropout if dropout is None else dropout,
                   **ADAPTIVE_HEAD, **hub_settings)
    return keep_first_blocks(model, cfg.blocks_per_stage) if cfg.blocks_per_stage else model


RESNET_INPUT = InputSpec(frames=8, size=224, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=(4, 32))
SLOW_R50 = {"model_depth": 50, "stem_conv_kernel_size": (1, 7, 7)}
I3D_R50 = {
    "model_depth": 50,
    "stem_conv_kernel_size": (5, 7, 7),
    "stage1_pool": nn.MaxPool3d,
    "stage_conv_a_kernel_size": ((3, 1, 1), [(3, 1, 1), (1, 1, 1)], [(3, 1, 1), (1, 1, 1)],
                                 [(1, 1, 1), (3, 1, 1)]),
}
CSN_R101 = {"model_depth": 101, "stem_pool": nn.MaxPool3d}


@register_model("slow_r50", "3dcnn", RESNET_INPUT)
def slow_r50(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """3D ResNet-50, the 'Slow' pathway alone (Feichtenhofer et al. 2019; pytorchvideo)."""
    return _pv_resnet(create_resnet, SLOW_R50, num_classes, size, width, dropout)


@register_model("i3d_r50", "3dcnn", RESNET_INPUT)
def i3d_r50(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """I3D ResNet-50 (Carreira & Zisserman 2017, ResNet variant; pytorchvideo)."""
    return _pv_resnet(create_resnet, I3D_R50, num_classes, size, width, dropout)


@register_model("csn_r101", "3dcnn", InputSpec(frames=32, size=224, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=(4, 32)))
def csn_r101(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """ir-CSN-101 (Tran et al. 2019): channel-separated (depthwise 3x3x3) bottlenecks; pytorchvideo."""
    return _pv_resnet(create_csn, CSN_R101, num_classes, size, width, dropout, default_dropout=0.0)


# -------------------------------------------------------------------------------------------
# X3D


@dataclass(frozen=True)
class X3DSize:
    width: int  # pytorchvideo's stem_dim_in (12 in the paper); x width_factor 2.0 at the stem
    depth_factor: float
    head_dim: int


X3D_STANDARD = X3DSize(12, 2.2, 2048)
X3D_TINY = X3DSize(4, 0.2, 32)  # one block per stage


def _x3d(clip_length: int, crop: int, num_classes: int, size: str, width: int | None,
         dropout: float | None) -> nn.Module:
    check_positive("width", width)
    cfg = pick_size(size, X3D_STANDARD, X3D_TINY)
    model = create_x3d(input_clip_length=clip_length, input_crop_size=crop, model_num_class=num_classes,
                       dropout_rate=0.5 if dropout is None else dropout, width_factor=2.0,
                       depth_factor=cfg.depth_factor, stem_dim_in=width or cfg.width,
                       head_dim_out=cfg.head_dim, head_activation=None, inner_act=nn.SiLU)
    for module in model.modules():
        if isinstance(module, ProjectedPool):
            module.pool = nn.AdaptiveAvgPool3d(1)
    return model


X3D_TINY_INPUT = (4, 32)


@register_model("x3d_xs", "3dcnn", InputSpec(frames=4, size=160, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=X3D_TINY_INPUT))
def x3d_xs(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """X3D-XS (Feichtenhofer 2020): 4 frames at 160 px; pytorchvideo."""
    return _x3d(4, 160, num_classes, size, width, dropout)


@register_model("x3d_s", "3dcnn", InputSpec(frames=13, size=160, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=X3D_TINY_INPUT))
def x3d_s(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """X3D-S (Feichtenhofer 2020): 13 frames at 160 px; pytorchvideo."""
    return _x3d(13, 160, num_classes, size, width, dropout)


@register_model("x3d_m", "3dcnn", InputSpec(frames=16, size=224, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=X3D_TINY_INPUT))
def x3d_m(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """X3D-M (Feichtenhofer 2020): 16 frames at 224 px; pytorchvideo."""
    return _x3d(16, 224, num_classes, size, width, dropout)


# -------------------------------------------------------------------------------------------
# SlowFast


def slow_pathway(clip: Tensor, alpha: int) -> Tensor:
    """Every alpha-th frame of a [B, C, T, H, W] clip, spread evenly over it."""
    frames = clip.shape[2]
    index = torch.linspace(0, frames - 1, frames // alpha, device=clip.device).long()
    return clip.index_select(2, index)


class SlowFast(nn.Module):
    """pytorchvideo's SlowFast fed from one clip: the fast pathway sees every frame, the slow
    pathway every alpha-th. ``blocks`` is pytorchvideo's, so its checkpoints load unchanged."""

    def __init__(self, blocks: nn.ModuleList, alpha: int) -> None:
        super().__init__()
        self.blocks = blocks
        self.alpha = alpha

    def forward(self, clip: Tensor) -> Tensor:
        frames = clip.shape[2]
        if frames % self.alpha:
            raise UserError(f"SlowFast needs a clip length divisible by alpha={self.alpha}, got {frames}; "
                            f"set data.clip_len to a multiple of {self.alpha}")
        x: Any = [slow_pathway(clip, self.alpha), clip]
        for block in self.blocks:
            x = block(x)
        return x


@dataclass(frozen=True)
class SlowFastSize:
    width: int  # slow stem channels; the fast pathway has width // beta_inv
    beta_inv: int
    blocks_per_stage: int | None


SLOWFAST_STANDARD = SlowFastSize(64, 8, None)
SLOWFAST_TINY = SlowFastSize(8, 4, 1)  # beta 1/4 (not 1/8) so the fast pathway keeps 2 channels
SLOWFAST_ALPHA = 4  # the 8x8 setting: fast 32 frames, slow 8


@register_model("slowfast_r50", "3dcnn",
                InputSpec(frames=32, size=224, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=(8, 32)))
def slowfast_r50(num_classes: int, size: str = "", width: int | None = None,
                 dropout: float | None = None) -> nn.Module:
    """SlowFast R50 8x8 (Feichtenhofer et al. 2019): slow and fast pathways from one clip."""
    check_positive("width", width)
    cfg = pick_size(size, SLOWFAST_STANDARD, SLOWFAST_TINY)
    slow = width or cfg.width
    net = create_slowfast(
        model_num_class=num_classes, dropout_rate=0.5 if dropout is None else dropout, model_depth=50,
        slowfast_channel_reduction_ratio=(cfg.beta_inv,), stem_dim_outs=(slow, max(1, slow // cfg.beta_inv)),
        slowfast_fusion_conv_kernel_size=(7, 1, 1), slowfast_fusion_conv_stride=(SLOWFAST_ALPHA, 1, 1),
        head_pool=nn.AdaptiveAvgPool3d, head_output_size=((1, 1, 1), (1, 1, 1)),
    )
    if cfg.blocks_per_stage:
        keep_first_blocks(net, cfg.blocks_per_stage)
    return SlowFast(net.blocks, SLOWFAST_ALPHA)
