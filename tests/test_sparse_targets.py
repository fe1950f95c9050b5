"""Which tensors get masks: by module type, never norms/biases/embeddings/tokens/tables."""

from __future__ import annotations

import torch
from torch import nn

from tests.sparse_fixtures import (TinyVideoTransformer, batch, make_run, masked_weights_are_zero,
                                  train_steps)
from tests.sparse_fixtures import single_thread  # noqa: F401  (autouse fixture)
from vidsparse.sparse import SparseConfig, register_sparse_module
from vidsparse.sparse.targets import SPARSE_MODULE_TYPES, find_sparse_tensors

TRANSFORMER_MASKABLE = {
    "patch_embed.weight", "attn.in_proj_weight", "attn.out_proj.weight", "custom.q.weight",
    "custom.k.weight", "custom.v.weight", "custom.proj.weight", "mlp.0.weight", "mlp.2.weight",
    "head.weight",
}


def test_video_transformer_masks_only_projection_and_conv_weights():
    model, opt, sparsifier = make_run(SparseConfig(method="rigl", sparsity=0.5, update_every=2,
                                                   distribution="uniform"),
                                      TinyVideoTransformer)
    assert {t.name for t in sparsifier.tensors} == TRANSFORMER_MASKABLE
    assert all(t.mask is not None for t in sparsifier.tensors)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_steps(model, opt, sparsifier, 0, 6)
    assert masked_weights_are_zero(sparsifier)
    for name, p in model.named_parameters():
        if name not in TRANSFORMER_MASKABLE:  # biases, norms, tokens, embeddings, tables
            assert int((p == 0).sum()) <= int((before[name] == 0).sum()), name
    # the never-masked tensors really trained (they got gradients and moved)
    for name in ("cls_token", "pos_embed", "frame_embed.weight", "norm1.weight",
                 "custom.relative_position_bias_table", "attn.in_proj_bias", "norm.weight"):
        assert not torch.equal(dict(model.named_parameters())[name], before[name]), name


class HeadFirst(nn.Module):
    """Registers the classifier before the stem, so only execution order finds them."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 5)
        self.body = nn.Conv3d(8, 8, 1)
        self.stem = nn.Conv3d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).mean((2, 3, 4)))


def test_first_layer_and_classifier_found_by_execution_order():
    model = HeadFirst()
    tensors = find_sparse_tensors(model, batch(0)[0], dense_first_layer=True, dense_classifier=True)
    assert {t.name: t.dense for t in tensors} == {"head.weight": True, "body.weight": False,
                                                   "stem.weight": True}


def test_transformer_dense_first_and_classifier_options():
    _, _, sparsifier = make_run(SparseConfig(method="static", sparsity=0.5, dense_first_layer=True,
                                             dense_classifier=True), TinyVideoTransformer,
                                flops=True)
    dense = {t.name for t in sparsifier.tensors if t.dense}
    assert dense == {"patch_embed.weight", "head.weight"}
    assert all(t.mask is None for t in sparsifier.tensors if t.dense)


def test_attention_with_separate_qkv_weights_and_out_proj():
    attn = nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    names = {t.name for t in find_sparse_tensors(attn)}
    assert names == {"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"}


def test_tied_weights_are_masked_once_and_frozen_ones_skipped():
    a, b, frozen = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = a.weight
    frozen.weight.requires_grad_(False)
    names = [t.name for t in find_sparse_tensors(nn.ModuleList([a, b, frozen]))]
    assert names == ["0.weight"]


def test_custom_module_types_can_be_registered():
    class Bilinear(nn.Bilinear):
        pass

    assert find_sparse_tensors(Bilinear(3, 3, 2)) == []
    register_sparse_module(nn.Bilinear, lambda m: ("weight",))
    try:
        assert [t.name for t in find_sparse_tensors(Bilinear(3, 3, 2))] == ["weight"]
    finally:
        del SPARSE_MODULE_TYPES[nn.Bilinear]


def test_norms_and_embeddings_are_not_maskable():
    modules = nn.ModuleList([nn.BatchNorm1d(4), nn.BatchNorm2d(4), nn.BatchNorm3d(4),
                             nn.LayerNorm(4), nn.GroupNorm(2, 4), nn.Embedding(10, 4)])
    assert find_sparse_tensors(modules) == []
