"""Model zoo: every registered model in its tiny configuration trains, masks correctly and
declares its input; the standard configurations match the published layouts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from vidsparse.errors import UserError
from vidsparse.models import FAMILIES, MODELS, create_model, get_model_entry, list_models, model_input
from vidsparse.sparse import SparseConfig, SparseContext, build_sparsifier
from vidsparse.sparse.targets import find_sparse_tensors

ALL = list_models()
NUM_CLASSES = 5
CONV_LINEAR = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def tiny(name: str, seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = create_model(name, NUM_CLASSES, size="tiny")
    return model, torch.randn(model_input(name, "tiny").shape(batch=2))


# -------------------------------------------------------------------------------------------
# registry


def test_registry_covers_the_zoo():
    assert len(ALL) >= 30
    assert {e.family for e in MODELS.values()} == set(FAMILIES)
    for name in ("c3d", "r3d_18", "mc3_18", "r2plus1d_18", "slow_r50", "i3d_r50", "x3d_xs", "x3d_s", "x3d_m",
                 "slowfast_r50", "csn_r101", "timesformer", "vivit_b", "vit_b_tubelet", "mvit_v2_s", "swin3d_t",
                 "resnet18", "resnet34_cifar", "resnet50", "vgg16_cifar", "vgg19_cifar", "efficientnet_b0",
                 "deit_tiny", "deit_small", "deit_base"):
        assert name in MODELS, name
    assert list_models("x3d*") == ["x3d_m", "x3d_s", "x3d_xs"]


@pytest.mark.parametrize("name", ALL)
def test_entry_declares_standard_and_tiny_input(name):
    entry = get_model_entry(name)
    assert entry.description and entry.input.tiny is not None
    spec, small = model_input(name), model_input(name, "tiny")
    assert (spec.frames == 1) == (not entry.is_video) == (small.frames == 1)
    assert small.size <= 32 and small.frames <= 8 and spec.size >= small.size
    assert len(spec.mean) == len(spec.std) == 3 and all(0 < s < 1 for s in spec.std)
    assert model_input(f"{name}-tiny") == small


def test_unknown_name_and_size_give_one_line_errors():
    with pytest.raises(UserError, match=r"unknown model 'r3d18'; did you mean r3d_18"):
        create_model("r3d18", 10)
    with pytest.raises(UserError, match="unknown model size 'huge'"):
        create_model("r3d_18", 10, size="huge")
    with pytest.raises(UserError, match="multiple of its 3 attention heads"):
        create_model("deit_tiny", 10, width=100)
    with pytest.raises(UserError, match="must be positive"):
        create_model("c3d", 10, width=-4)


def test_tiny_suffix_unset_overrides_and_width():
    a = create_model("r3d_18-tiny", 7, width=None, dropout=None, size="")
    b = create_model("r3d_18", 7, size="tiny")
    assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    assert a.stem[0].out_channels == 8 and a.fc.out_features == 7
    assert create_model("r3d_18-tiny", 7, width=4).stem[0].out_channels == 4
    assert create_model("vit_s_tubelet-tiny", 3, width=6).head.in_features == 6
    assert create_model("x3d_xs-tiny", 3, dropout=0.3).blocks[-1].dropout.p == 0.3


# -------------------------------------------------------------------------------------------
# every model, tiny configuration


@pytest.mark.parametrize("name", ALL)
def test_tiny_forward_backward(name):
    model, x = tiny(name)
    out = model(x)
    assert out.shape == (2, NUM_CLASSES) and torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 1])).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters outside the graph: {no_grad[:5]}"


class WeightUse(TorchFunctionMode):
    """Records which parameters a forward pass feeds to convolutions and matrix products as
    weights: catches layers the sparse engine would miss whatever their module type."""

    OPS = {F.conv1d, F.conv2d, F.conv3d, F.linear, torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__,
           torch.mm, torch.bmm, torch.addmm, torch.einsum, F.multi_head_attention_forward}

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = {id(p): n for n, p in model.named_parameters()}
        self.used: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.OPS:
            for arg in [*args, *kwargs.values()]:
                if id(arg) in self.names and arg.dim() >= 2:
                    self.used.add(self.names[id(arg)])
        return func(*args, **kwargs)


@pytest.mark.parametrize("name", ALL)
def test_sparse_selection_follows_module_types(name):
    model, x = tiny(name)
    selected = {t.name for t in find_sparse_tensors(model)}
    must, must_not = set(), set()
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        own = dict(module.named_parameters(recurse=False))
        if isinstance(module, CONV_LINEAR):
            must.add(prefix + "weight")
        elif isinstance(module, nn.MultiheadAttention):
            must |= {prefix + k for k in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
                     if own.get(k) is not None}
        elif isinstance(module, NORMS) or isinstance(module, nn.Embedding):
            must_not |= {prefix + k for k in own}
        else:  # bare parameters: position embeddings, class tokens, relative-position tables
            must_not |= {prefix + k for k in own}
        must_not |= {prefix + k for k in own if k.endswith("bias")}
    assert must <= selected, f"missed: {sorted(must - selected)[:5]}"
    assert not (must_not & selected), f"wrongly masked: {sorted(must_not & selected)[:5]}"
    assert selected <= must
    with WeightUse(model) as use:
        model(x)
    assert use.used <= selected, f"weights used by convolutions/matmuls but not masked: {sorted(use.used - selected)}"


@pytest.mark.parametrize("name", ALL)
def test_masked_training_step_keeps_masked_weights_zero(name):
    model, x = tiny(name)
    y = torch.tensor([0, 1])
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    F.cross_entropy(model(x), y).backward()  # a dense step first: momentum everywhere
    optimizer.step()
    optimizer.zero_grad()
    ctx = SparseContext(total_steps=1, steps_per_epoch=1, epochs=1, example_input=None,
                        loss_fn=nn.CrossEntropyLoss(), batches=lambda: iter([(x, y)]))
    sparsifier = build_sparsifier(SparseConfig(method="static", sparsity=0.5), model, optimizer, ctx)
    masked = [t for t in sparsifier.tensors if t.mask is not None]
    assert masked
    before = {t.name: t.param.detach().clone() for t in masked}
    F.cross_entropy(model(x), y).backward()
    sparsifier.before_step(0)
    optimizer.step()
    sparsifier.after_step(0)
    for t in masked:
        assert not t.param[~t.mask].any(), f"{t.name}: masked weights moved"
    assert any(not torch.equal(t.param[t.mask], before[t.name][t.mask]) for t in masked)  # it did train
    overall = sum(t.active for t in sparsifier.tensors) / sum(t.numel for t in sparsifier.tensors)
    assert overall == pytest.approx(0.5, abs=0.02)


# -------------------------------------------------------------------------------------------
# architecture specifics


def test_slowfast_builds_slow_pathway_by_temporal_subsampling():
    from vidsparse.models.pytorchvideo_nets import SLOWFAST_ALPHA, slow_pathway

    clip = torch.arange(32.0).view(1, 1, 32, 1, 1).expand(1, 3, 32, 2, 2)
    slow = slow_pathway(clip, SLOWFAST_ALPHA)
    assert slow.shape[2] == 8 and slow[0, 0, :, 0, 0].tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    model, x = tiny("slowfast_r50")
    with pytest.raises(UserError, match="divisible by alpha=4"):
        model(x[:, :, :6])


def test_mc3_uses_3d_convs_only_in_its_first_stage():
    model = create_model("mc3_18-tiny", 4)
    kernels = {stage: {m.kernel_size for m in getattr(model, stage).modules()
                       if isinstance(m, nn.Conv3d) and m.kernel_size != (1, 1, 1)}
               for stage in ("layer1", "layer2", "layer3", "layer4")}
    assert kernels["layer1"] == {(3, 3, 3)}
    assert kernels["layer2"] == kernels["layer3"] == kernels["layer4"] == {(1, 3, 3)}


def test_r2plus1d_factorises_every_convolution():
    model = create_model("r2plus1d_18-tiny", 4)
    kernels = {m.kernel_size for m in model.modules() if isinstance(m, nn.Conv3d) and m.kernel_size != (1, 1, 1)}
    assert kernels == {(1, 7, 7), (1, 3, 3), (3, 1, 1)}


@pytest.mark.parametrize("name,frames,size", [("timesformer", 8, 48), ("vivit_b", 8, 48), ("deit_tiny", 1, 48),
                                              ("x3d_s", 6, 40), ("slow_r50", 6, 40), ("c3d", 8, 48)])
def test_adaptive_models_accept_other_inputs(name, frames, size):
    model = create_model(f"{name}-tiny", 3).eval()
    shape = (1, 3, size, size) if frames == 1 else (1, 3, frames, size, size)
    assert model(torch.randn(shape)).shape == (1, 3)


def test_mvit_rejects_other_inputs_clearly():
    model = create_model("mvit_v2_s-tiny", 3)
    assert model_input("mvit_v2_s").fixed
    with pytest.raises(UserError, match="set data.clip_len=4 data.crop=32"):
        model(torch.randn(1, 3, 4, 40, 40))


def test_timesformer_attends_across_time_and_space():
    """Divided attention: a change to one patch of frame 0 reaches the same patch in the
    other frames (temporal attention) and the other patches of frame 0 (spatial attention)."""
    model, x = tiny("timesformer")
    model.eval()
    x = x[:1]
    y = x.clone()
    y[:, :, 0] += 1.0
    assert not torch.allclose(model(x), model(y))
    from vidsparse.models.timesformer import DividedBlock

    block = model.blocks[0]
    assert isinstance(block, DividedBlock)
    cls = torch.zeros(1, 1, 16)
    tokens = torch.randn(1, 4, 16, 16)
    changed = tokens.clone()
    changed[:, 0, 0] += torch.randn(16)  # one patch of frame 0
    nn.init.normal_(block.temporal_fc.weight)
    _, a = block(cls, tokens)
    _, b = block(cls, changed)
    moved = (a - b).abs().sum(-1)[0]  # [T, N]
    assert moved[1:, 0].gt(1e-6).all()  # the same patch in later frames (temporal attention)
    assert moved[0, 1:].gt(1e-6).all()  # other patches of frame 0 (spatial attention)


# -------------------------------------------------------------------------------------------
# standard configurations match the reference layouts (built on the meta device: no memory)


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _reference(name: str):
    from pytorchvideo.models import hub
    from torchvision import models as tvm

    return {
        "r3d_18": lambda: tvm.video.r3d_18(num_classes=400),
        "mc3_18": lambda: tvm.video.mc3_18(num_classes=400),
        "r2plus1d_18": lambda: tvm.video.r2plus1d_18(num_classes=400),
        "mvit_v2_s": lambda: tvm.video.mvit_v2_s(num_classes=400),
        "swin3d_t": lambda: tvm.video.swin3d_t(num_classes=400),
        "resnet50": lambda: tvm.resnet50(num_classes=400),
        "efficientnet_b0": lambda: tvm.efficientnet_b0(num_classes=400),
        "slow_r50": lambda: hub.slow_r50(model_num_class=400),
        "i3d_r50": lambda: hub.i3d_r50(model_num_class=400),
        "csn_r101": lambda: hub.csn_r101(model_num_class=400),
        "x3d_m": lambda: hub.x3d_m(model_num_class=400),
        "slowfast_r50": lambda: hub.slowfast_r50(model_num_class=400),
    }[name]()


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18", "mvit_v2_s", "swin3d_t", "resnet50",
                                  "efficientnet_b0", "slow_r50", "i3d_r50", "csn_r101", "x3d_m", "slowfast_r50"])
def test_state_dict_layout_matches_reference_builder(name):
    with torch.device("meta"):
        ours, reference = create_model(name, 400), _reference(name)
    assert _shapes(ours) == _shapes(reference)


def test_video_resnet_computes_what_torchvision_computes():
    from torchvision.models.video import mc3_18

    torch.manual_seed(0)
    reference = mc3_18(num_classes=10).eval()
    ours = create_model("mc3_18", 10).eval()
    ours.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.allclose(ours(x), reference(x), atol=1e-5)


# -------------------------------------------------------------------------------------------
# --pretrained


def _save(path, obj) -> str:
    torch.save(obj, path)
    return str(path)


def test_pretrained_run_checkpoint_with_ddp_prefix_and_new_label_set(tmp_path):
    import numpy as np

    from vidsparse.models import load_pretrained

    source = create_model("r3d_18-tiny", 4)
    state = {"model": {f"module.{k}": v for k, v in source.state_dict().items()},
             "rng": {"numpy": np.random.get_state()}, "classes": ["a", "b", "c", "d"]}  # needs a full unpickle
    path = _save(tmp_path / "last.pt", state)
    target = create_model("r3d_18-tiny", 7)
    head_before = target.fc.weight.clone()
    messages: list[str] = []
    report = load_pretrained(target, path, log=messages.append)
    assert report.stripped == ["module."] and report.classifier == ["fc.weight", "fc.bias"]
    assert not report.missing and not report.unexpected and not report.backbone_mismatched
    assert len(report.loaded) == report.model_tensors - 2
    for key, value in source.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(target.state_dict()[key], value), key
    assert torch.equal(target.fc.weight, head_before)
    assert "classifier re-initialised (shape differs): fc.weight, fc.bias" in messages[0]


def test_pretrained_pytorchvideo_layout_reproduces_the_model(tmp_path):
    from vidsparse.models import load_pretrained

    source, x = tiny("x3d_xs", seed=1)
    path = _save(tmp_path / "x3d.pyth", {"model_state": source.state_dict(), "epoch": 3})
    target, _ = tiny("x3d_xs", seed=2)
    report = load_pretrained(target, path, log=None)
    assert len(report.loaded) == len(source.state_dict()) and not report.mismatched
    assert torch.allclose(source.eval()(x), target.eval()(x))


def test_pretrained_report_lists_missing_unexpected_and_backbone_mismatches(tmp_path):
    from vidsparse.models import load_pretrained

    state = create_model("deit_tiny-tiny", NUM_CLASSES).state_dict()
    del state["blocks.0.mlp.fc2.weight"]
    state["blocks.0.attn.q_bias"] = torch.zeros(16)
    state["pos_embed"] = torch.zeros(1, 50, 16)  # another resolution
    report = load_pretrained(create_model("deit_tiny-tiny", NUM_CLASSES), _save(tmp_path / "w.pth", state), log=None)
    assert report.missing == ["blocks.0.mlp.fc2.weight"]
    assert report.unexpected == ["blocks.0.attn.q_bias"]
    assert report.backbone_mismatched == [("pos_embed", (1, 50, 16), (1, 17, 16))]
    text = report.format()
    assert "shape mismatch, skipped (1): pos_embed file [1, 50, 16] vs model [1, 17, 16]" in text
    assert "missing from file, left at init (1)" in text and "unexpected in file, ignored (1)" in text


def test_pretrained_videomae_split_attention_bias(tmp_path):
    from vidsparse.models import load_pretrained

    source = create_model("vit_s_tubelet-tiny", NUM_CLASSES)
    state = {f"module.{k}": v for k, v in source.state_dict().items() if not k.endswith("attn.qkv.bias")}
    q, v = torch.randn(16), torch.randn(16)
    state["module.blocks.0.attn.q_bias"], state["module.blocks.0.attn.v_bias"] = q, v
    target = create_model("vit_s_tubelet-tiny", NUM_CLASSES)
    report = load_pretrained(target, _save(tmp_path / "videomae.pth", {"module": state}), log=None)
    assert not report.missing and not report.unexpected
    assert torch.equal(target.blocks[0].attn.qkv.bias, torch.cat([q, torch.zeros(16), v]))


def test_pretrained_bad_files_fail_with_one_line(tmp_path):
    from vidsparse.models import load_pretrained

    model = create_model("c3d-tiny", NUM_CLASSES)
    with pytest.raises(UserError, match="pretrained weights not found"):
        load_pretrained(model, tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(UserError, match="unreadable"):
        load_pretrained(model, tmp_path / "junk.pt")
    with pytest.raises(UserError, match="holds no state dict"):
        load_pretrained(model, _save(tmp_path / "meta.pt", {"epoch": 3}))
    other = _save(tmp_path / "other.pt", create_model("deit_tiny-tiny", NUM_CLASSES).state_dict())
    with pytest.raises(UserError, match="is it a checkpoint of this model"):
        load_pretrained(model, other)


# -------------------------------------------------------------------------------------------
# statistics cache and docs/models.md


def test_shipped_stats_are_current_for_every_model():
    from vidsparse.models.stats import compute_stats, is_current, load_cache

    cache = load_cache()
    for name in ALL:
        assert name in cache, f"{name}: run scripts/gen_models_doc.py"
        assert is_current(cache[name], compute_stats(name, flops=False)), f"{name}: stale, rerun the script"
        assert cache[name].gflops and cache[name].gflops > 0


@pytest.mark.parametrize("name", ["r3d_small", "vgg16_cifar"])
def test_cached_gflops_match_a_fresh_count(name):
    from vidsparse.models.stats import compute_stats, load_cache

    assert compute_stats(name).gflops == pytest.approx(load_cache()[name].gflops, rel=1e-9)


def test_attention_flops_count_projections_and_both_attention_products():
    from vidsparse.models.stats import count_gflops
    from vidsparse.models.transformer import Attention

    tokens, dim = 10, 16
    flops = count_gflops(Attention(dim, heads=2), torch.randn(1, tokens, dim)) * 1e9
    projections = tokens * dim * 3 * dim + tokens * dim * dim
    attention = 2 * tokens * tokens * dim  # Q K^T and A V, summed over heads
    assert flops == pytest.approx(projections + attention)


def test_models_doc_is_generated_from_the_cache():
    from pathlib import Path

    from scripts.gen_models_doc import DOC_PATH, render_doc
    from vidsparse.models.stats import load_cache

    cache = load_cache()
    text = Path(DOC_PATH).read_text()
    assert text == render_doc([cache[name] for name in ALL]), "docs/models.md is stale: run scripts/gen_models_doc.py"
    assert "one multiply-add = one FLOP" in text
    for name in ALL:
        assert f"`{name}`" in text
