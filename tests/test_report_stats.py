"""``vidsparse report``'s statistics on hand-made runs whose answers are worked out by hand:
pairing by seed, 95% t-intervals, verdicts (robust and rPC), regrowth variants as groups, the
COMMON15 headline of image settings, per-panel heat map scales, reproducible PNGs."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from statistics import fmean

import pytest

from corruptions.selection import COMMON15
from tests.report_runs import write_run
from vidsparse.reporting import plots
from vidsparse.reporting.cells import cell_sets
from vidsparse.reporting.figures import sparsity_panels
from vidsparse.reporting.groups import by_setting
from vidsparse.reporting.report import build_report
from vidsparse.reporting.stats import (BETTER, NO_EVIDENCE, NOT_AVAILABLE, WORSE, Interval, per_seed, t975,
                                       t_interval, verdict)

DENSE_CLEAN = {0: 0.80, 1: 0.82, 2: 0.84}
DENSE_ROBUST = {0: 0.50, 1: 0.52, 2: 0.54}
T2 = 4.302653  # t(0.975, 2): three pairs
EXTRA4 = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # CIFAR-10-C's 4 beyond COMMON15


def uniform(top1: float) -> dict[str, dict[str, float]]:
    """Every cell the same top-1, so the run's robust top-1 is exactly ``top1``."""
    return {name: {"1": top1, "2": top1} for name in ("gaussian_noise", "jumble")}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    runs = []

    def add(name: str, method: str, seed: int, clean: float, robust: float, grow: str = "") -> None:
        runs.append(write_run(root / f"{name}-{seed}", method=method, sparsity=0.0 if method == "dense" else 0.5,
                              seed=seed, clean=clean, grid=uniform(robust), grow=grow))

    for s in range(3):
        c, r = DENSE_CLEAN[s], DENSE_ROBUST[s]
        add("dense", "dense", s, c, r)
        add("A", "rigl", s, c, r + 0.05)  # exactly dense + 5 pp
        add("B", "set", s, c, r + (s - 1) / 100)  # dense + (-1, 0, +1) pp
        add("C", "static", s, c, r - 0.10 + (s - 1) / 100)  # dense - (11, 10, 9) pp
        add("mest", "mest", s, c, r)  # method default regrowth
        add("mest_r", "mest", s, c, r, grow="random")  # identical to dense: interval [0, 0]
        add("mest_g", "mest", s, c + 0.10, r + 0.02, grow="gradient")  # more accurate, not relatively robust
    for s, (c, r) in {1: (0.82, 0.53), 2: (0.84, 0.57), 7: (0.90, 0.90)}.items():
        add("snip", "snip", s, c, r)  # seed 7 has no dense partner
    add("gmp", "gmp", 0, 0.80, 0.51)  # one pair: no interval
    out = build_report(runs, root / "report")
    return out, {g.key.label: g for g in out.groups}


def _row(markdown: str, section: str, label: str, column: int = 0) -> list[str]:
    """The cells of the first table row after ``section`` whose ``column`` reads ``label``."""
    text = markdown.split(section, 1)[1]
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[column] == label:
            return cells
    raise AssertionError(f"no row {label!r} after {section!r}")


def test_regrowth_variants_are_their_own_groups(study):
    out, groups = study
    assert [g.key.label for g in out.groups] == [
        "dense", "gmp s=0.5", "mest s=0.5", "mest_g s=0.5", "mest_r s=0.5", "rigl s=0.5", "set s=0.5",
        "snip s=0.5", "static s=0.5"]
    assert groups["mest_g s=0.5"].key.name == "mest_g" and groups["mest_g s=0.5"].key.grow == "gradient"
    assert groups["mest s=0.5"].key.name == "mest" and len(groups["mest_r s=0.5"].runs) == 3
    rows = {(r["method"], r["grow"]): r for r in csv.DictReader(out.csv.open())}
    assert {("mest", ""), ("mest_g", "gradient"), ("mest_r", "random")} <= set(rows)
    assert "| mest_g " in out.markdown.read_text()  # the summary table's method column


