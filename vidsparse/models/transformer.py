"""Transformer building blocks shared by the image and video ViTs.

Every projection is an ``nn.Linear`` (q/k/v in one ``qkv`` layer, then ``proj``), so the
sparse engine masks them by module type; positional embeddings and class tokens are bare
``nn.Parameter`` attributes of the models, which it never masks. Module names follow timm
(``patch_embed.proj``, ``blocks.N.attn.qkv``, ``blocks.N.mlp.fc1`` ...) so published weights
load with ``--pretrained``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torchvision.ops import StochasticDepth

from vidsparse.errors import UserError
from vidsparse.models.deterministic import interpolation_matrix


@dataclass(frozen=True)
class ViTSize:
    dim: int
    depth: int
    heads: int
    patch: int
    mlp_ratio: float = 4.0
    drop_path: float = 0.1

    def with_width(self, width: int | None, model: str) -> "ViTSize":
        """`width` is the embedding dimension; it must split evenly over the heads."""
        if width is None:
            return self
        if width <= 0 or width % self.heads:
            raise UserError(f"model.width={width} does not suit {model}: use a positive multiple of its "
                            f"{self.heads} attention heads")
        return replace(self, dim=width)


class Attention(nn.Module):
    """Multi-head self-attention over [B, N, D] tokens (PyTorch's fused kernel)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, attn_drop: float = 0.0) -> None:
        super().__init__()
        self.heads = heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj(rearrange(x, "b h n d -> b n (h d)"))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with stochastic depth on both residual branches."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = StochasticDepth(drop_path, "row")

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def drop_path_rates(depth: int, max_rate: float) -> list[float]:
    """Stochastic depth growing linearly with depth, as in DeiT."""
    return [max_rate * i / max(depth - 1, 1) for i in range(depth)]


def make_blocks(cfg: ViTSize, depth: int | None = None) -> nn.ModuleList:
    depth = cfg.depth if depth is None else depth
    return nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio, rate)
                         for rate in drop_path_rates(depth, cfg.drop_path))


class PatchEmbed(nn.Module):
    """Non-overlapping patches (2D) or tubelets (3D) projected to tokens by one convolution."""

    def __init__(self, dim: int, patch: tuple[int, ...], in_channels: int = 3) -> None:
        super().__init__()
        conv = nn.Conv2d if len(patch) == 2 else nn.Conv3d
        self.patch = patch
        self.proj = conv(in_channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        """Tokens [B, N, D] and the token grid ((H, W) or (T, H, W))."""
        if any(s < p for s, p in zip(x.shape[2:], self.patch)):
            raise UserError(f"input {tuple(x.shape[2:])} is smaller than the patch {self.patch}; "
                            f"raise data.crop (and data.clip_len)")
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), tuple(x.shape[2:])


def resize_pos_embed(pos: Tensor, grid: tuple[int, ...], new_grid: tuple[int, ...]) -> Tensor:
    """Interpolate a [1, prod(grid), D] embedding to another token grid (1, 2 or 3 dims), so
    one model accepts other clip lengths and crops than it was built for."""
    if tuple(grid) == tuple(new_grid):
        return pos
    mode = {1: "linear", 2: "bicubic", 3: "trilinear"}[len(grid)]
    if pos.is_cuda and pos.requires_grad and torch.are_deterministic_algorithms_enabled():
        # interpolate has no deterministic CUDA backward; the same linear map as a matmul has
        matrix = interpolation_matrix(tuple(grid), tuple(new_grid), mode, pos.device).to(pos.dtype)
        return (matrix @ pos.reshape(-1, pos.shape[-1]))[None]
    x = pos.reshape(1, *grid, pos.shape[-1]).movedim(-1, 1)
    x = F.interpolate(x, size=new_grid, mode=mode, align_corners=False)
    return x.movedim(1, -1).reshape(1, -1, pos.shape[-1])


def sinusoid_table(tokens: int, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Fixed sine/cosine position codes [1, tokens, dim] (Vaswani et al.; VideoMAE's choice)."""
    position = torch.arange(tokens, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(tokens, dim, device=device)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table[None].to(dtype)


def init_vit_weights(model: nn.Module) -> None:
    """Truncated-normal linear layers and unit LayerNorms (the ViT/DeiT initialisation)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
