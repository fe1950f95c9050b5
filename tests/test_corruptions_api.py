"""Public API of the corruptions package: presets, validation, seeding, and a smoke test of
every (preset, corruption, severity)."""

from __future__ import annotations

import pytest
import torch

import corruptions
from corruptions import CorruptionError
from corruptions.presets import all_presets


def clip(frames: int = 4, height: int = 32, width: int = 40, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, 3, height, width), generator=gen, dtype=torch.uint8)


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(CorruptionError) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message
    return message


# --------------------------------------------------------------------------------------------
# presets and names


@pytest.mark.parametrize(
    "preset, count",
    [("imagenet-c", 19), ("tinyimagenet-c", 19), ("cifar-c", 19), ("ucf101-p", 18), ("hmdb51-p", 18),
     ("mini-kinetics-c", 12), ("extra", 2)],
)
def test_preset_sizes(preset, count):
    assert len(corruptions.names(preset)) == count


def test_preset_contents_and_families():
    assert corruptions.names("ucf101-p", family="temporal") == [
        "sampling", "reverse_sampling", "jumble", "box_jumble", "freeze"]
    assert corruptions.names("ucf101-p", family="camera") == ["translate", "rotate", "static_rotate"]
    assert set(corruptions.names("ucf101-p", family="codec")) == {"mpeg2", "mpeg4"}
    assert set(corruptions.names("mini-kinetics-c", family="codec")) == {
        "h264_crf", "h265_crf", "bit_error", "packet_loss", "frame_rate"}
    assert len(corruptions.names("imagenet-c", family="frame")) == 19
    extra4 = {"gaussian_blur", "spatter", "saturate", "speckle_noise"}
    assert extra4 <= set(corruptions.names("imagenet-c"))
    everything = corruptions.names()
    assert len(everything) == len(set(everything))
    assert {"jpeg", "jpeg_compression", "rain", "h264_abr", "sampling"} <= set(everything)
    assert corruptions.families() == ["noise", "blur", "weather", "digital", "temporal", "camera", "codec"]
    assert "hmdb51-p" not in corruptions.presets() and "extra" in corruptions.presets()


def test_same_display_name_means_what_its_preset_says():
    definitions = corruptions.info("motion_blur")["definitions"]
    assert definitions["mini-kinetics-c"]["function"] == "temporal_motion_blur"
    assert definitions["ucf101-p"]["function"] == definitions["imagenet-c"]["function"] == "motion_blur"
    assert definitions["cifar-c"]["fixed"][0] == [6, 1]
    _, info = corruptions.apply_with_info(clip(16), "motion_blur", 1, preset="mini-kinetics-c", seed=0)
    assert info.function == "temporal_motion_blur" and info.family == "blur"
    assert corruptions.info("jpeg")["definitions"]["ucf101-p"]["function"] == "jpeg_compression"
    assert corruptions.info("shot_noise")["definitions"]["ucf101-p"]["fixed"] == [250, 100, 50, 30, 15]


def test_info_describes_sources_and_variants():
    info = corruptions.info("jumble")
    assert info["family"] == "temporal" and info["presets"] == ["ucf101-p"]
    assert info["definitions"]["ucf101-p"]["fixed"] == [4, 8, 16, 32, 64]
    assert info["definitions"]["ucf101-p"]["reference"] == [32, 16, 8, 4, 2]
    assert "(S)" in info["definitions"]["ucf101-p"]["source"]
    assert corruptions.describe is corruptions.info
    for preset in all_presets().values():  # every table cites where its numbers come from
        assert all(entry.table.source for entry in preset.entries.values())


def test_automatic_preset_choice():
    def chosen(name, height, width):
        return corruptions.apply_with_info(clip(2, height, width), name, 1, seed=0)[1].preset

    assert chosen("gaussian_noise", 32, 32) == "cifar-c"
    assert chosen("gaussian_noise", 64, 80) == "tinyimagenet-c"
    assert chosen("gaussian_noise", 120, 160) == "imagenet-c"
    assert chosen("sampling", 32, 32) == "ucf101-p"
    assert chosen("jpeg", 120, 160) == "ucf101-p"
    assert chosen("rain", 32, 40) == "mini-kinetics-c"
    assert chosen("h264_abr", 32, 40) == "extra"