def test_paired_differences_and_verdicts(study):
    _, groups = study
    a = groups["rigl s=0.5"]
    assert (a.delta_robust.mean, a.delta_robust.lo, a.delta_robust.hi) == pytest.approx((0.05, 0.05, 0.05), abs=1e-12)
    assert verdict(a.delta_robust) == BETTER and a.delta_robust.n == 3
    assert a.delta_clean == Interval(0.0, 0.0, 0.0, 3) and verdict(a.delta_clean) == NO_EVIDENCE

    b = groups["set s=0.5"].delta_robust  # d = -1, 0, +1 pp: mean 0, sd 1 pp, 4.303 / sqrt(3) = 2.484 pp
    assert b.mean == pytest.approx(0.0, abs=1e-12)
    assert (b.lo, b.hi) == (pytest.approx(-0.0248414, abs=1e-7), pytest.approx(0.0248414, abs=1e-7))
    assert verdict(b) == NO_EVIDENCE

    c = groups["static s=0.5"].delta_robust
    assert (c.mean, c.lo, c.hi) == pytest.approx((-0.10, -0.10 - 0.0248414, -0.10 + 0.0248414), abs=1e-7)
    assert verdict(c) == WORSE

    r = groups["mest_r s=0.5"].delta_robust  # identical to dense: an interval of width 0 at 0 is no evidence
    assert r == Interval(0.0, 0.0, 0.0, 3) and verdict(r) == NO_EVIDENCE

    snip = groups["snip s=0.5"]  # seeds 1, 2 pair (d = 1, 3 pp); seed 7 does not
    assert snip.robust.n == 3 and snip.robust.mean == pytest.approx((0.53 + 0.57 + 0.90) / 3)
    d = snip.delta_robust  # mean 2 pp, sd sqrt(2) pp, t(0.975, 1) = 12.706 -> ± 12.706 pp
    assert d.n == 2 and (d.mean, d.lo, d.hi) == pytest.approx((0.02, 0.02 - 0.12706205, 0.02 + 0.12706205))
    assert verdict(d) == NO_EVIDENCE and snip.delta_clean.n == 2

    gmp = groups["gmp s=0.5"].delta_robust
    assert gmp.n == 1 and gmp.mean == pytest.approx(0.01) and gmp.lo is None and verdict(gmp) == NOT_AVAILABLE
    assert groups["dense"].delta_robust is None and groups["dense"].delta_clean is None


def test_rpc_verdict_is_not_the_accuracy_verdict(study):
    _, groups = study
    g = groups["mest_g s=0.5"]  # +10 pp clean, +2 pp robust: more accurate, keeps less of it
    assert verdict(g.delta_robust) == BETTER and g.delta_robust.mean == pytest.approx(0.02)
    expected = [(DENSE_ROBUST[s] + 0.02) / (DENSE_CLEAN[s] + 0.10) - DENSE_ROBUST[s] / DENSE_CLEAN[s] for s in range(3)]
    assert g.delta_rpc.mean == pytest.approx(fmean(expected))
    assert g.delta_rpc.mean == pytest.approx(-0.0471748, abs=1e-7)
    assert verdict(g.delta_rpc) == WORSE
    assert g.rpc.mean == pytest.approx(fmean((DENSE_ROBUST[s] + 0.02) / (DENSE_CLEAN[s] + 0.10) for s in range(3)))
    assert verdict(groups["rigl s=0.5"].delta_rpc) == BETTER  # same clean, more robust: relatively too


