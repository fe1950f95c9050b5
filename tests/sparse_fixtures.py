"""Tiny models, data and a training loop shared by the tests/test_sparse_*.py files."""

from __future__ import annotations

import math
from typing import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidsparse.sparse import SparseConfig, SparseContext, Sparsifier, build_sparsifier

CLIP = (3, 4, 8, 8)  # C, T, H, W


@pytest.fixture(autouse=True)
def single_thread():
    """Tensors here are tiny: intra-op threads only add overhead (and contention on a busy
    CI machine). Imported by each test_sparse_* module, so it applies to those only."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
NUM_CLASSES = 5


class TinyConv3dNet(nn.Module):
    """Stem conv, BatchNorm, a strided conv, a Conv1d over time and a classifier."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv3d(3, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm3d(width)
        self.conv = nn.Conv3d(width, 2 * width, 3, stride=2, padding=1)
        self.temporal = nn.Conv1d(2 * width, 2 * width, 2)
        self.fc = nn.Linear(2 * width, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = F.relu(self.conv(x)).mean((3, 4))  # N, C, T
        return self.fc(F.relu(self.temporal(x)).mean(2))


class CustomAttention(nn.Module):
    """q/k/v/proj Linear layers with a relative-position bias table (never masked)."""

    def __init__(self, dim: int, heads: int, tokens: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))
        self.relative_position_bias_table = nn.Parameter(torch.zeros(2 * tokens - 1, heads))
        index = torch.arange(tokens)
        self.register_buffer("relative_index", index[:, None] - index[None, :] + tokens - 1)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        split = lambda y: y.view(n, t, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        bias = self.relative_position_bias_table[self.relative_index].permute(2, 0, 1)
        attn = (q @ k.transpose(-2, -1) / math.sqrt(d // self.heads) + bias).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, t, d))


class TinyVideoTransformer(nn.Module):
    """Conv3d tubelet embedding, class token, positional and frame embeddings, one
    nn.MultiheadAttention block and one custom-attention block, LayerNorms, MLP, head."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.patch_embed = nn.Conv3d(3, dim, (2, 4, 4), stride=(2, 4, 4))
        tokens = (CLIP[1] // 2) * (CLIP[2] // 4) * (CLIP[3] // 4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        self.frame_embed = nn.Embedding(CLIP[1] // 2, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.custom = CustomAttention(dim, heads, tokens + 1)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm = nn.GroupNorm(1, dim)
        self.head = nn.Linear(dim, NUM_CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)  # N, D, T', H', W'
        frames = torch.arange(x.shape[2], device=x.device).repeat_interleave(x.shape[3] * x.shape[4])
        x = x.flatten(2).transpose(1, 2) + self.frame_embed(frames)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], 1) + self.pos_embed
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        x = x + self.custom(self.norm2(x))
        x = x + self.mlp(self.norm3(x))
        return self.head(self.norm(x[:, 0]))


def batch(step: int, size: int = 4, rank: int = 0) -> tuple[Tensor, Tensor]:
    """Deterministic data for a step (and rank), so two runs see the same stream."""
    g = torch.Generator().manual_seed(1000 * rank + step)
    return torch.randn(size, *CLIP, generator=g), torch.randint(0, NUM_CLASSES, (size,), generator=g)


def batches() -> Iterator[tuple[Tensor, Tensor]]:
    step = 0
    while True:
        yield batch(step)
        step += 1


def make_context(total_steps: int = 20, steps_per_epoch: int = 5, flops: bool = False,
                 log=lambda _m: None, **kw) -> SparseContext:
    example = batch(0)[0] if flops else None
    return SparseContext(total_steps=total_steps, steps_per_epoch=steps_per_epoch,
                         epochs=math.ceil(total_steps / steps_per_epoch), example_input=example,
                         loss_fn=F.cross_entropy, batches=batches, log=log, **kw)


def make_run(cfg: SparseConfig, model_cls: type[nn.Module] = TinyConv3dNet, seed: int = 0,
             optimizer: str = "sgd", **ctx_kw) -> tuple[nn.Module, torch.optim.Optimizer, Sparsifier]:
    torch.manual_seed(seed)
    model = model_cls()
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                              weight_decay=1e-3)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-2)
    return model, opt, build_sparsifier(cfg, model, opt, make_context(**ctx_kw))


def train_steps(model: nn.Module, opt: torch.optim.Optimizer, sparsifier: Sparsifier,
                start: int, stop: int, rank: int = 0) -> None:
    """The loop's calling sequence for steps [start, stop), with epoch ends."""
    model.train()
    spe = sparsifier.ctx.steps_per_epoch
    for step in range(start, stop):
        x, y = batch(step, rank=rank)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        sparsifier.before_step(step)
        opt.step()
        sparsifier.after_step(step)
        if (step + 1) % spe == 0:
            sparsifier.on_epoch_end(step // spe)


def masked_weights_are_zero(sparsifier: Sparsifier) -> bool:
    return all(bool((t.param[~t.mask] == 0).all()) for t in sparsifier.tensors if t.mask is not None)
