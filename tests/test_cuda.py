"""Checks that need a real CUDA device (skipped elsewhere; ``scripts/gpu_check.sh`` runs them)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import corruptions
from vidsparse.config import ModelConfig
from vidsparse.models import model_from_config
from vidsparse.models.deterministic import make_deterministic
from vidsparse.training.setup import kernel_settings

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "defocus_blur", "motion_blur", "rotate", "jumble"])
def test_corruptions_run_on_the_gpu_and_keep_the_device(name):
    video = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    out = corruptions.apply(video.to(CUDA), name, 3, preset="ucf101-p", seed=0, video_id="v")
    assert out.device.type == "cuda" and out.shape == video.shape and out.dtype == torch.uint8


def test_deterministic_training_steps_repeat_bit_for_bit_on_the_gpu():
    def run() -> torch.Tensor:
        torch.manual_seed(0)
        model = model_from_config(ModelConfig(name="r3d_small", width=8), 5).to(CUDA)
        report = make_deterministic(model)
        assert not report.nondeterministic
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x = torch.randn(4, 3, 8, 32, 32, device=CUDA)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), torch.arange(4, device=CUDA)).backward()  # raises if a kernel is not
            opt.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    with kernel_settings(True, CUDA):
        first, second = run(), run()
    assert torch.equal(first, second)
