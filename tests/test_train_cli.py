"""End-to-end CLI: train + resume + eval on the tiny synthetic set, and one-line errors."""

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_train_args
from vidsparse.cli import main


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", weights_only=False)["model"]


def test_two_epochs_equal_one_plus_resume(synthetic_root: Path, tmp_path: Path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(tiny_train_args(synthetic_root, straight, "--epochs", "2")) == 0
    assert main(tiny_train_args(synthetic_root, resumed, "--epochs", "1")) == 0
    assert main(tiny_train_args(synthetic_root, resumed, "--epochs", "2", "--resume")) == 0
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
    rows_a = list(csv.DictReader((straight / "metrics.csv").open()))
    rows_b = list(csv.DictReader((resumed / "metrics.csv").open()))
    drop = ("time_s",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows_a] == \
           [{k: v for k, v in r.items() if k not in drop} for r in rows_b]
    assert {"config.yaml", "metrics.csv", "last.pt", "best.pt", "sparsity.json"} <= {p.name for p in straight.iterdir()}


def test_eval_writes_eval_json(synthetic_root: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert main(tiny_train_args(synthetic_root, run)) == 0
    assert main(["eval", "--run", str(run), "--views", "2x2"]) == 0
    result = json.loads((run / "eval.json").read_text())
    clean = result["clean"]
    assert clean["n"] == 8 and clean["views"] == "2x2" and 0 <= clean["top1"] <= clean["top5"] <= 1
    assert set(result) >= {"clean", "corruptions", "summary"}
    assert "top1" in capsys.readouterr().out


def test_eval_records_the_checkpoint_it_used(synthetic_root: Path, tmp_path: Path):
    """A run without best.pt is evaluated from last.pt, and eval.json says so."""
    run = tmp_path / "run"
    assert main(tiny_train_args(synthetic_root, run)) == 0
    (run / "best.pt").unlink()
    assert main(["eval", "--run", str(run), "--views", "1x1"]) == 0
    assert json.loads((run / "eval.json").read_text())["clean"]["checkpoint"] == "last"


@pytest.mark.parametrize("args,message", [
    (["train", "--model", "r3d_smal"], "unknown model 'r3d_smal'; did you mean r3d_small"),
    (["train", "--dataset", "ucf1O1"], "unknown dataset"),
    (["train", "--method", "rigel"], "unknown sparse.method"),
    (["train", "--sparsity", "1.0", "--method", "rigl"], "sparsity=1.0 is out of range"),
    (["train", "--set", "optim.lrr=1"], "unknown config key 'optim.lrr'"),
    (["train", "--set", "train.eval_every=0"], "train.eval_every=0 must be >= 1"),
    (["train", "--dataset", "ucf101"], "needs --data-root"),
    (["train", "--dataset", "ucf101", "--data-root", "/nonexistent/ucf"], "data root not found"),
    (["eval", "--run", "/nonexistent/run"], "run directory not found"),
    (["data", "check", "--data-root", "/nonexistent"], "data root not found"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_missing_split_file_and_empty_class(tmp_path: Path, write_tiny_video, capsys):
    root = tmp_path / "ucf"
    write_tiny_video(root / "A" / "v_A_g01_c01.avi", codec="mpeg4", frames=4)
    assert main(["train", "--dataset", "ucf101", "--data-root", str(root), "--out", str(tmp_path / "r")]) == 2
    assert "missing split file" in capsys.readouterr().err
    (root / "B").mkdir()
    assert main(["train", "--dataset", "folder", "--data-root", str(root), "--out", str(tmp_path / "r")]) == 2
    assert "holds no files" in capsys.readouterr().err


def test_data_check_lists_undecodable_files(tmp_path: Path, write_tiny_video, capsys):
    write_tiny_video(tmp_path / "A" / "good.mp4", frames=4)
    (tmp_path / "A" / "empty.avi").write_bytes(b"")
    (tmp_path / "A" / "junk.mp4").write_bytes(b"garbage" * 50)
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "UNDECODABLE" in out and "empty.avi" in out and "junk.mp4" in out and "good.mp4" not in out
    assert "1 of 3 videos decode" in out


def test_undecodable_training_videos_are_skipped_and_counted(tmp_path: Path, write_tiny_video, capsys):
    root = tmp_path / "f"
    for c in ("a", "b"):
        for i in range(5):
            write_tiny_video(root / c / f"{i}.mp4", frames=10, seed=i)
    (root / "a" / "9.mp4").write_bytes(b"")  # zero-byte video in the training part
    args = ["train", "--dataset", "folder", "--data-root", str(root), "--model", "r3d_small",
            "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "2", "--workers", "0",
            "--set", "model.width=4", "--set", "data.resize=32", "--set", "data.crop=24",
            "--set", "data.clip_len=4", "--set", "data.test_clips=1", "--set", "data.test_crops=1"]
    assert main(args) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert int(rows[0]["skipped"]) == 1
    assert "1 undecodable videos were skipped" in capsys.readouterr().err


def test_list_commands(capsys):
    for what in ("models", "methods", "datasets"):
        assert main(["list", what]) == 0
    out = capsys.readouterr().out
    assert "r3d_small" in out and "rigl" in out and "synthetic" in out


@pytest.mark.parametrize("args,message", [
    (["train", "--dataset", "digits", "--download"], "--download supports cifar10, cifar100"),
    (["train", "--dataset", "cifar10", "--download"], "--download needs --data-root"),
])
def test_download_flag_errors(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