def test_verdict_section_and_csv_columns(study):
    out, _ = study
    text = out.markdown.read_text()
    section = "## Verdicts vs dense (paired by seed, 95% t-interval)"
    assert _row(text, section, "rigl s=0.5")[1:5] == ["3", "+0.00 [+0.00, +0.00]", "+5.00 [+5.00, +5.00]", BETTER]
    assert _row(text, section, "set s=0.5")[3:5] == ["+0.00 [-2.48, +2.48]", NO_EVIDENCE]
    assert _row(text, section, "static s=0.5")[3:5] == ["-10.00 [-12.48, -7.52]", WORSE]
    assert _row(text, section, "snip s=0.5")[1:5] == ["2", "+0.00 [+0.00, +0.00]", "+2.00 [-10.71, +14.71]",
                                                      NO_EVIDENCE]
    assert _row(text, section, "gmp s=0.5")[1:5] == ["1", "+0.00 [n/a]", "+1.00 [n/a]", NOT_AVAILABLE]
    mest_g = _row(text, section, "mest_g s=0.5")
    assert mest_g[4] == BETTER and mest_g[5].startswith("-0.047 [") and mest_g[6] == WORSE
    assert "Headline robust top-1 averages all shared: 4 cells (2 corruptions x severities 1,2)." in text
    assert "## Appendix" not in text  # a video setting: the headline is every shared cell
    summary = _row(text, "# Robustness report", "rigl", column=2)  # the summary's paired columns
    assert summary[8:10] == ["+0.00 [+0.00, +0.00]", "+5.00 [+5.00, +5.00]"]

    rows = {(r["method"], r["grow"]): r for r in csv.DictReader(out.csv.open())}
    g = rows[("mest_g", "gradient")]
    assert (g["verdict_robust"], g["verdict_rpc"]) == (BETTER, WORSE)
    assert float(g["delta_robust_top1"]) == pytest.approx(0.02) and g["delta_robust_top1_n"] == "3"
    b = rows[("set", "")]
    assert float(b["delta_robust_top1_lo"]) == pytest.approx(-0.0248414, abs=1e-6)
    assert rows[("snip", "")]["delta_robust_top1_n"] == "2" and rows[("gmp", "")]["delta_robust_top1_lo"] == ""
    assert rows[("dense", "")]["verdict_robust"] == "" and rows[("dense", "")]["headline_cells"] == "all shared"


def test_robust_vs_sparsity_draws_the_t_interval_of_each_group_mean(study):
    out, _ = study
    (panel,) = sparsity_panels(by_setting(out.groups)).values()
    half = T2 * 0.02 / math.sqrt(3)  # robust 55, 57, 59 %: sd 2 pp
    ((x, mean, lo, hi),) = panel["methods"]["rigl"]
    assert (x, mean, lo, hi) == pytest.approx((0.5, 0.57, 0.57 - half, 0.57 + half))
    assert panel["dense"] == pytest.approx((0.52, 0.52 - half, 0.52 + half))
    assert panel["methods"]["gmp"] == [(0.5, pytest.approx(0.51), None, None)]  # one seed: no bar
    assert {"mest", "mest_g", "mest_r"} <= set(panel["methods"])


