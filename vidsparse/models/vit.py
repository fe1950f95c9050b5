"""Vision Transformers: DeiT for images and a tubelet-embedding ViT for video (VideoMAE-style)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vidsparse.models.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec, pick_size, register_model
from vidsparse.models.resnet3d import BasicBlock3d
from vidsparse.models.transformer import (PatchEmbed, ViTSize, init_vit_weights, make_blocks, resize_pos_embed,
                                          sinusoid_table)


class VisionTransformer(nn.Module):
    """ViT/DeiT on [B, C, H, W] images: class token, learned positions, timm's module names."""

    def __init__(self, num_classes: int, cfg: ViTSize, img_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.dim, (cfg.patch, cfg.patch))
        self.grid = (img_size // cfg.patch,) * 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], cfg.dim))
        self.blocks = make_blocks(cfg)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(cfg.dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        init_vit_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x, grid = self.patch_embed(x)
        pos_cls, pos_patches = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        x = x + resize_pos_embed(pos_patches, self.grid, grid)
        x = torch.cat([(self.cls_token + pos_cls).expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.head_drop(self.norm(x[:, 0])))


DEIT_TINY_CONFIG = ViTSize(dim=16, depth=1, heads=2, patch=8)
DEIT_INPUT = InputSpec(frames=1, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, tiny=(1, 32))


def _deit(name: str, standard: ViTSize, num_classes: int, size: str, width: int | None,
          dropout: float | None) -> nn.Module:
    cfg = pick_size(size, standard, DEIT_TINY_CONFIG).with_width(width, name)
    return VisionTransformer(num_classes, cfg, DEIT_INPUT.for_size(size).size, dropout or 0.0)


@register_model("deit_tiny", "image-transformer", DEIT_INPUT)
def deit_tiny(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """DeiT-Tiny/16 (Touvron et al. 2021): 192-d, 12 blocks, 3 heads."""
    return _deit("deit_tiny", ViTSize(192, 12, 3, 16), num_classes, size, width, dropout)


@register_model("deit_small", "image-transformer", DEIT_INPUT)
def deit_small(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """DeiT-Small/16 (Touvron et al. 2021): 384-d, 12 blocks, 6 heads."""
    return _deit("deit_small", ViTSize(384, 12, 6, 16), num_classes, size, width, dropout)


@register_model("deit_base", "image-transformer", DEIT_INPUT)
def deit_base(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """DeiT-Base/16 (Touvron et al. 2021): 768-d, 12 blocks, 12 heads."""
    return _deit("deit_base", ViTSize(768, 12, 12, 16), num_classes, size, width, dropout)


# -------------------------------------------------------------------------------------------
# Video: joint space-time attention over tubelet tokens


class TubeletViT(nn.Module):
    """ViT over [B, C, T, H, W] clips cut into t x p x p tubelets (VideoMAE's fine-tuning model):
    fixed sinusoidal positions, joint space-time attention, mean-pooled tokens.

    ``learned_grid`` (T, H, W) replaces the sinusoids by learned positions, small at init. Trained
    from scratch on little data this matters: the sinusoids' mean over tokens is a large constant
    in the pooled features, which buries the class signal and stalls the start of training.
    """

    def __init__(self, num_classes: int, cfg: ViTSize, tubelet: int = 2, dropout: float = 0.0,
                 stem: nn.Module | None = None, learned_grid: tuple[int, int, int] | None = None) -> None:
        super().__init__()
        self.patch_embed = stem or PatchEmbed(cfg.dim, (tubelet, cfg.patch, cfg.patch))
        self.pos_grid = learned_grid
        self.pos_embed = None
        if learned_grid is not None:
            self.pos_embed = nn.Parameter(torch.zeros(1, math.prod(learned_grid), cfg.dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = make_blocks(cfg)
        self.fc_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(cfg.dim, num_classes)
        init_vit_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x, grid = self.patch_embed(x)
        if self.pos_embed is None:
            x = x + sinusoid_table(x.shape[1], x.shape[2], x.device, x.dtype)
        else:
            x = x + resize_pos_embed(self.pos_embed, self.pos_grid, grid)
        for block in self.blocks:
            x = block(x)
        return self.head(self.head_drop(self.fc_norm(x.mean(dim=1))))


TUBELET_TINY_CONFIG = ViTSize(dim=16, depth=1, heads=2, patch=8)
TUBELET_INPUT = InputSpec(frames=16, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, tiny=(4, 32))


def _tubelet_vit(name: str, standard: ViTSize, num_classes: int, size: str, width: int | None,
                 dropout: float | None) -> nn.Module:
    cfg = pick_size(size, standard, TUBELET_TINY_CONFIG).with_width(width, name)
    return TubeletViT(num_classes, cfg, tubelet=2, dropout=dropout or 0.0)


@register_model("vit_s_tubelet", "video-transformer", TUBELET_INPUT)
def vit_s_tubelet(num_classes: int, size: str = "", width: int | None = None,
                  dropout: float | None = None) -> nn.Module:
    """ViT-S/16 over 2x16x16 tubelets, joint space-time attention (VideoMAE's ViT-S)."""
    return _tubelet_vit("vit_s_tubelet", ViTSize(384, 12, 6, 16), num_classes, size, width, dropout)


@register_model("vit_b_tubelet", "video-transformer", TUBELET_INPUT)
def vit_b_tubelet(num_classes: int, size: str = "", width: int | None = None,
                  dropout: float | None = None) -> nn.Module:
    """ViT-B/16 over 2x16x16 tubelets, joint space-time attention (VideoMAE's ViT-B)."""
    return _tubelet_vit("vit_b_tubelet", ViTSize(768, 12, 12, 16), num_classes, size, width, dropout)



class ResidualStem(nn.Module):
    """Tokens from a small 3D-convolution trunk instead of one patchify convolution (a hybrid
    ViT, as in Dosovitskiy et al. 2021 and "early convolutions help transformers see better",
    Xiao et al. 2021).

    The first two stages of ``r3d_small`` (stride 2 in time, 4 in space) give each token a
    receptive field wide enough to see motion, which a transformer trained from scratch on a
    few hundred clips does not learn in a CPU budget from single-layer patch embeddings.
    """

    def __init__(self, dim: int, width: int = 16, in_channels: int = 3) -> None:
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv3d(in_channels, width, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True),
            BasicBlock3d(width, width, (1, 1, 1)),
            BasicBlock3d(width, 2 * width, (2, 2, 2)),
            nn.Conv3d(2 * width, dim, 1),
        )

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), tuple(x.shape[2:])


VIT_CONV_SMALL = ViTSize(dim=64, depth=2, heads=4, patch=4, drop_path=0.0)  # patch: the stem's 4x4 stride
VIT_CONV_SMALL_INPUT = InputSpec(frames=8, size=32, tiny=(4, 32))


@register_model("vit_conv_small", "video-transformer", VIT_CONV_SMALL_INPUT)
def vit_conv_small(num_classes: int, size: str = "", width: int | None = None,
                   dropout: float | None = None) -> nn.Module:
    """Small hybrid video transformer for CPU training: a 2-stage 3D-conv trunk, then 2 joint
    space-time attention blocks of 64-d (tiny = 16-d, 1 block)."""
    cfg = pick_size(size, VIT_CONV_SMALL, TUBELET_TINY_CONFIG).with_width(width, "vit_conv_small")
    spec = VIT_CONV_SMALL_INPUT.for_size(size)
    grid = (spec.frames // 2, spec.size // 4, spec.size // 4)  # the stem's strides: 2 in time, 4 in space
    return TubeletViT(num_classes, cfg, dropout=dropout or 0.0, stem=ResidualStem(cfg.dim, width=pick_size(size, 16, 4)), learned_grid=grid)