def test_coherence_follows_the_preset_unless_overridden():
    video = clip(3)
    assert corruptions.apply_with_info(video, "fog", 2, preset="mini-kinetics-c", seed=0)[1].coherent is True
    assert corruptions.apply_with_info(video, "fog", 2, preset="imagenet-c", seed=0)[1].coherent is False
    info = corruptions.apply_with_info(video, "fog", 2, preset="mini-kinetics-c", seed=0, coherent=False)[1]
    assert info.coherent is False
    still = clip(1).expand(3, -1, -1, -1).contiguous()
    noisy = corruptions.apply(still, "gaussian_noise", 3, preset="ucf101-p", seed=1, coherent=True)
    assert torch.equal(noisy[0], noisy[1]) and torch.equal(noisy[1], noisy[2])


def test_reference_variant_switches_function_where_defined():
    video = clip(8)
    for name, preset, function in [("glass_blur", "cifar-c", "glass_blur_reference"),
                                   ("translate", "ucf101-p", "translate_reference"),
                                   ("freeze", "ucf101-p", "freeze_reference")]:
        info = corruptions.apply_with_info(video, name, 1, preset=preset, variant="reference", seed=0)[1]
        assert info.function == function and info.variant == "reference"
    _, info = corruptions.apply_with_info(video, "jumble", 1, preset="ucf101-p", variant="reference", seed=0)
    assert info.params == 32 and info.function == "jumble"


def test_info_records_what_reproduces_the_output():
    video = clip(2, 64, 64)
    out, info = corruptions.apply_with_info(video, "frost", 3, preset="tinyimagenet-c", seed=7, video_id="a/b.avi")
    assert info.extra["frost_source"]  # which frost photographs (or the procedural fallback) were used
    row = info.to_dict()
    assert row["seed"] == 7 and row["video_id"] == "a/b.avi" and row["params"] == [0.8, 0.45, 0.3]
    assert torch.equal(out, corruptions.apply(video, "frost", 3, preset="tinyimagenet-c", seed=7, video_id="a/b.avi"))


# --------------------------------------------------------------------------------------------
# bad input: one-line CorruptionError (a ValueError)


def test_unknown_names_list_the_valid_ones():
    message = one_line_error(corruptions.apply, clip(), "gausian_noise", 1)
    assert "gausian_noise" in message and "did you mean gaussian_noise" in message and "valid:" in message
    message = one_line_error(corruptions.apply, clip(), "sampling", 1, preset="imagenet-c")
    assert "imagenet-c" in message and "pixelate" in message
    message = one_line_error(corruptions.apply, clip(), "gaussian_noise", 1, preset="kinetics-c")
    assert "ucf101-p" in message and "hmdb51-p" in message
    assert issubclass(CorruptionError, ValueError)
    one_line_error(corruptions.names, "nope")
    one_line_error(corruptions.names, "ucf101-p", family="weird")
    one_line_error(corruptions.apply, clip(), "gaussian_noise", 1, variant="exact")


@pytest.mark.parametrize("severity", [0, 6, -1, 2.5, "3", True, None])
def test_severity_must_be_1_to_5(severity):
    assert "severity" in one_line_error(corruptions.apply, clip(), "gaussian_noise", severity)


@pytest.mark.parametrize(
    "video, fragment",
    [
        (torch.rand(2, 3, 8, 8), "uint8"),
        (torch.zeros(8, 8, dtype=torch.uint8), "shape"),
        (torch.zeros(1, 2, 3, 8, 8, dtype=torch.uint8), "shape"),
        (torch.zeros(2, 8, 8, 3, dtype=torch.uint8), "permute"),
        (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), "3 colour channels"),
        (torch.zeros(0, 3, 8, 8, dtype=torch.uint8), "empty"),
        (clip().numpy(), "torch.Tensor"),
    ],
)
def test_malformed_videos_are_rejected(video, fragment):
    assert fragment in one_line_error(corruptions.apply, video, "gaussian_noise", 1)


def test_frames_too_small_for_a_codec():
    message = one_line_error(corruptions.apply, clip(4, 8, 8), "h264_crf", 1)
    assert "16x16" in message and "8x8" in message


# --------------------------------------------------------------------------------------------
# layout and seeding


