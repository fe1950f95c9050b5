"""corruptions.apply_batch equals corruptions.apply per video bit for bit, stays on the input's device;
the noise uint8 kernels equal their float form."""

from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

import corruptions
from corruptions import api, noise
from corruptions.errors import CorruptionError
from corruptions.presets import all_presets


def _videos(batch: int, frames: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, frames, 3, size, size), generator=generator, dtype=torch.uint8)


def _non_codec(preset: str) -> list[str]:
    codec = set(corruptions.names(preset, family="codec"))
    return [n for n in corruptions.names(preset) if n not in codec]


CASES = [(n, "ucf101-p") for n in _non_codec("ucf101-p") if n != "jpeg"] + \
        [(n, "imagenet-c") for n in _non_codec("imagenet-c") if n not in _non_codec("ucf101-p")]


@pytest.mark.parametrize("name,preset", CASES)
def test_batch_equals_per_video_calls(name: str, preset: str) -> None:
    videos = _videos(2, 2)
    ids = ["a/v1.avi", "b/v2.avi"]
    out = corruptions.apply_batch(videos, name, 3, video_ids=ids, seed=[5, 6], preset=preset)
    expected = torch.stack([corruptions.apply(v, name, 3, video_id=i, seed=s, preset=preset)
                            for v, i, s in zip(videos, ids, [5, 6])])
    assert out.dtype == torch.uint8 and torch.equal(out, expected)


def test_ragged_videos_and_reference_lengths() -> None:
    """Whole decoded videos of different lengths and sizes; the reference variant changes T."""
    videos = [_videos(1, 7, 32)[0], _videos(1, 12, 48, seed=1)[0]]
    for name, variant in [("jumble", "fixed"), ("sampling", "reference"), ("gaussian_noise", "fixed")]:
        out = corruptions.apply_batch(videos, name, 4, video_ids=["x", "y"], seed=3, preset="ucf101-p",
                                      variant=variant)
        expected = [corruptions.apply(v, name, 4, video_id=i, seed=3, preset="ucf101-p", variant=variant)
                    for v, i in zip(videos, ["x", "y"])]
        assert [o.shape for o in out] == [e.shape for e in expected]
        assert all(torch.equal(o, e) for o, e in zip(out, expected))
    assert out[1].shape == (12, 3, 48, 48)


def test_frame_ids_equal_apply_with_frames() -> None:
    """Only the frames a caller reads are moved and corrupted; frame t keeps its own seed."""
    video = _videos(1, 10)[0]
    wanted = [1, 4, 9]
    for name, preset in [("gaussian_noise", "ucf101-p"), ("contrast", "imagenet-c"), ("translate", "ucf101-p")]:
        out = corruptions.apply_batch([video[wanted]], name, 2, video_ids=["v"], seed=0, preset=preset,
                                      frame_ids=[wanted])[0]
        assert torch.equal(out, corruptions.apply(video, name, 2, video_id="v", seed=0, preset=preset,
                                                  frames=wanted))


def test_bad_batches_are_one_line_errors() -> None:
    videos = _videos(2, 3)
    with pytest.raises(CorruptionError, match="one id per video"):
        corruptions.apply_batch(videos, "gaussian_noise", 1, video_ids=["a"])
    with pytest.raises(CorruptionError, match=r"\[B, T, C, H, W\]"):
        corruptions.apply_batch(videos[0], "gaussian_noise", 1, video_ids=["a", "b", "c"])
    with pytest.raises(CorruptionError, match="whole clip"):
        corruptions.apply_batch(videos, "jumble", 1, video_ids=["a", "b"], preset="ucf101-p",
                                frame_ids=[[0, 1, 2]] * 2)
    with pytest.raises(CorruptionError, match="seed has 3 entries"):
        corruptions.apply_batch(videos, "gaussian_noise", 1, video_ids=["a", "b"], seed=[1, 2, 3])


class _CudaLabelledGenerator(torch.Generator):
    """A CPU generator that reports device cuda: FakeTensorMode cannot make a real CUDA one here."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda")


@pytest.mark.parametrize("name,preset", [("gaussian_noise", "ucf101-p"), ("zoom_blur", "ucf101-p"),
                                         ("contrast", "imagenet-c"), ("rotate", "ucf101-p"), ("jumble", "ucf101-p"),
                                         ("freeze", "ucf101-p")])
def test_batch_stays_on_the_videos_device(name: str, preset: str, monkeypatch) -> None:
    """Every tensor and generator is made on the input's device: mixing cuda and cpu raises under fake mode."""
    made: list[str] = []

    def seeded(device: torch.device, seed: int) -> torch.Generator:
        made.append(torch.device(device).type)
        generator = _CudaLabelledGenerator() if torch.device(device).type == "cuda" else torch.Generator()
        return generator.manual_seed(seed)

    monkeypatch.setattr(api, "seeded", seeded)
    with FakeTensorMode():
        videos = torch.empty(2, 3, 3, 32, 32, dtype=torch.uint8, device="cuda")
        out = corruptions.apply_batch(videos, name, 3, video_ids=["a", "b"], preset=preset)
        ragged = corruptions.apply_batch([videos[0], videos[1, :2]], name, 3, video_ids=["a", "b"], preset=preset)
    assert out.device.type == "cuda" and out.shape == videos.shape and out.dtype == torch.uint8
    assert [r.device.type for r in ragged] == ["cuda", "cuda"]
    assert made and set(made) == {"cuda"}


def _noise_params() -> list[tuple[str, object]]:
    """(function key, parameter) of every noise severity in every preset that has it."""
    params = set()
    for preset in all_presets().values():
        for entry in preset.entries.values():
            if entry.key in noise.UINT8:
                for severity in range(1, 6):
                    for variant in corruptions.VARIANTS:
                        params.add((entry.key, entry.param(severity, variant)))
    return sorted(params, key=str)


@pytest.mark.parametrize("coherent", [False, True])
def test_uint8_noise_kernels_equal_their_float_form(coherent: bool) -> None:
    """The uint8 kernels corruptions.apply now takes give what the float functions gave, bit for bit."""
    levels = torch.arange(256, dtype=torch.uint8).repeat(2 * 3 * 8 * 8 // 256 + 1)[: 2 * 3 * 8 * 8]
    v = torch.cat([levels.view(2, 3, 8, 8), _videos(1, 2, 8)[0]])  # every level, and random frames
    checked = 0
    for key, param in _noise_params():
        fast = noise.UINT8[key](v, param, torch.Generator().manual_seed(1), coherent=coherent)
        slow = api.to_uint8(noise.FUNCTIONS[key](v.float().div(255), param, torch.Generator().manual_seed(1),
                                                 coherent=coherent))
        assert fast.dtype == torch.uint8 and torch.equal(fast, slow), (key, param)
        checked += 1
    assert checked >= 4 * 5
