"""``vidsparse sweep`` end to end on the tiny synthetic set, and ``--deterministic`` reruns."""

from __future__ import annotations

import csv
import shlex
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import TINY_SYNTHETIC, tiny_train_args
from vidsparse.cli import main


def tiny_sets(root: Path) -> dict:
    return {
        "data.root": str(root), "data.workers": 0, "data.resize": 32, "data.crop": 24, "data.clip_len": 4,
        "model.width": 4, "train.epochs": 1, "train.batch_size": 4, "train.eval_batch_size": 4,
        **{f"data.synthetic.{k}": v for k, v in TINY_SYNTHETIC.items()},
    }


def write_grid(path: Path, root: Path, grid: dict, **sections) -> Path:
    path.write_text(yaml.safe_dump({"set": tiny_sets(root), "grid": grid, **sections}))
    return path


GRID = {"sparse.method": ["dense", "rigl"], "sparse.sparsity": [0.3, 0.5], "train.seed": [0, 1]}
# dense ignores sparsity: 2 dense seeds + 2 sparsities x 2 rigl seeds
RUN_NAMES = {"synthetic-r3d_small-dense", "synthetic-r3d_small-dense-seed1",
             "synthetic-r3d_small-rigl-s0.3", "synthetic-r3d_small-rigl-s0.3-seed1",
             "synthetic-r3d_small-rigl-s0.5", "synthetic-r3d_small-rigl-s0.5-seed1"}


def test_sweep_trains_evaluates_reports_then_skips(synthetic_root: Path, tmp_path: Path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", synthetic_root, GRID,
                      eval={"corruptions": "gaussian_noise", "severities": "1"})
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", str(grid), "--out-root", str(out)]) == 0
    runs = {p.name for p in out.iterdir() if (p / "config.yaml").is_file()}
    assert runs == RUN_NAMES
    report = (out / "report" / "report.md").read_text()
    for label in ("dense", "rigl s=0.3", "rigl s=0.5"):
        assert label in report
    for name in RUN_NAMES:
        cfg = yaml.safe_load((out / name / "config.yaml").read_text())
        assert cfg["model"]["width"] == 4 and cfg["data"]["synthetic"]["classes"] == 4
        assert "1" in yaml.safe_load((out / name / "eval.json").read_text())["corruptions"]["gaussian_noise"]

    mtimes = {name: (out / name / "last.pt").stat().st_mtime_ns for name in RUN_NAMES}
    evals = {name: (out / name / "eval.json").stat().st_mtime_ns for name in RUN_NAMES}
    capsys.readouterr()
    assert main(["sweep", "--grid", str(grid), "--out-root", str(out)]) == 0
    assert "0 trained, 6 already trained, 0 evaluated" in capsys.readouterr().out
    assert mtimes == {name: (out / name / "last.pt").stat().st_mtime_ns for name in RUN_NAMES}
    assert evals == {name: (out / name / "eval.json").stat().st_mtime_ns for name in RUN_NAMES}


def test_sweep_resumes_an_interrupted_run(synthetic_root: Path, tmp_path: Path, capsys):
    sets = tiny_sets(synthetic_root)
    grid = write_grid(tmp_path / "grid.yaml", synthetic_root, {"sparse.method": ["dense"]}, report=False)
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", str(grid), "--out-root", str(out)]) == 0
    sets["train.epochs"] = 2  # the same run asked for one more epoch: continued, not restarted
    grid.write_text(yaml.safe_dump({"set": sets, "grid": {"sparse.method": ["dense"]}, "report": False}))
    assert main(["sweep", "--grid", str(grid), "--out-root", str(out)]) == 0
    assert "resuming at epoch 1" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "synthetic-r3d_small-dense" / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]


