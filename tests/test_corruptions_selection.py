"""The one corruption/severity grammar of every command (corruptions.selection)."""

from __future__ import annotations

import pytest

import corruptions
from corruptions.selection import COMMON15, CORRUPTIONS_HELP, Selected, parse_severities, select
from vidsparse.cli import build_parser


def names(text, preset, **kw):
    selected, chosen = select(text, preset, one_preset=True, **kw)
    return [s.name for s in selected], chosen


def test_evaluation_selects_within_one_preset():
    selected, preset = names("all", "ucf101-p")
    assert len(selected) == 18 and preset == "ucf101-p"
    assert names("temporal", "ucf101-p")[0] == ["sampling", "reverse_sampling", "jumble", "box_jumble", "freeze"]
    assert names("jumble,gaussian_noise,jumble", "ucf101-p")[0] == ["jumble", "gaussian_noise"]
    selected, preset = names("mini-kinetics-c", "ucf101-p")
    assert preset == "mini-kinetics-c" and "packet_loss" in selected
    assert names(None, "ucf101-p") == ([], "ucf101-p")
    assert names("none", "ucf101-p") == ([], "ucf101-p")
    assert names("hmdb51-p", "ucf101-p")[1] == "ucf101-p"  # aliases resolved
    assert names("temporal,gaussian_noise", "ucf101-p")[0][-1] == "gaussian_noise"  # items combine
    with pytest.raises(corruptions.CorruptionError, match="unknown preset 'ucf-p'"):
        select("jumble", "ucf-p", one_preset=True)
    with pytest.raises(corruptions.CorruptionError, match="unknown corruption .*'gausian_noise'.*did you mean gaussian_noise"):
        select("gausian_noise", "ucf101-p", one_preset=True)
    with pytest.raises(corruptions.CorruptionError, match="a preset alone"):
        select("ucf101-p,jumble", "ucf101-p", one_preset=True)
    with pytest.raises(corruptions.CorruptionError, match="no corruption of family 'weather'"):
        select("weather", "ucf101-p", one_preset=True)


def test_a_name_of_another_preset_says_where_it_is():
    """``vidsparse eval --corruptions contrast`` on a video run used to answer 'did you mean translate?'."""
    with pytest.raises(corruptions.CorruptionError,
                       match=r"'contrast' is not in preset ucf101-p; it is in imagenet-c, .*--preset imagenet-c"):
        select("contrast", "ucf101-p", one_preset=True)


def test_common15_is_the_imagenet_c_common_set():
    selected, preset = names("common15", "cifar-c")
    assert selected == list(COMMON15) and len(selected) == 15 and preset == "cifar-c"
    assert "speckle_noise" not in selected and "saturate" not in selected
    with pytest.raises(corruptions.CorruptionError, match="common15 needs an ImageNet-C style preset.*--preset"):
        select("common15", "ucf101-p", one_preset=True)


def test_generation_without_preset_takes_names_from_any_preset():
    """``vidsparse corrupt`` without --preset: the dataset's default preset where it has the name,
    else the choice is left to corruptions.apply (preset None)."""
    selected, preset = select("gaussian_noise,fog", None, "ucf101-p")
    assert selected == [Selected("gaussian_noise", "ucf101-p"), Selected("fog", None)] and preset is None
    assert select("all", None, "hmdb51-p")[0][0] == Selected("gaussian_noise", "hmdb51-p")  # as given
    weather = select("weather", None, "ucf101-p")[0]
    assert weather and all(s.preset is None for s in weather)  # ucf101-p has no weather corruption
    assert select("jumble", "hmdb51-p", "ucf101-p")[0] == [Selected("jumble", "hmdb51-p")]


@pytest.mark.parametrize("text, expected", [("1-5", [1, 2, 3, 4, 5]), ("1,3,5", [1, 3, 5]), ("2-3,5", [2, 3, 5]),
                                            ("3", [3]), (" 1 - 2 ", [1, 2]), (None, [1, 2, 3, 4, 5])])
def test_severities(text, expected):
    assert parse_severities(text) == expected


@pytest.mark.parametrize("bad", ["0-6", "x", "5-1", "0", "1-", ""])
def test_bad_severities(bad):
    with pytest.raises(corruptions.CorruptionError, match="severities"):
        parse_severities(bad if bad else ",")


@pytest.mark.parametrize("command", ["eval", "corrupt"])
def test_one_grammar_in_every_help(command, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also at hyphens
    assert "".join(CORRUPTIONS_HELP.split()) in text