def test_image_layout_is_preserved():
    image = clip(1)[0]
    out = corruptions.apply(image, "contrast", 3, seed=0)
    assert out.shape == image.shape and out.dtype == torch.uint8
    assert not torch.equal(out, image)


def test_seeding_is_reproducible_and_distinct():
    video = clip(3)
    same = [corruptions.apply(video, "shot_noise", 2, seed=4, video_id="x") for _ in range(2)]
    assert torch.equal(*same)
    assert not torch.equal(same[0], corruptions.apply(video, "shot_noise", 2, seed=5, video_id="x"))
    assert not torch.equal(same[0], corruptions.apply(video, "shot_noise", 2, seed=4, video_id="y"))
    torch.manual_seed(123)
    first, info = corruptions.apply_with_info(video, "shot_noise", 2)
    torch.manual_seed(123)
    assert torch.equal(first, corruptions.apply(video, "shot_noise", 2))  # seed=None follows torch's RNG
    assert torch.equal(first, corruptions.apply(video, "shot_noise", 2, seed=info.seed))  # and is reported
    gen = torch.Generator().manual_seed(9)
    by_generator, info = corruptions.apply_with_info(video, "shot_noise", 2, generator=gen)
    assert info.seed is None
    again = corruptions.apply(video, "shot_noise", 2, generator=torch.Generator().manual_seed(9))
    assert torch.equal(by_generator, again)


def test_derived_seeds_are_stable_across_processes_and_versions():
    # A golden value: Python's hash() would change it on every run (hash randomisation), and
    # any change to the derivation would silently change every published corrupted set.
    assert corruptions.derive_seed(3, "v_x.avi", "jumble", 2) == 9114964421290958124
    assert corruptions.derive_seed(3, "v_x.avi", "jumble", 2) != corruptions.derive_seed(3, "v_x.avi", "jumble", 3)
    assert corruptions.derive_seed(3, "v_x.avi", "jumble", 2) != corruptions.derive_seed(3, "v_y.avi", "jumble", 2)


def test_frame_seeds_are_stable_and_frame_zero_keeps_the_clip_seed():
    from corruptions.api import frame_seed

    assert frame_seed(9114964421290958124, 0) == 9114964421290958124  # an image draws as it always did
    assert frame_seed(9114964421290958124, 1) == 4600034122522820934  # golden, as derive_seed's
    assert len({frame_seed(7, t) for t in range(100)}) == 100


# --------------------------------------------------------------------------------------------
# frames=: computing only the frames a caller reads


def _frames_cases() -> list[tuple[str, str, str]]:
    return [(p.name, n, v) for p in all_presets().values() for n in p.entries for v in corruptions.VARIANTS
            if corruptions.supports_frames(n, p.name, v)]


@pytest.mark.parametrize("preset, name, variant", _frames_cases())
def test_frames_gives_exactly_those_frames_of_the_full_output(smoke_clip, preset, name, variant):
    wanted = [0, 2, 5]
    for severity in (1, 5):
        options = dict(preset=preset, variant=variant, seed=3, video_id="v")
        full = corruptions.apply(smoke_clip, name, severity, **options)
        assert torch.equal(corruptions.apply(smoke_clip, name, severity, frames=wanted, **options), full[wanted])
        coherent = corruptions.apply(smoke_clip, name, severity, coherent=True, **options)
        assert torch.equal(corruptions.apply(smoke_clip, name, severity, frames=[4], coherent=True, **options),
                           coherent[[4]])


def test_which_corruptions_support_frames():
    chosen = {n for n in corruptions.names("ucf101-p") if corruptions.supports_frames(n, "ucf101-p")}
    per_frame = {*corruptions.names("ucf101-p", family="frame"), *corruptions.names("ucf101-p", family="camera")}
    assert chosen == per_frame | {"mpeg2", "mpeg4"} and len(per_frame) == 11
    assert corruptions.supports_frames("fog", "mini-kinetics-c")  # one fog layer for the clip: frames still stand alone
    assert not corruptions.supports_frames("motion_blur", "mini-kinetics-c")  # (Y)'s averages neighbouring frames
    assert not corruptions.supports_frames("h264_crf", "mini-kinetics-c")  # x264 B-frames look ahead


