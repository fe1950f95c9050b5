"""Every video model trains through the CLI in its tiny configuration, and
``vidsparse list models`` reports the zoo from the shipped statistics cache."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.models import MODELS, model_input

VIDEO_MODELS = sorted(name for name, entry in MODELS.items() if entry.is_video)


def model_args(name: str) -> list[str]:
    """--model plus the data settings that give the model its tiny input."""
    spec = model_input(name, "tiny")
    return ["--model", name, "--set", "model.size=tiny", "--set", f"data.resize={spec.size}",
            "--set", f"data.crop={spec.size}", "--set", f"data.clip_len={spec.frames}", "--set", "data.stride=1"]


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_video_model_trains_with_rigl_through_cli(name: str, synthetic_root: Path, tmp_path: Path):
    run = tmp_path / "run"
    rigl = ["--method", "rigl", "--sparsity", "0.5", "--set", "sparse.update_every=1"]  # drop/grow every step
    assert main(tiny_train_args(synthetic_root, run, *model_args(name), *rigl)) == 0
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 1 and 0.0 <= float(rows[0]["test_top1"]) <= 1.0 and float(rows[0]["train_loss"]) > 0
    assert float(rows[0]["density"]) == pytest.approx(0.5, abs=0.02)
    assert float(rows[0]["mask_updates"]) >= 1 and float(rows[0]["mask_changed"]) > 0
    report = json.loads((run / "sparsity.json").read_text())
    assert report["method"] == "rigl" and report["flops"]["forward_ratio"] < 1.0


def test_tiny_suffix_selects_tiny_configuration(synthetic_root: Path, tmp_path: Path):
    spec = model_input("c3d-tiny")
    args = tiny_train_args(synthetic_root, tmp_path / "run", "--model", "c3d-tiny", "--set",
                           f"data.clip_len={spec.frames}", "--set", f"data.crop={spec.size}",
                           "--set", f"data.resize={spec.size}")
    assert main(args) == 0


def test_list_models_prints_every_model_with_cached_gflops(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    lines = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert set(MODELS) <= set(lines)
    cells = [c.strip() for c in lines["r3d_18"].split("|")[1:-1]]
    assert cells[:3] == ["r3d_18", "3dcnn", "16x112"]
    assert float(cells[3]) == pytest.approx(33.37, abs=0.01)  # params (M), Kinetics-400 head
    assert float(cells[4]) == pytest.approx(40.7, abs=0.1)  # GFLOPs at 16x112
    assert cells[5].startswith("33.36 (100.0%)")
    assert "not cached" not in out


def test_list_models_without_cache_prints_dash_and_how_to_fill_it(capsys, monkeypatch, tmp_path):
    import vidsparse.models.stats as stats

    monkeypatch.setattr(stats, "STATS_PATH", tmp_path / "absent.json")
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| r3d_18 "))
    assert [c.strip() for c in row.split("|")[1:-1]][3:5] == ["33.37", "-"]
    assert "scripts/gen_models_doc.py" in out
