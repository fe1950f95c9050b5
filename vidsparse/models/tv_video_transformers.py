"""torchvision's video transformers: MViTv2-S and Video Swin-T (Swin3D-T).

Both are built from torchvision's classes, so their Kinetics checkpoints load with
``--pretrained``; the configurations are spelt out here so the tiny variants (and a
``model.width`` override) are the same architecture at a smaller scale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from torch import nn
from torchvision.models.video import mvit
from torchvision.models.video.swin_transformer import SwinTransformer3d

from vidsparse.errors import UserError
from vidsparse.models.registry import (IMAGENET_MEAN, IMAGENET_STD, VIDEO_MEAN, VIDEO_STD, InputSpec, check_positive,
                                       pick_size, register_model)


@dataclass(frozen=True)
class MViTSize:
    depths: tuple[int, ...]  # blocks per stage
    width: int  # channels of stage 1, doubled per stage (heads double too)
    kv_stride: int  # spatial key/value pooling of stage 1, halved per stage


MVIT_V2_S = MViTSize((1, 2, 11, 2), 96, 8)
MVIT_TINY = MViTSize((1, 1), 8, 2)


def mvit_block_setting(cfg: MViTSize) -> list[mvit.MSBlockConfig]:
    """MViTv2's stage rule: each new stage halves the query grid in its first block and
    doubles channels and heads; key/value pooling shrinks as the grid does."""
    blocks, channels = [], cfg.width
    for stage, depth in enumerate(cfg.depths):
        out_channels, heads = cfg.width * 2**stage, 2**stage
        kv = max(cfg.kv_stride // 2**stage, 1)
        for i in range(depth):
            q = 2 if stage > 0 and i == 0 else 1
            blocks.append(mvit.MSBlockConfig(num_heads=heads, input_channels=channels, output_channels=out_channels,
                                             kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3], stride_q=[1, q, q],
                                             stride_kv=[1, kv, kv]))
            channels = out_channels
    return blocks


def check_input_shape(expected: tuple[int, int, int], name: str, _module: nn.Module, args: tuple) -> None:
    """MViT sizes its token grid when built: a clip of another shape must fail clearly."""
    got = tuple(args[0].shape[2:])
    if got != expected:
        raise UserError(f"{name} was built for {expected[0]}x{expected[1]}x{expected[2]} clips, got "
                        f"{'x'.join(map(str, got))}; set data.clip_len={expected[0]} data.crop={expected[1]}")


MVIT_INPUT = InputSpec(frames=16, size=224, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=(4, 32), fixed=True)


@register_model("mvit_v2_s", "video-transformer", MVIT_INPUT)
def mvit_v2_s(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """MViTv2-S (Li et al. 2022; torchvision): pooling attention, relative positions, 16 frames."""
    check_positive("width", width)
    cfg = pick_size(size, MVIT_V2_S, MVIT_TINY)
    if width:
        cfg = replace(cfg, width=width)
    spec = MVIT_INPUT.for_size(size)
    model = mvit.MViT(spatial_size=(spec.size, spec.size), temporal_size=spec.frames,
                      block_setting=mvit_block_setting(cfg), residual_pool=True, residual_with_cls_embed=False,
                      rel_pos_embed=True, proj_after_attn=True, stochastic_depth_prob=0.2,
                      dropout=0.5 if dropout is None else dropout, num_classes=num_classes)
    model.register_forward_pre_hook(partial(check_input_shape, (spec.frames, spec.size, spec.size), "mvit_v2_s"))
    return model


@dataclass(frozen=True)
class SwinSize:
    embed_dim: int
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    window: tuple[int, int, int]


SWIN3D_T = SwinSize(96, (2, 2, 6, 2), (3, 6, 12, 24), (8, 7, 7))
SWIN3D_TINY = SwinSize(8, (1, 1), (1, 2), (2, 4, 4))


@register_model("swin3d_t", "video-transformer",
                InputSpec(frames=32, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, tiny=(4, 32)))
def swin3d_t(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """Video Swin-T (Liu et al. 2022; torchvision): shifted 3D windows, 32 frames."""
    cfg = pick_size(size, SWIN3D_T, SWIN3D_TINY)
    embed_dim = cfg.embed_dim if width is None else width
    if embed_dim <= 0 or embed_dim % cfg.heads[0]:
        raise UserError(f"model.width={width} does not suit swin3d_t: use a positive multiple of its "
                        f"{cfg.heads[0]} first-stage heads")
    model = SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=embed_dim, depths=list(cfg.depths),
                              num_heads=list(cfg.heads), window_size=list(cfg.window), stochastic_depth_prob=0.1,
                              num_classes=num_classes)
    # Classifier dropout as in Video Swin's head; the pool has no weights, so the state
    # dict keeps torchvision's keys.
    model.avgpool = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Dropout(0.5 if dropout is None else dropout))
    return model
