"""``vidsparse report`` on fabricated run directories: table numbers, CSV and plots."""

import csv
import json
import math
from pathlib import Path
from statistics import fmean, stdev

import matplotlib.image as mpimg
import pytest

from tests.report_runs import CELLS, fake_run
from vidsparse.cli import main
from vidsparse.config import RunConfig, save_config
from vidsparse.reporting import plots
from vidsparse.reporting.groups import training_flops_ratio
from vidsparse.reporting.report import build_report


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, list[Path]]:
    base = tmp_path / "runs"
    return {
        "dense": [fake_run(base, "dense", 0.0, 0, 0.80, [0.1, 0.2, 0.3, 0.4], [1.0, 1.0]),
                  fake_run(base, "dense", 0.0, 1, 0.70, [0.0, 0.1, 0.2, 0.3], [1.0, 1.0])],
        "rigl": [fake_run(base, "rigl", 0.5, 0, 0.78, [0.05, 0.1, 0.2, 0.2], [0.6, 0.5], extra=True),
                 fake_run(base, "rigl", 0.5, 1, 0.74, [0.05, 0.05, 0.1, 0.3], [0.6, 0.4])],
        "set": [fake_run(base, "set", 0.5, 0, 0.60, [0.3, 0.3, 0.3, 0.3], fourier=False),
                fake_run(base, "set", 0.5, 1, 0.62, [0.2, 0.3, 0.3, 0.3], fourier=False)],
    }


def _robust(run: Path) -> float:
    data = json.loads((run / "eval.json").read_text())
    return fmean(data["corruptions"][c][s]["top1"] for c, s in CELLS)


def _clean(run: Path) -> float:
    return json.loads((run / "eval.json").read_text())["clean"]["top1"]


def test_report_numbers_match_eval_json(runs, tmp_path: Path):
    out = build_report([p for ps in runs.values() for p in ps], tmp_path / "report")
    groups = {g.key.method: g for g in out.groups}
    assert [g.key.method for g in out.groups] == ["dense", "rigl", "set"]
    for method, paths in runs.items():
        g = groups[method]
        robust = [_robust(p) for p in paths]
        clean = [_clean(p) for p in paths]
        assert g.robust.mean == pytest.approx(fmean(robust)) and g.robust.std == pytest.approx(stdev(robust))
        assert g.clean.mean == pytest.approx(fmean(clean)) and g.clean.std == pytest.approx(stdev(clean))
    dense_robust = [_robust(p) for p in runs["dense"]]
    rigl_robust = [_robust(p) for p in runs["rigl"]]
    delta = groups["rigl"].delta_robust  # paired by seed (0 with 0, 1 with 1), 95% t-interval, t(0.975, 1)
    diffs = [r - d for r, d in zip(rigl_robust, dense_robust)]
    half = 12.706205 * stdev(diffs) / math.sqrt(2)
    assert delta.mean == pytest.approx(fmean(diffs)) and delta.n == 2
    assert (delta.lo, delta.hi) == (pytest.approx(fmean(diffs) - half), pytest.approx(fmean(diffs) + half))
    assert groups["dense"].delta_robust is None
    # training FLOPs: mean of the per-epoch ratios, then over seeds; absent column -> "-"
    assert groups["rigl"].flops.mean == pytest.approx(fmean([0.55, 0.5]))
    assert groups["set"].flops is None
    # per family: gaussian_noise is "noise", jumble is "temporal"
    for method, paths in runs.items():
        evals = [json.loads((p / "eval.json").read_text())["corruptions"] for p in paths]
        noise = [fmean(e["gaussian_noise"][s]["top1"] for s in ("1", "2")) for e in evals]
        temporal = [fmean(e["jumble"][s]["top1"] for s in ("1", "2")) for e in evals]
        assert groups[method].families["noise"].mean == pytest.approx(fmean(noise))
        assert groups[method].families["temporal"].std == pytest.approx(stdev(temporal))

    rows = {r["method"]: r for r in csv.DictReader(out.csv.open())}
    assert float(rows["rigl"]["robust_top1_mean"]) == pytest.approx(fmean(rigl_robust), abs=1e-5)
    assert float(rows["rigl"]["delta_robust_top1"]) == pytest.approx(delta.mean, abs=1e-5)
    assert float(rows["rigl"]["delta_robust_top1_lo"]) == pytest.approx(delta.lo, abs=1e-5)
    assert float(rows["rigl"]["train_flops_ratio"]) == pytest.approx(0.525, abs=1e-5)
    assert rows["set"]["train_flops_ratio"] == "" and rows["rigl"]["seeds"] == "0 1"

    text = out.markdown.read_text()
    rigl_line = next(line for line in text.splitlines() if "| rigl" in line)
    assert f"{100 * fmean(rigl_robust):.2f} ± {100 * stdev(rigl_robust):.2f}" in rigl_line
    assert f"{100 * delta.mean:+.2f} [{100 * delta.lo:+.2f}, {100 * delta.hi:+.2f}]" in rigl_line
    assert "0.525" in rigl_line
    set_line = next(line for line in text.splitlines() if "| set" in line)
    assert "| -" in set_line  # no FLOPs column recorded
    for name in ("robust_vs_sparsity.png", "corruption_bars.png", "delta_heatmap.png", "corruption_delta.png",
                 "fourier.png"):
        assert f"]({name})" in text


