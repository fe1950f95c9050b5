"""Summary metrics against numbers computed by hand."""

import math

import pytest

from vidsparse.evaluation import metrics

# Two corruptions, uneven severities: the flat mean and mPC differ on purpose.
GRID = {"noise": {"1": 0.8, "2": 0.6, "3": 0.4}, "blur": {1: 0.9, 2: 0.7}}


def test_mean_robust_accuracy_is_flat_mean_of_cells():
    assert metrics.mean_robust_accuracy(GRID) == pytest.approx((0.8 + 0.6 + 0.4 + 0.9 + 0.7) / 5)  # 0.68


def test_mpc_weights_corruptions_equally_and_rpc_divides_by_clean():
    # noise mean 0.6, blur mean 0.8 -> mPC 0.7 (the flat mean is 0.68)
    assert metrics.mpc(GRID) == pytest.approx(0.7)
    assert metrics.rpc(0.7, 0.875) == pytest.approx(0.8)
    assert metrics.corruption_means(GRID) == pytest.approx({"noise": 0.6, "blur": 0.8})


def test_family_means_group_cells_and_unknown_goes_to_other():
    grid = {**GRID, "jumble": {"1": 0.5}}
    fams = metrics.family_means(grid, {"noise": "noise", "blur": "blur"})
    assert fams == pytest.approx({"blur": 0.8, "noise": 0.6, "other": 0.5})


def test_gamma_absolute_and_relative():
    # Schiappa et al.: clean 0.80, perturbed 0.60 -> gamma_a = 0.80, gamma_r = 1 - 0.2/0.8 = 0.75
    assert metrics.absolute_robustness(0.80, 0.60) == pytest.approx(0.80)
    assert metrics.relative_robustness(0.80, 0.60) == pytest.approx(0.75)
    assert metrics.relative_robustness(0.50, 0.60) == pytest.approx(1.2)  # can exceed 1
    with pytest.raises(ValueError):
        metrics.relative_robustness(0.0, 0.1)


def test_corruption_error_and_relative_ce_by_hand():
    model = {"1": 0.2, "2": 0.4}
    base = {"1": 0.5, "2": 0.7, "3": 0.9}  # severity 3 not shared: ignored
    assert metrics.corruption_error(model, base) == pytest.approx(0.6 / 1.2)
    # (0.2-0.1 + 0.4-0.1) / (0.5-0.3 + 0.7-0.3) = 0.4 / 0.6
    assert metrics.relative_corruption_error(model, 0.1, base, 0.3) == pytest.approx(2 / 3)


def test_mce_against_a_baseline_run():
    base = metrics.Baseline.from_accuracy("dense", 0.9, {"noise": {"1": 0.5, "2": 0.3}, "blur": {"1": 0.8}})
    res = metrics.corruption_errors({"noise": {"1": 0.6, "2": 0.4}, "blur": {"1": 0.9}, "fog": {"1": 0.5}},
                                    0.95, base)
    # noise CE = (0.4 + 0.6) / (0.5 + 0.7) = 0.8333; blur CE = 0.1 / 0.2 = 0.5
    assert res.ce == pytest.approx({"noise": 1.0 / 1.2, "blur": 0.5})
    assert res.mce == pytest.approx((1.0 / 1.2 + 0.5) / 2)
    # relative noise = (0.35 + 0.55) / (0.4 + 0.6) = 0.9; blur = 0.05 / 0.1 = 0.5
    assert res.relative_ce == pytest.approx({"noise": 0.9, "blur": 0.5})
    assert res.relative_mce == pytest.approx(0.7)
    assert res.missing == ["fog"]


def test_alexnet_table_means_match_the_published_per_corruption_errors():
    # ALEXNET_ERR as hard-coded by AugMix (google-research/augmix), same order as the table.
    published = [0.886428, 0.894468, 0.922640, 0.819880, 0.826268, 0.785948, 0.798360, 0.866816,
                 0.826572, 0.819324, 0.564592, 0.853204, 0.646056, 0.717840, 0.606500]
    means = [sum(row) / 5 for row in metrics.ALEXNET_ERRORS.values()]
    assert means == pytest.approx(published, abs=1e-9)
    assert len(metrics.IMAGENET_C_COMMON) == 15 and metrics.ALEXNET_CLEAN_ERROR == 0.4348


