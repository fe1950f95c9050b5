"""Device checks without a GPU: every public corruption, the sparse engine, the evaluator's
transforms, Fourier filtering and the attacks keep their tensors on the input's (fake CUDA)
device. ``tests/fake_cuda.py`` explains the harness; a CPU tensor meeting a CUDA one raises.

CPU-only by design (they encode through libjpeg / FFmpeg on the CPU and copy back): the codec
family and ``jpeg_compression``; they are listed in ``CPU_ONLY`` and checked to stay CPU-only.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensor

import corruptions
from corruptions import registry
from tests.fake_cuda import CUDA, assert_on, fake_autograd, fake_cuda
from tests.sparse_fixtures import CLIP, NUM_CLASSES, TinyConv3dNet
from vidsparse.data.image.datasets import ImageTransform
from vidsparse.data.video.transforms import ClipTransform
from vidsparse.evaluation.attacks import AttackSpec, PixelModel, attack
from vidsparse.evaluation.fourier import filter_frequencies
from vidsparse.sparse import SparseConfig, SparseContext, build_sparsifier
from vidsparse.sparse.sparsifier import multiplier

CPU_ONLY_FUNCTIONS = {"jpeg_compression"}  # libjpeg through torchvision: CPU tensors only


def _function(name: str, preset: str) -> registry.Function:
    return registry.get_function(corruptions.info(name, preset)["function"])


def _cases() -> list[tuple[str, str]]:
    """One (preset, name) per distinct corruption function: every public corruption's code path."""
    seen, cases = set(), []
    for preset in corruptions.presets():
        for name in corruptions.names(preset):
            key = corruptions.info(name, preset)["function"]
            if key not in seen:
                seen.add(key)
                cases.append((preset, name))
    return cases


def _cpu_only(preset: str, name: str) -> bool:
    function = _function(name, preset)
    return function.family == "codec" or function.key in CPU_ONLY_FUNCTIONS


CASES = _cases()
DEVICE_CASES = [c for c in CASES if not _cpu_only(*c)]


def test_harness_catches_a_cpu_constant_and_fakes_cuda_generators():
    with fake_cuda() as cuda:
        x = cuda.empty(2, 3, 4, 4)
        assert isinstance(x, FakeTensor) and x.device == CUDA
        assert torch.Generator(device="cuda").device.type == "cuda"
        with pytest.raises(RuntimeError, match="devices"):
            x - torch.tensor([0.5, 0.5, 0.5]).view(3, 1, 1)
        assert bool(x.max() >= 0)  # values are stubbed, not computed


@pytest.mark.parametrize("preset, name", DEVICE_CASES, ids=[n for _, n in DEVICE_CASES])
def test_corruption_stays_on_the_input_device(preset, name):
    with fake_cuda() as cuda:
        out = corruptions.apply(cuda.empty(2, 3, 16, 16, dtype=torch.uint8), name, 3, preset=preset,
                                seed=0, video_id="v")
        assert out.device == CUDA and out.dtype == torch.uint8


def test_every_function_is_checked_or_listed_cpu_only():
    covered = {corruptions.info(n, p)["function"] for p, n in CASES}
    every = {corruptions.info(n, p)["function"] for p in corruptions.presets() for n in corruptions.names(p)}
    assert covered == every
    cpu = {corruptions.info(n, p)["function"] for p, n in CASES if _cpu_only(p, n)}
    assert cpu >= CPU_ONLY_FUNCTIONS and len(cpu) < len(every) / 3


@pytest.mark.parametrize("method", ["static", "rigl", "set", "snip", "gmp", "mest", "granet"])
def test_sparse_engine_masks_and_updates_stay_on_the_device(method):
    cfg = SparseConfig(method=method, sparsity=0.6, update_every=1, snip_batches=1)
    torch.manual_seed(0)
    model = TinyConv3dNet()
    with fake_cuda() as cuda, fake_autograd():
        model = cuda.module(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

        def batches():
            while True:
                yield cuda.empty(2, *CLIP), torch.zeros(2, dtype=torch.long, device=CUDA)

        ctx = SparseContext(total_steps=4, steps_per_epoch=2, epochs=2, example_input=None,
                            loss_fn=F.cross_entropy, batches=batches, log=lambda _m: None)
        sparsifier = build_sparsifier(cfg, model, opt, ctx)
        for step in range(4):
            x, y = next(batches())
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            sparsifier.before_step(step)
            opt.step()
            sparsifier.after_step(step)
        sparsifier.on_epoch_end(1)
        assert_on(CUDA, [t.mask for t in sparsifier.tensors if t.mask is not None], list(model.parameters()))
        assert_on(CUDA, [v for s in opt.state.values() for v in s.values() if isinstance(v, torch.Tensor)])
        # the per-step multiply is one fused _foreach_mul_: masks in the weights' dtype on CUDA
        assert all(m.dtype == torch.float32 for m in sparsifier._masks)
        assert multiplier(torch.ones(3, dtype=torch.bool, device=CUDA), cuda.empty(3)).dtype == torch.float32
    assert multiplier(torch.ones(3, dtype=torch.bool), torch.ones(3)).dtype == torch.bool  # 1 byte on the CPU


def test_image_and_clip_transforms_follow_their_input():
    with fake_cuda() as cuda:
        image = ImageTransform(16, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))(cuda.empty(3, 20, 24, dtype=torch.uint8))
        clip = ClipTransform(16, 16, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
        frames = cuda.empty(4, 20, 24, 3, dtype=torch.uint8)
        views = clip.test(frames, num_crops=3)
        train = clip.train(frames, torch.Generator(device="cuda"))
        assert_on(CUDA, image, views, train)
        assert views.shape == (3, 3, 4, 16, 16)


def test_fourier_filtering_stays_on_the_device():
    with fake_cuda() as cuda:
        for kind in ("low_pass", "high_pass"):
            out = filter_frequencies(cuda.empty(2, 3, 4, 16, 16), 4.0, kind)
            assert out.device == CUDA and out.shape == (2, 3, 4, 16, 16)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_attacks_stay_on_the_device(name):
    torch.manual_seed(0)
    net = TinyConv3dNet().eval()
    spec = AttackSpec(name, 8 / 255, steps=2, restarts=2)
    with fake_cuda() as cuda, fake_autograd():
        model = PixelModel(cuda.module(net), (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))
        clean = cuda.empty(2, 2, *CLIP)  # two views per sample
        labels = torch.zeros(2, dtype=torch.long)  # CPU labels, as a loader gives them
        generators = [torch.Generator(device="cuda").manual_seed(i) for i in range(2)]
        adversarial = attack(model, clean, labels, spec, generators, chunk=3)  # chunks straddle samples
        assert adversarial.device == CUDA and adversarial.shape == clean.shape
        assert NUM_CLASSES == model(clean).shape[-1]