def test_print_gives_one_runnable_train_command_per_run(synthetic_root: Path, tmp_path: Path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", synthetic_root, GRID)
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", str(grid), "--out-root", str(out), "--print"]) == 0
    lines = capsys.readouterr().out.splitlines()
    trains = [line for line in lines if line.startswith("vidsparse train ")]
    assert len(trains) == 6 and len({line.split("--out ")[1] for line in trains}) == 6
    assert sum(line.startswith("vidsparse eval ") for line in lines) == 6
    assert lines[-1].startswith("vidsparse report ") and lines[-1].endswith(f"--out {out / 'report'}")
    assert not out.exists()  # printing trains nothing
    # A printed command is a real one: it trains the run at the directory the sweep would use.
    dense = next(line for line in trains if "method=dense" in line and "seed=1" in line)
    assert main(shlex.split(dense)[1:]) == 0
    assert (out / "synthetic-r3d_small-dense-seed1" / "last.pt").is_file()


def test_shards_split_the_runs_without_overlap_and_skip_the_report(synthetic_root: Path, tmp_path: Path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", synthetic_root, GRID)
    shards = []
    for index in (1, 2, 3):
        assert main(["sweep", "--grid", str(grid), "--out-root", str(tmp_path), "--print", "--shard", f"{index}/3"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert not any(line.startswith("vidsparse report") for line in lines)
        shards.append({Path(line.split("--out ")[1]).name for line in lines if line.startswith("vidsparse train ")})
    assert [len(s) for s in shards] == [2, 2, 2] and set().union(*shards) == RUN_NAMES
    with pytest.raises(SystemExit):
        main(["sweep", "--grid", str(grid), "--shard", "4/3"])
    assert "write I/N" in capsys.readouterr().err


@pytest.mark.parametrize("grid,message", [
    ({"optim.lrr": [0.1]}, "unknown config key 'optim.lrr'"),
    ({"sparse.method": "rigl"}, "needs a non-empty list"),
])
def test_bad_grid_is_one_line_error(grid, message, synthetic_root: Path, tmp_path: Path, capsys):
    path = write_grid(tmp_path / "grid.yaml", synthetic_root, grid)
    assert main(["sweep", "--grid", str(path), "--out-root", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.fixture
def restore_determinism():
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]


def test_deterministic_runs_repeat_exactly(synthetic_root: Path, tmp_path: Path, restore_determinism):
    def metrics(run: Path) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader((run / "metrics.csv").open())]

    for name in ("a", "b"):
        assert main(tiny_train_args(synthetic_root, tmp_path / name, "--method", "rigl", "--sparsity", "0.5",
                                    "--seed", "3", "--deterministic")) == 0
    # the settings last for one run: the next run of a sweep in this process is not left deterministic
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    assert yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())["train"]["deterministic"] is True
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    assert float(metrics(tmp_path / "a")[0]["train_loss"]) > 0


def test_variants_cross_the_grid_and_name_their_runs(synthetic_root: Path, tmp_path: Path, capsys):
    """MEST with random and with gradient regrowth (the paper's MEST_r / MEST_g) beside dense."""
    variants = [{"sparse.method": "dense"}, {"sparse.method": "mest", "sparse.grow": "random"},
                {"sparse.method": "mest", "sparse.grow": "gradient"}]
    grid = write_grid(tmp_path / "grid.yaml", synthetic_root, {"sparse.sparsity": [0.3, 0.5]}, variants=variants)
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", str(grid), "--out-root", str(out), "--print"]) == 0
    trains = [line for line in capsys.readouterr().out.splitlines() if line.startswith("vidsparse train ")]
    assert {Path(line.split("--out ")[1]).name for line in trains} == {
        "synthetic-r3d_small-dense",  # dense ignores sparsity: one run
        "synthetic-r3d_small-mest-s0.3-growrandom", "synthetic-r3d_small-mest-s0.5-growrandom",
        "synthetic-r3d_small-mest-s0.3-growgradient", "synthetic-r3d_small-mest-s0.5-growgradient"}
    assert all("sparse.grow=gradient" in line for line in trains if "growgradient" in line)


@pytest.mark.parametrize("sections,message", [
    ({"variants": {"sparse.method": "mest"}}, "'variants:' must be a list of mappings"),
    ({"variants": {}}, "'variants:' must be a list of mappings"),
    ({"variants": [{}]}, "'variants:' must be a list of mappings"),
    ({"variants": [{"sparse.sparsity": 0.5}]}, "is both a grid key and a variant key"),
])
def test_bad_variants_are_one_line_errors(sections, message, synthetic_root: Path, tmp_path: Path, capsys):
    path = write_grid(tmp_path / "grid.yaml", synthetic_root, {"sparse.sparsity": [0.3]}, **sections)
    assert main(["sweep", "--grid", str(path), "--out-root", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