def test_image_headline_is_common15_and_the_appendix_all_shared_cells(tmp_path: Path):
    runs = []
    for s in range(3):  # COMMON15 cells at 60 + s / 62 + s %, the 4 extra at 20 / 40 %
        for method, common, extra in (("dense", 0.60, 0.20), ("rigl", 0.62, 0.40)):
            grid = {n: {"1": common + s / 100} for n in COMMON15} | {n: {"1": extra} for n in EXTRA4}
            runs.append(write_run(tmp_path / f"{method}-{s}", method=method, sparsity=0.5 * (method != "dense"),
                                  seed=s, clean=0.9, grid=grid, dataset="cifar10", model="resnet18_cifar"))
    out = build_report(runs, tmp_path / "report")
    dense, rigl = out.groups
    assert dense.robust.mean == pytest.approx(0.61)  # the 15 only
    assert dense.all_cells.robust.mean == pytest.approx((15 * 0.61 + 4 * 0.20) / 19)  # 0.523684
    assert rigl.delta_robust.mean == pytest.approx(0.02) and verdict(rigl.delta_robust) == BETTER
    assert rigl.all_cells.delta_robust.mean == pytest.approx((15 * 0.02 + 4 * 0.20) / 19)  # 5.789 pp
    assert rigl.all_cells.delta_robust.mean == pytest.approx(0.0578947, abs=1e-7)
    text = out.markdown.read_text()
    assert ("Headline robust top-1 averages common15: 15 cells (15 corruptions x severities 1); the appendix "
            "averages all shared: 19 cells (19 corruptions x severities 1).") in text
    appendix = "## Appendix: robust top-1 over all shared cells"
    assert _row(text, appendix, "dense")[2] == "52.37 ± 0.79"
    assert _row(text, appendix, "rigl s=0.5")[4:6] == ["+5.79 [+5.79, +5.79]", BETTER]
    assert _row(text, "## Verdicts vs dense", "rigl s=0.5")[3] == "+2.00 [+2.00, +2.00]"
    (row,) = [r for r in csv.DictReader(out.csv.open()) if r["method"] == "rigl"]
    assert (row["headline_cells"], row["headline_n_cells"], row["all_n_cells"]) == ("common15", "15", "19")
    assert float(row["delta_robust_all_top1"]) == pytest.approx(0.0578947, abs=1e-6)


def test_common15_rule_only_for_image_settings_with_extra_corruptions():
    cells = [(n, "1") for n in (*COMMON15, *EXTRA4)]
    headline, every = cell_sets(cells, image=True)
    assert headline.name == "common15" and len(headline.cells) == 15 and len(every.cells) == 19
    assert cell_sets(cells, image=False) == (every, every)  # video: every shared cell
    only15 = [(n, "1") for n in COMMON15]
    assert cell_sets(only15, image=True)[0].name == "all shared"  # nothing to leave out


def test_heatmap_panels_have_their_own_symmetric_colour_scale(tmp_path: Path, monkeypatch):
    panels = {"big": {"corruptions": ["a", "b"], "columns": ["1"], "values": [[0.5], [-0.1]]},
              "small": {"corruptions": ["a", "b"], "columns": ["1"], "values": [[0.01], [-0.03]]},
              "empty": {"corruptions": ["a"], "columns": ["1"], "values": [[None]]}}
    assert plots.panel_limits(panels) == pytest.approx([50.0, 3.0, 1.0])
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or Path(path))
    plots.delta_heatmaps(panels, tmp_path / "h.png")
    (fig,) = figures
    limits = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    assert limits == [pytest.approx((-50.0, 50.0)), pytest.approx((-3.0, 3.0)), pytest.approx((-1.0, 1.0))]
    assert len(fig.axes) == 2 * len(limits)  # one colour bar per panel
    plots.plt.close(fig)


def test_pngs_are_byte_reproducible(tmp_path: Path):
    panels = {"p": {"corruptions": ["a", "b"], "columns": ["1", "2"], "values": [[0.02, None], [-0.01, 0.03]]}}
    first = plots.delta_heatmaps(panels, tmp_path / "a.png").read_bytes()
    assert plots.delta_heatmaps(panels, tmp_path / "b.png").read_bytes() == first
    assert b"matplotlib" not in first  # no Software chunk naming the library's version


def test_t_quantiles_and_helpers():
    assert t975(2) == T2 and t975(1) == 12.706205
    scipy_t = pytest.importorskip("scipy.stats").t
    for df in [*range(1, 31), 31, 40, 100, 1000]:
        assert t975(df) == pytest.approx(scipy_t.ppf(0.975, df), abs=1e-6)
    assert per_seed([(0, 1.0), (0, 3.0), (1, None), (2, 5.0)]) == {0: 2.0, 2: 5.0}  # a repeated seed: its mean
    assert t_interval([0.3]) == Interval(0.3, None, None, 1) and t_interval([]) is None
    assert verdict(Interval(0.1, 0.0, 0.2, 3)) == NO_EVIDENCE and verdict(None) == NOT_AVAILABLE
