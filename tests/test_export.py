"""``vidsparse export`` and ``vidsparse eval --weights``: a sparse run as safetensors + model card,
evaluated from the folder with the run's own numbers."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open

from tests.conftest import tiny_train_args
from vidsparse.cli import main
from vidsparse.core.checkpoint import load_checkpoint
from vidsparse.sparse.packing import MASK, VALUES, load_packed, pack_state_dict, save_packed, unpack_state_dict

EVAL = ["--corruptions", "gaussian_noise", "--severities", "2", "--workers", "0"]


@pytest.fixture(scope="module")
def exported(synthetic_root, tmp_path_factory) -> tuple[Path, Path]:
    """(run directory trained with RigL at 80% sparsity and evaluated, its export folder)."""
    base = tmp_path_factory.mktemp("export")
    run, folder = base / "run", base / "shared"
    assert main(tiny_train_args(synthetic_root, run, "--method", "rigl", "--sparsity", "0.8",
                                "--set", "train.seed=1")) == 0
    assert main(["eval", "--run", str(run), *EVAL]) == 0
    assert main(["export", str(run), "--out", str(folder)]) == 0
    return run, folder


def test_packing_round_trip_and_size(tmp_path):
    torch.manual_seed(0)
    weight = torch.randn(7, 5, 3)  # 105 entries: not a multiple of 8 bits
    mask = torch.rand(weight.shape) < 0.1
    state = {"conv.weight": weight * mask, "conv.bias": torch.randn(7), "bn.num_batches_tracked": torch.tensor(3)}
    tensors, shapes = pack_state_dict(state, {"conv.weight": mask})
    assert tensors["conv.weight" + MASK].dtype == torch.uint8 and tensors["conv.weight" + MASK].numel() == 14
    assert tensors["conv.weight" + VALUES].numel() == int(mask.sum())
    back, masks = unpack_state_dict(tensors, shapes)
    assert all(torch.equal(back[k], v) for k, v in state.items()) and torch.equal(masks["conv.weight"], mask)
    size = save_packed(tmp_path / "m.safetensors", state, {"conv.weight": mask}, {"classes": ["a"]})
    assert size.dense == 105 * 4 + 7 * 4 + 8
    assert size.packed == int(mask.sum()) * 4 + 14 + 7 * 4 + 8
    loaded, _, info = load_packed(tmp_path / "m.safetensors")
    assert torch.equal(loaded["conv.weight"], state["conv.weight"]) and info == {"classes": ["a"]}


def test_export_files(exported):
    run, folder = exported
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.yaml", "eval.json", "model.safetensors"]
    assert (folder / "config.yaml").read_text() == (run / "config.yaml").read_text()
    checkpoint = load_checkpoint(run / "best.pt")
    weights, masks, info = load_packed(folder / "model.safetensors")
    assert weights.keys() == checkpoint["model"].keys()
    assert all(torch.equal(weights[k], v) for k, v in checkpoint["model"].items())
    assert info["classes"] == checkpoint["classes"] and info["method"] == "rigl"
    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:  # plain safetensors reads it
        keys = set(handle.keys())
    masked = {k for k, m in checkpoint["sparsifier"]["masks"].items() if m is not None}
    assert masked and all(k + MASK in keys and k + VALUES in keys and k not in keys for k in masked)
    dense_bytes = sum(t.numel() * t.element_size() for t in checkpoint["model"].values())
    assert (folder / "model.safetensors").stat().st_size < 0.5 * dense_bytes


def test_model_card(exported):
    run, folder = exported
    text = (folder / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    card = yaml.safe_load(front)
    assert {"vidsparse", "sparse-rigl", "video-classification"} <= set(card["tags"])
    assert card["datasets"] == ["synthetic"] and card["metrics"] == ["accuracy"]
    results = json.loads((run / "eval.json").read_text())
    values = {m["name"]: m["value"] for m in card["model-index"][0]["results"][0]["metrics"]}
    assert values["clean top-1"] == round(100 * results["clean"]["top1"], 2)
    assert values["mPC"] == round(100 * results["summary"]["mpc"], 2)
    sparsity = json.loads((run / "sparsity.json").read_text())
    for layer in sparsity["layers"]:
        if not layer["kept_dense"]:
            assert f"| {layer['name']} |" in body and f"{layer['density']:.4f}" in body
    assert "| gaussian_noise |" in body and "vidsparse eval --weights" in body and "bytes" in body


def test_eval_weights_reproduces_the_run(exported, capsys):
    run, folder = exported
    assert main(["eval", "--weights", str(folder), *EVAL]) == 0
    ours, theirs = (json.loads((d / "eval.json").read_text()) for d in (run, folder))
    assert theirs["clean"]["checkpoint"] == "exported"  # measured again, not the copied results
    for key in ("top1", "top5", "n", "per_class"):
        assert theirs["clean"][key] == ours["clean"][key]
    assert theirs["corruptions"]["gaussian_noise"]["2"]["top1"] == ours["corruptions"]["gaussian_noise"]["2"]["top1"]
    assert theirs["summary"]["mpc"] == ours["summary"]["mpc"]


def test_eval_weights_without_export_is_one_line(tmp_path, capsys):
    assert main(["eval", "--weights", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "model.safetensors" in err


def test_export_of_an_unevaluated_dense_run(tmp_path, capsys):
    """No masks, no eval.json: every masked-layer-free tensor stored as is, the card says so."""
    from vidsparse.config import RunConfig, save_config
    from vidsparse.core.checkpoint import save_checkpoint
    from vidsparse.models import create_model

    run = tmp_path / "dense"
    run.mkdir()
    cfg = RunConfig()
    cfg.model.name, cfg.model.width, cfg.sparse.method = "r3d_small", 4, "dense"
    save_config(cfg, run / "config.yaml")
    state = create_model("r3d_small", 3, width=4).state_dict()
    save_checkpoint(run / "last.pt", {"model": state, "classes": ["a", "b", "c"], "epoch": 2, "sparsifier": {}})
    assert main(["export", str(run), "--out", str(tmp_path / "out")]) == 0
    assert "(dense)" in capsys.readouterr().out
    weights, masks, info = load_packed(tmp_path / "out" / "model.safetensors")
    assert not masks and info["checkpoint"] == "last" and info["classes"] == ["a", "b", "c"]
    assert all(torch.equal(weights[k], v) for k, v in state.items())
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Dense: no masks." in card and "Not evaluated yet" in card and "model-index" not in card
    assert not (tmp_path / "out" / "eval.json").exists()
