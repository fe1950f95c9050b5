"""``--deterministic`` on CUDA: tiled-mean pooling and interpolation as a matmul (equal to the
layers they replace), the kernel settings, and their restoration after a run."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidsparse.config import ModelConfig
from vidsparse.models import model_from_config
from vidsparse.models.deterministic import TiledAvgPool, interpolation_matrix, make_deterministic
from vidsparse.training.setup import kernel_settings


@pytest.mark.parametrize("layer, shape", [
    (nn.AdaptiveAvgPool3d(1), (2, 3, 4, 6, 6)),
    (nn.AdaptiveAvgPool3d((1, 3, 2)), (2, 3, 4, 6, 6)),
    (nn.AdaptiveAvgPool3d((None, 1, 1)), (2, 3, 4, 6, 6)),
    (nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 6, 6)),
    (nn.AvgPool3d((2, 2, 2)), (2, 3, 5, 7, 6)),  # remainders dropped as AvgPool drops them
    (nn.AdaptiveAvgPool3d((3, 4, 4)), (2, 3, 4, 6, 6)),  # does not tile: the adaptive fallback
])
def test_tiled_pool_equals_the_layer_it_replaces(layer, shape):
    model = nn.Sequential(layer)
    report = make_deterministic(model)
    assert isinstance(model[0], TiledAvgPool) and report.replaced == [f"0 ({type(layer).__name__})"]
    x = torch.randn(shape, requires_grad=True)
    expected = layer(x)
    (grad_expected,) = torch.autograd.grad(expected.sum(), x)
    got = model(x)
    (grad_got,) = torch.autograd.grad(got.sum(), x)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grad_got, grad_expected)


def test_layers_without_a_deterministic_equivalent_are_named():
    model = nn.Sequential(nn.AvgPool3d(3, stride=1), nn.Upsample(scale_factor=2, mode="trilinear"),
                          nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1))
    report = make_deterministic(model)
    assert report.replaced == []
    assert report.nondeterministic == ["0 (AvgPool3d)", "1 (Upsample)", "3 (ReflectionPad2d)"]
    assert "stay nondeterministic" in report.lines()[0]


def test_video_model_pools_become_means_with_the_same_output():
    torch.manual_seed(0)
    model = model_from_config(ModelConfig(name="r3d_small", width=4), 5).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    before = model(x)
    report = make_deterministic(model)
    assert report.replaced and not report.nondeterministic
    torch.testing.assert_close(model(x), before)


@pytest.mark.parametrize("grid, new_grid, mode", [((4,), (6,), "linear"), ((3, 4), (5, 2), "bicubic"),
                                                  ((2, 3, 3), (4, 2, 5), "trilinear")])
def test_interpolation_matrix_equals_interpolate(grid, new_grid, mode):
    x = torch.randn(1, 7, *grid, dtype=torch.float64)
    expected = F.interpolate(x, size=new_grid, mode=mode, align_corners=False)
    matrix = interpolation_matrix(grid, new_grid, mode, torch.device("cpu")).double()
    got = (matrix @ x.reshape(7, -1).T).T.reshape(expected.shape)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _flags():
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.fp32_precision)


def test_kernel_settings_apply_for_one_run_and_are_restored(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = _flags()
    with pytest.raises(KeyError):
        with kernel_settings(True, torch.device("cuda")):
            assert _flags() == (True, False, True, False, "ieee", "ieee")
            raise KeyError("a failed run")
    assert _flags() == before
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    with kernel_settings(False, torch.device("cuda")):
        assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
    with kernel_settings(False, torch.device("cpu")):
        assert _flags() == before
    assert _flags() == before