def test_plots_are_valid_pngs_of_the_expected_size(runs, tmp_path: Path):
    out = build_report([p for ps in runs.values() for p in ps], tmp_path / "report")
    expected = {
        "robust_vs_sparsity": plots.figure_size("sparsity", 1),
        "corruption_bars": plots.figure_size("bars", 1),
        "delta_heatmap": plots.figure_size("heatmap", 2),  # rigl - dense, set - dense
        "corruption_delta": plots.figure_size("matrix", 1),  # one setting: corruptions x (rigl, set)
        "fourier": plots.figure_size("radius", 2),
    }
    assert set(out.plots) == set(expected)
    for name, (width, height) in expected.items():
        path = out.plots[name]
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = mpimg.imread(path)
        assert image.shape[:2] == (height, width), name
        assert image.std() > 0.01  # not blank


def test_report_cli_and_unevaluated_runs(runs, tmp_path: Path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    save_config(RunConfig(), bare / "config.yaml")
    paths = [str(p) for ps in runs.values() for p in ps]
    assert main(["report", *paths, str(bare), "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    assert "has no eval.json" in captured.err and "different corruptions" in captured.err
    assert "rigl" in captured.out and (tmp_path / "r" / "report.md").is_file()
    assert main(["report", str(bare), "--out", str(tmp_path / "r2")]) == 2
    assert "none of the runs has been evaluated" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r3")]) == 2


def test_flops_ratio_reader(tmp_path: Path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,train_flops_ratio\n1,0.5\n2,\n3,0.7\n")
    assert training_flops_ratio(path) == pytest.approx(0.6)
    assert training_flops_ratio(tmp_path / "missing.csv") is None


def test_real_runs_end_to_end(synthetic_root: Path, tmp_path: Path):
    """train -> eval (corruptions + Fourier) -> report, on two real tiny runs."""
    from tests.conftest import tiny_train_args

    runs = {"dense": tmp_path / "dense", "rigl": tmp_path / "rigl"}
    assert main(tiny_train_args(synthetic_root, runs["dense"])) == 0
    assert main(tiny_train_args(synthetic_root, runs["rigl"], "--method", "rigl", "--sparsity", "0.5")) == 0
    for run in runs.values():
        assert main(["eval", "--run", str(run), "--corruptions", "jumble,gaussian_noise", "--severities", "1,2",
                     "--fourier", "--radii", "0,4,40"]) == 0
    out = build_report(list(runs.values()), tmp_path / "report")
    groups = {g.key.method: g for g in out.groups}
    for method, run in runs.items():
        data = json.loads((run / "eval.json").read_text())
        cells = [e["top1"] for sev in data["corruptions"].values() for e in sev.values()]
        assert len(cells) == 4
        assert groups[method].robust.mean == pytest.approx(fmean(cells))
        assert groups[method].clean.mean == pytest.approx(data["clean"]["top1"])
    ratios = [float(r["train_flops_ratio"]) for r in csv.DictReader((runs["rigl"] / "metrics.csv").open())]
    assert groups["rigl"].flops.mean == pytest.approx(fmean(ratios)) and groups["rigl"].flops.mean < 1
    assert set(out.plots) == {"robust_vs_sparsity", "corruption_bars", "delta_heatmap", "corruption_delta", "fourier"}
    assert mpimg.imread(out.plots["delta_heatmap"]).shape[:2] == plots.figure_size("heatmap", 1)[::-1]


def test_corruption_delta_matrix_is_method_minus_dense(runs):
    from vidsparse.reporting.figures import corruption_delta_panels
    from vidsparse.reporting.groups import aggregate, by_setting, load_run

    groups = aggregate([load_run(p) for ps in runs.values() for p in ps])
    (panel,) = corruption_delta_panels(by_setting(groups)).values()
    by_label = {g.key.label: g for g in groups}
    dense = next(g for g in groups if g.key.method == "dense")
    assert panel["columns"] == sorted(panel["columns"]) and "dense" not in panel["columns"]
    for j, label in enumerate(panel["columns"]):
        for i, name in enumerate(panel["corruptions"]):
            expected = by_label[label].corruptions[name].mean - dense.corruptions[name].mean
            assert panel["values"][i][j] == pytest.approx(expected, abs=1e-12)
