"""EL2N hardness scores and training subsets: formula, selection, errors, and a tiny CLI round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.config import RunConfig
from vidsparse.data.build import build_datasets, build_scoring_dataset
from vidsparse.data.subsets import select_subset
from vidsparse.errors import UserError
from vidsparse.workflows.hardness import average_runs, el2n_scores


def test_el2n_matches_formula_plain_and_squared():
    probs = torch.tensor([[0.5, 0.5, 0.0 + 1e-30], [0.7, 0.2, 0.1]])
    logits = probs.log()
    labels = torch.tensor([0, 2])
    # errors: [-0.5, 0.5, 0] and [0.7, 0.2, -0.9]
    expected_sq = torch.tensor([0.5, 0.49 + 0.04 + 0.81])
    assert torch.allclose(el2n_scores(logits, labels, squared=True), expected_sq, atol=1e-6)
    assert torch.allclose(el2n_scores(logits, labels), expected_sq.sqrt(), atol=1e-6)
    # a confident correct prediction is easy, a confident wrong one is maximally hard (sqrt 2)
    sure = torch.tensor([[20.0, 0.0], [20.0, 0.0]])
    easy, hard = el2n_scores(sure, torch.tensor([0, 1])).tolist()
    assert easy < 1e-6 and hard == pytest.approx(math.sqrt(2), abs=1e-6)


def test_average_runs_skips_unscored():
    assert average_runs([[1.0, None, None], [3.0, 4.0, None]]) == [2.0, 4.0, None]


SCORES = [0.3, 0.9, 0.1, 0.5, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0]  # hardest: 1, 6, 4, 8, 3


def test_subset_top_bottom_pick_hardest_and_easiest():
    assert select_subset(10, "el2n-top:0.5", SCORES) == [1, 3, 4, 6, 8]
    assert select_subset(10, "el2n-bottom:0.5", SCORES) == [0, 2, 5, 7, 9]
    assert select_subset(10, "el2n-top:0.25", SCORES) == [1, 4, 6]  # round(2.5) = 3
    assert select_subset(10, "el2n-bottom:1", SCORES) == list(range(10))
    assert select_subset(6, "el2n-top:0.5", [1.0] * 6) == [0, 1, 2]  # ties: lower index first
    assert select_subset(4, "el2n-top:0.5", [None, 0.1, 0.2, None]) == [1, 2]  # unscored go last
    assert select_subset(4, "el2n-bottom:0.5", [None, 0.1, 0.2, None]) == [1, 2]


def test_random_subset_is_exact_and_deterministic_per_seed():
    picks = [select_subset(100, "random:0.3", seed=s) for s in (0, 0, 1)]
    assert all(len(p) == 30 and p == sorted(p) and len(set(p)) == 30 for p in picks)
    assert picks[0] == picks[1] and picks[0] != picks[2]
    assert len(select_subset(7, "random:0.5")) == 4


@pytest.mark.parametrize("spec, words", [
    ("el2n-top:1.5", "fraction must be in (0, 1]"), ("el2n-top:0", "fraction must be in (0, 1]"),
    ("el2n-top", "fraction must be in (0, 1]"), ("foo:0.3", "unknown rule 'foo'"),
    ("random:0.01", "keeps no sample"),
])
def test_bad_subset_specs_are_one_line(spec: str, words: str):
    with pytest.raises(UserError) as err:
        select_subset(10, spec, SCORES)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_el2n_subset_needs_scores_of_the_same_length():
    with pytest.raises(UserError, match="needs --scores"):
        select_subset(10, "el2n-top:0.5", None)
    with pytest.raises(UserError, match="holds 3 scores but the training set has 10"):
        select_subset(10, "el2n-top:0.5", [0.1, 0.2, 0.3])


def test_digits_subset_and_scoring_view():
    cfg = RunConfig()
    cfg.data.dataset, cfg.model.name, cfg.model.size = "digits", "resnet18_cifar", "tiny"
    full = build_datasets(cfg, (0.5,) * 3, (0.25,) * 3)
    cfg.data.subset = "random:0.3"
    part = build_datasets(cfg, (0.5,) * 3, (0.25,) * 3)
    n = len(full.train)
    assert len(part.train) == int(0.3 * n + 0.5) and len(part.test) == len(full.test)  # test never subset
    k = part.train.indices[3]
    assert part.train.labels[3] == full.train.labels[k] and part.train[3][2] == k
    scoring = build_scoring_dataset(cfg, (0.5,) * 3, (0.25,) * 3)
    assert len(scoring) == n  # every training sample, whatever the subset
    view = full.train.test_transform(full.train.source.read(5))  # centre view, no augmentation
    assert torch.equal(scoring[5][0], view) and not torch.equal(full.train[5][0], view)


def test_hardness_cli_then_train_on_hardest_half(synthetic_root: Path, tmp_path: Path, capsys):
    out = tmp_path / "hard"
    args = tiny_train_args(synthetic_root, out)
    args[0] = "hardness"
    assert main(args + ["--runs", "2"]) == 0
    data = json.loads((out / "el2n.json").read_text())
    n = 4 * 3  # TINY_SYNTHETIC: 4 classes x 3 training videos
    assert data["runs"] == 2 and data["epochs"] == 1 and data["squared"] is False
    assert data["dataset"] == "synthetic" and len(data["scores"]) == len(data["paths"]) == len(data["labels"]) == n
    assert all(0.0 <= s <= math.sqrt(2) for s in data["scores"]) and len(set(data["scores"])) > 1
    assert (out / "el2n_hist.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["seed0", "seed1"]
    capsys.readouterr()
    assert main(args + ["--runs", "2"]) == 0  # finished runs are reused, not retrained
    assert capsys.readouterr().out.count("reusing finished run") == 2
    assert main(args + ["--runs", "2", "--subset", "random:0.5"]) == 2
    assert "drop --subset" in capsys.readouterr().err

    run = tmp_path / "top"
    assert main(tiny_train_args(synthetic_root, run, "--subset", "el2n-top:0.5", "--scores", str(out / "el2n.json"))) == 0
    assert f"{n // 2} train / 8 test samples" in capsys.readouterr().out
    from vidsparse.config import load_run_config

    cfg = load_run_config(run)
    chosen = build_datasets(cfg, (0.5,) * 3, (0.25,) * 3).train.indices
    hardest = sorted(range(n), key=lambda i: (-data["scores"][i], i))[: n // 2]
    assert chosen == sorted(hardest)

    # errors: missing --scores, scores of another dataset — one line, exit code 2
    assert main(tiny_train_args(synthetic_root, tmp_path / "x", "--subset", "el2n-top:0.5")) == 2
    err = capsys.readouterr().err.strip()
    assert "needs --scores" in err and "\n" not in err
    data["dataset"] = "digits"
    (tmp_path / "other.json").write_text(json.dumps(data))
    assert main(tiny_train_args(synthetic_root, tmp_path / "y", "--subset", "el2n-top:0.5",
                                "--scores", str(tmp_path / "other.json"))) == 2
    err = capsys.readouterr().err.strip()
    assert "made for dataset 'digits'" in err and "\n" not in err