def test_causal_codecs_give_the_full_outputs_frames_from_a_prefix():
    """MPEG-2/4 frames depend on earlier frames only, across GOP boundaries (12 frames) too."""
    gen = torch.Generator().manual_seed(0)
    texture = torch.randint(0, 256, (3, 40, 48), generator=gen, dtype=torch.uint8)
    video = torch.stack([texture.roll((2 * t, t), dims=(1, 2)) for t in range(30)])  # a panning shot
    for name in ("mpeg2", "mpeg4"):
        for severity in (1, 3, 5):  # severity 5 codes at reduced resolution
            full = corruptions.apply(video, name, severity, seed=0, preset="ucf101-p")
            wanted = [2, 13, 20]
            assert torch.equal(corruptions.apply(video, name, severity, seed=0, preset="ucf101-p", frames=wanted),
                               full[wanted])


def test_frames_is_refused_where_frames_depend_on_each_other():
    video = clip(6)
    assert "needs the whole clip" in one_line_error(corruptions.apply, video, "jumble", 2, seed=0, frames=[1])
    assert "needs the whole clip" in one_line_error(corruptions.apply, video, "h264_crf", 2, seed=0, frames=[1],
                                                    preset="mini-kinetics-c")
    assert "an image [C, H, W] has one" in one_line_error(corruptions.apply, video[0], "gaussian_noise", 2, seed=0,
                                                          frames=[0])
    for bad in ([], [6], [-1]):
        assert "frames= must list indices in 0..5" in one_line_error(
            corruptions.apply, video, "gaussian_noise", 2, seed=0, frames=bad)


def test_frames_with_a_callers_generator():
    video = clip(6)
    for name in ("gaussian_noise", "rotate", "defocus_blur"):  # FRAME, FRAME, SHARED
        full = corruptions.apply(video, name, 3, generator=torch.Generator().manual_seed(5))
        part = corruptions.apply(video, name, 3, generator=torch.Generator().manual_seed(5), frames=[1, 4])
        assert torch.equal(part, full[[1, 4]]), name


def test_per_frame_noise_is_drawn_per_frame_and_an_image_draws_as_frame_zero():
    video = clip(1).expand(3, -1, -1, -1).contiguous()  # three identical frames
    noisy = corruptions.apply(video, "gaussian_noise", 3, seed=1, video_id="v")
    assert not torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[1], noisy[2])  # fresh noise per frame
    assert torch.equal(noisy[0], corruptions.apply(video[0], "gaussian_noise", 3, seed=1, video_id="v"))
    frozen = corruptions.apply(video, "gaussian_noise", 3, seed=1, video_id="v", coherent=True)
    assert torch.equal(frozen[0], frozen[1]) and torch.equal(frozen[1], frozen[2])


# --------------------------------------------------------------------------------------------
# every (preset, corruption, severity) runs through the public API


def _smoke_cases() -> list[tuple[str, str, int]]:
    return [(p.name, n, s) for p in all_presets().values() for n in p.entries for s in range(1, 6)]


CHANGES_LENGTH = {"frame_rate"}  # by definition (fixed variants)


@pytest.fixture(scope="module")
def smoke_clip() -> torch.Tensor:
    return clip(6, 32, 40, seed=1)


@pytest.mark.parametrize("preset, name, severity", _smoke_cases())
def test_every_corruption_applies(smoke_clip, preset, name, severity):
    out, info = corruptions.apply_with_info(smoke_clip, name, severity, preset=preset, seed=0, video_id="smoke")
    assert out.dtype == torch.uint8 and out.shape[1:] == smoke_clip.shape[1:]
    assert out.shape[0] == info.frames_out >= 1
    if info.function not in CHANGES_LENGTH:
        assert out.shape[0] == smoke_clip.shape[0]


@pytest.mark.parametrize("preset, name", sorted({(p, n) for p, n, _ in _smoke_cases()
                                                  if all_presets()[p].entries[n].table.reference is not None
                                                  or all_presets()[p].entries[n].reference_key}))
def test_every_reference_variant_applies(smoke_clip, preset, name):
    for severity in (1, 5):
        out = corruptions.apply(smoke_clip, name, severity, preset=preset, variant="reference", seed=0)
        assert out.dtype == torch.uint8 and out.shape[1:] == smoke_clip.shape[1:]
