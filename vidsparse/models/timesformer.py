"""TimeSformer (Bertasius et al. 2021) with divided space-time attention.

Each block attends first across time (every patch position with itself in the other frames),
then across space (every frame's patches plus the class token), then applies the MLP.
Tokens are kept as [B, T, N, D] with the class token apart, so each attention is one
einops rearrangement. Module names follow the authors' release (``time_embed``,
``temporal_attn``, ``temporal_fc`` ...).
"""

from __future__ import annotations

import torch
from einops import rearrange, reduce, repeat
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

from vidsparse.models.registry import VIDEO_MEAN, VIDEO_STD, InputSpec, pick_size, register_model
from vidsparse.models.transformer import (Attention, Mlp, PatchEmbed, ViTSize, drop_path_rates, init_vit_weights,
                                          resize_pos_embed)


class DividedBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.temporal_norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.temporal_attn = Attention(dim, heads)
        self.temporal_fc = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = StochasticDepth(drop_path, "row")

    def forward(self, cls: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """cls [B, 1, D], x [B, T, N, D] -> the same shapes."""
        b, t, n, _ = x.shape
        xt = rearrange(x, "b t n d -> (b n) t d")
        xt = self.temporal_fc(self.drop_path(self.temporal_attn(self.temporal_norm1(xt))))
        x = x + rearrange(xt, "(b n) t d -> b t n d", b=b)

        # Space: every frame attends with its own copy of the class token; the copies'
        # updates are averaged back into the one class token.
        xs = torch.cat([repeat(cls, "b 1 d -> (b t) 1 d", t=t), rearrange(x, "b t n d -> (b t) n d")], dim=1)
        xs = self.drop_path(self.attn(self.norm1(xs)))
        cls = cls + reduce(xs[:, :1], "(b t) 1 d -> b 1 d", "mean", t=t)
        x = x + rearrange(xs[:, 1:], "(b t) n d -> b t n d", t=t)

        tokens = torch.cat([cls, rearrange(x, "b t n d -> b (t n) d")], dim=1)
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return tokens[:, :1], rearrange(tokens[:, 1:], "b (t n) d -> b t n d", t=t, n=n)


class TimeSformer(nn.Module):
    def __init__(self, num_classes: int, cfg: ViTSize, frames: int, img_size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(cfg.dim, (cfg.patch, cfg.patch))
        self.grid = (img_size // cfg.patch,) * 2
        self.frames = frames
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], cfg.dim))
        self.time_embed = nn.Parameter(torch.zeros(1, frames, cfg.dim))
        self.blocks = nn.ModuleList(DividedBlock(cfg.dim, cfg.heads, cfg.mlp_ratio, rate)
                                    for rate in drop_path_rates(cfg.depth, cfg.drop_path))
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(cfg.dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        init_vit_weights(self)
        for block in list(self.blocks)[1:]:  # later temporal branches start as the identity
            nn.init.zeros_(block.temporal_fc.weight)

    def forward(self, clip: Tensor) -> Tensor:
        b, t = clip.shape[0], clip.shape[2]
        x, grid = self.patch_embed(rearrange(clip, "b c t h w -> (b t) c h w"))
        x = x + resize_pos_embed(self.pos_embed[:, 1:], self.grid, grid)
        x = rearrange(x, "(b t) n d -> b t n d", b=b)
        x = x + resize_pos_embed(self.time_embed, (self.frames,), (t,))[:, :, None]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(b, -1, -1)
        for block in self.blocks:
            cls, x = block(cls, x)
        return self.head(self.head_drop(self.norm(cls[:, 0])))


TIMESFORMER_BASE = ViTSize(dim=768, depth=12, heads=12, patch=16)
TIMESFORMER_TINY = ViTSize(dim=16, depth=1, heads=2, patch=8)
TIMESFORMER_INPUT = InputSpec(frames=8, size=224, mean=VIDEO_MEAN, std=VIDEO_STD, tiny=(4, 32))


@register_model("timesformer", "video-transformer", TIMESFORMER_INPUT)
def timesformer(num_classes: int, size: str = "", width: int | None = None, dropout: float | None = None) -> nn.Module:
    """TimeSformer-Base (Bertasius et al. 2021): divided space-time attention, 8 frames."""
    cfg = pick_size(size, TIMESFORMER_BASE, TIMESFORMER_TINY).with_width(width, "timesformer")
    spec = TIMESFORMER_INPUT.for_size(size)
    return TimeSformer(num_classes, cfg, spec.frames, spec.size, dropout or 0.0)