def test_imagenet_c_mce_with_alexnet_normalisation():
    # A model whose error is exactly half of AlexNet's everywhere has CE 0.5 on every corruption.
    half = {c: {str(s + 1): 1 - e / 2 for s, e in enumerate(row)} for c, row in metrics.ALEXNET_ERRORS.items()}
    res = metrics.corruption_errors(half, 1 - 0.2, metrics.alexnet_baseline(), metrics.IMAGENET_C_COMMON)
    assert res.mce == pytest.approx(0.5)
    # gaussian_noise by hand: sum E = 4.43214 / 2; relative = (2.21607 - 5*0.2) / (4.43214 - 5*0.4348)
    rel = (4.43214 / 2 - 1.0) / (4.43214 - 5 * 0.4348)
    assert res.relative_ce["gaussian_noise"] == pytest.approx(rel)
    # a single corruption, one severity: brightness s1 error 0.3 -> CE = 0.3 / 0.45140
    one = metrics.corruption_errors({"brightness": {"1": 0.7}}, 0.8, metrics.alexnet_baseline())
    assert one.mce == pytest.approx(0.3 / 0.45140)


def test_cifar_mean_error_and_summary():
    assert metrics.mean_error(GRID) == pytest.approx(0.32)
    s = metrics.summarize(0.85, GRID, family_of={"noise": "noise", "blur": "blur"})
    assert s["mean_robust_top1"] == pytest.approx(0.68)
    assert s["gamma_a"] == pytest.approx(1 - (0.85 - 0.68))
    assert s["gamma_r"] == pytest.approx(1 - 0.17 / 0.85)
    assert s["by_family"] == pytest.approx({"blur": 0.8, "noise": 0.6})
    assert s["cells"] == 5 and "mce" not in s


def test_empty_grid_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        metrics.mean_robust_accuracy({})
    with pytest.raises(ValueError, match="share no severity"):
        metrics.corruption_error({"1": 0.1}, {"2": 0.2}, "fog")
    assert math.isclose(metrics.rpc(0.5, 1.0), 0.5)


def test_undefined_ratios_are_left_out_of_the_means():
    # the baseline loses no accuracy on "jumble" (relative CE undefined) and is perfect on "fog" (CE undefined)
    base = metrics.Baseline.from_accuracy("dense", 0.8, {"jumble": {"1": 0.8}, "fog": {"1": 1.0}, "noise": {"1": 0.4}})
    res = metrics.corruption_errors({"jumble": {"1": 0.7}, "fog": {"1": 0.9}, "noise": {"1": 0.5}}, 0.9, base)
    assert res.ce == pytest.approx({"jumble": 0.3 / 0.2, "noise": 0.5 / 0.6})
    # relative: fog (0.1 - 0.1) / (0.0 - 0.2) = 0, noise (0.5 - 0.1) / (0.6 - 0.2) = 1
    assert res.relative_ce == pytest.approx({"fog": 0.0, "noise": 1.0})
    assert sorted(res.undefined) == ["fog", "jumble"] and res.relative_mce == pytest.approx(0.5)
    assert res.mce == pytest.approx((1.5 + 0.5 / 0.6) / 2)
    with pytest.raises(ValueError, match="loses no accuracy"):
        metrics.relative_corruption_error({"1": 0.3}, 0.1, {"1": 0.2}, 0.2)


def test_eval_json_summary_on_families_of_several_corruptions_with_missing_severities():
    """rPC is mPC / clean (not the flat mean / clean); a family mean is over its cells (not corruption means).

    Two corruptions per family with different numbers of severities make the right and the
    wrong definitions differ: a summary computed the wrong way fails here.
    """
    from vidsparse.evaluation.results import summary

    grid = {"gaussian_noise": {"1": 0.9, "2": 0.7, "3": 0.5}, "shot_noise": {"1": 0.3},
            "defocus_blur": {"1": 0.8, "2": 0.6}, "motion_blur": {"1": 0.4, "2": 0.2, "3": 0.0, "4": 0.2}}
    families = {"gaussian_noise": "noise", "shot_noise": "noise", "defocus_blur": "blur", "motion_blur": "blur"}
    data = {"clean": {"top1": 0.8},
            "corruptions": {n: {s: {"top1": v, "top5": v} for s, v in sev.items()} for n, sev in grid.items()}}
    s = summary(data, families)
    # corruption means .7 .3 .7 .2 -> mPC .475; flat mean over the 10 cells 4.6 / 10 = .46
    assert s["mpc"] == pytest.approx(0.475) and s["mean_robust_top1"] == pytest.approx(0.46)
    assert s["rpc"] == pytest.approx(0.475 / 0.8)  # 0.59375; from the flat mean it would be 0.575
    # noise: (.9 + .7 + .5 + .3) / 4 = .6 (mean of corruption means: .5);
    # blur: (.8 + .6 + .4 + .2 + 0 + .2) / 6 = .3667 (mean of corruption means: .45)
    assert s["by_family"] == pytest.approx({"noise": 0.6, "blur": 2.2 / 6})
    assert s["cells"] == 10
