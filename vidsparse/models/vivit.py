"""ViViT, factorised encoder (Arnab et al. 2021, "Model 2").

A spatial transformer encodes the tokens of each tubelet time step on its own and summarises
them in a class token; a temporal transformer then attends across those per-step summaries.
Late fusion of time makes it cheaper than joint attention over all space-time tokens.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import Tensor, nn

from vidsparse.models.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec, pick_size, register_model
from vidsparse.models.transformer import PatchEmbed, ViTSize, init_vit_weights, make_blocks, resize_pos_embed


class ViViT(nn.Module):
    def __init__(self, num_classes: int, cfg: ViTSize, temporal_depth: int, frames: int, img_size: int,
                 tubelet: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.dim, (tubelet, cfg.patch, cfg.patch))
        self.grid = (img_size // cfg.patch,) * 2
        self.steps = frames // tubelet
        self.spatial_cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.spatial_pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], cfg.dim))
        self.spatial_blocks = make_blocks(cfg)
        self.spatial_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, 1 + self.steps, cfg.dim))
        self.temporal_blocks = make_blocks(cfg, temporal_depth)
        self.temporal_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(cfg.dim, num_classes)
        for param in (self.spatial_cls_token, self.spatial_pos_embed, self.temporal_cls_token,
                      self.temporal_pos_embed):
            nn.init.trunc_normal_(param, std=0.02)
        init_vit_weights(self)

    @staticmethod
    def _encode(tokens: Tensor, cls: Tensor, pos: Tensor, grid: tuple[int, ...], new_grid: tuple[int, ...],
                blocks: nn.ModuleList, norm: nn.LayerNorm) -> Tensor:
        """Prepend the class token, add positions, run the blocks; return the class token."""
        tokens = tokens + resize_pos_embed(pos[:, 1:], grid, new_grid)
        x = torch.cat([(cls + pos[:, :1]).expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in blocks:
            x = block(x)
        return norm(x[:, 0])

    def forward(self, clip: Tensor) -> Tensor:
        x, (steps, h, w) = self.patch_embed(clip)
        x = rearrange(x, "b (t n) d -> (b t) n d", t=steps)
        x = self._encode(x, self.spatial_cls_token, self.spatial_pos_embed, self.grid, (h, w),
                         self.spatial_blocks, self.spatial_norm)
        x = rearrange(x, "(b t) d -> b t d", t=steps)
        x = self._encode(x, self.temporal_cls_token, self.temporal_pos_embed, (self.steps,), (steps,),
                         self.temporal_blocks, self.temporal_norm)
        return self.head(self.head_drop(x))


VIVIT_BASE = ViTSize(dim=768, depth=12, heads=12, patch=16)
VIVIT_TINY = ViTSize(dim=16, depth=1, heads=2, patch=8)
VIVIT_INPUT = InputSpec(frames=32, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, tiny=(4, 32))


@register_model("vivit_b", "video-transformer", VIVIT_INPUT)
def vivit_b(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """ViViT-B/16x2, factorised encoder (Arnab et al. 2021): 12 spatial + 4 temporal blocks."""
    cfg = pick_size(size, VIVIT_BASE, VIVIT_TINY).with_width(width, "vivit_b")
    spec = VIVIT_INPUT.for_size(size)
    return ViViT(num_classes, cfg, pick_size(size, 4, 1), spec.frames, spec.size, tubelet=2,
                 dropout=dropout or 0.0)
