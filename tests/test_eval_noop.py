"""No-op cells: a corruption that leaves test videos unchanged is counted and flagged, not passed off as robust."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from test_robustness import _eval, run_copy, trained_run  # noqa: F401 (fixtures)
from vidsparse.evaluation import engine
from vidsparse.evaluation.cells import unchanged


def test_noop_cells_are_counted_and_flagged(run_copy: Path, capsys):
    # 12-frame test videos: box_jumble at severity 5 (32-frame segments) leaves every one unchanged
    assert _eval(run_copy, "--corruptions", "box_jumble,gaussian_noise", "--severities", "5") == 0
    data = json.loads((run_copy / "eval.json").read_text())
    assert data["corruptions"]["box_jumble"]["5"]["noop_videos"] == 8
    assert data["corruptions"]["gaussian_noise"]["5"]["noop_videos"] == 0
    assert data["summary"]["noop_cells"] == {"box_jumble": {"5": "no-op on 8 of 8 videos"}}
    out = capsys.readouterr().out
    assert "box_jumble s5 no-op on 8 of 8 videos" in out
    row = {line.split("|")[1].strip(): line for line in out.splitlines() if line.count("|") > 2}
    assert "!" in row["box_jumble"] and "!" not in row["gaussian_noise"], out
    rows = {r["corruption"]: r for r in csv.DictReader((run_copy / "eval.csv").open())}
    assert rows["box_jumble"]["noop_videos"] == "8" and rows["gaussian_noise"]["noop_videos"] == "0"


def test_noop_flags_survive_a_resume_log():
    store = engine.PredictionStore(2, 3, 1)
    store.put(torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 2, 2]), torch.zeros(4, 1),
              torch.tensor([False, True, False, True]))
    again = engine.PredictionStore(2, 3, 1)
    store.state[:, 1] = store.FAILED
    assert again.load_rows(store.rows([0, 1, 2])) == 3
    assert again.noops(1) == 2 and again.noops(0) == 0
    clean = torch.zeros(2, 4, 3, 2, 2, dtype=torch.uint8)
    changed = clean.clone()
    changed[1, 3, 0, 0, 0] = 1
    assert unchanged(clean, changed, batched=True).tolist() == [True, False]
    assert bool(unchanged(clean[0], clean[0])) and not bool(unchanged(clean[0], clean[0, :2]))
