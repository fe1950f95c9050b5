from pathlib import Path

import pytest
import yaml

from vidsparse.config import RunConfig, build_config, load_run_config, save_config, valid_keys
from vidsparse.core import device
from vidsparse.data.registry import dataset_defaults
from vidsparse.errors import UserError


def test_precedence_defaults_recipe_file_flags_set(tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"optim": {"lr": 0.2, "weight_decay": 0.01}, "train": {"epochs": 3}}))
    cfg = build_config(
        recipe, {"train.epochs": 5, "optim.lr": None}, ["optim.weight_decay=1e-4"],
        dataset_defaults=dataset_defaults,
    )
    assert cfg.model.name == "r3d_small"  # from the synthetic dataset's recipe
    assert cfg.optim.lr == 0.2  # file beats the dataset recipe; an unset flag does not override
    assert cfg.train.epochs == 5  # flag beats file
    assert cfg.optim.weight_decay == 1e-4  # --set beats everything
    assert cfg.data.dataset == "synthetic"


def test_dataset_recipe_follows_the_dataset_flag():
    cfg = build_config(None, {"data.dataset": "ucf101"}, [], dataset_defaults=dataset_defaults)
    assert (cfg.model.name, cfg.data.crop, cfg.data.test_clips) == ("r3d_18", 112, 10)


def test_recipe_width_belongs_to_the_recipe_model(tmp_path: Path):
    """digits' recipe is a width-16 resnet18_cifar: choosing another model must not make it width 16."""
    assert build_config(None, {"data.dataset": "digits"}, dataset_defaults=dataset_defaults).model.width == 16
    other = build_config(None, {"data.dataset": "digits", "model.name": "vgg16_cifar"}, dataset_defaults=dataset_defaults)
    assert (other.model.name, other.model.width) == ("vgg16_cifar", 0)  # 0 = the model's own default
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {dataset: mnist5k}\nmodel: {name: lenet5}\n")
    assert build_config(recipe, dataset_defaults=dataset_defaults).model.width == 0
    chosen = build_config(None, {"data.dataset": "digits", "model.name": "vgg16_cifar"}, ["model.width=8"],
                          dataset_defaults=dataset_defaults)
    assert chosen.model.width == 8


def test_set_types_are_coerced_and_checked():
    cfg = build_config(None, {}, ["train.amp=false", "data.clip_len=4", "optim.lr=8/255"])
    assert cfg.train.amp is False and cfg.data.clip_len == 4 and abs(cfg.optim.lr - 8 / 255) < 1e-12
    with pytest.raises(UserError, match="expects int"):
        build_config(None, {}, ["data.clip_len=four"])


def test_unknown_key_lists_valid_keys():
    with pytest.raises(UserError) as err:
        build_config(None, {}, ["optim.learning_rate=0.1"])
    message = str(err.value)
    assert "optim.learning_rate" in message and "optim.lr" in message and "\n" not in message


def test_unknown_key_in_yaml_file(tmp_path: Path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("train:\n  epoch: 3\n")
    with pytest.raises(UserError, match="train.epoch"):
        build_config(recipe, {}, [])


def test_set_without_equals_and_missing_file(tmp_path: Path):
    with pytest.raises(UserError, match="key=value"):
        build_config(None, {}, ["optim.lr"])
    with pytest.raises(UserError, match="not found"):
        build_config(tmp_path / "nope.yaml", {}, [])


def test_saved_config_round_trips(tmp_path: Path):
    cfg = build_config(None, {"sparse.method": "rigl", "sparse.sparsity": 0.5}, [])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_run_config(tmp_path).to_dict() == cfg.to_dict()
    assert "sparse.sparsity" in valid_keys(RunConfig())


def test_shipped_recipes_and_sweeps_load():
    from vidsparse.workflows.sweep import expand, load_sweep

    configs = Path(__file__).parents[1] / "configs"
    recipes = sorted([*configs.glob("*.yaml"), *configs.glob("study/*.yaml")])
    assert len(recipes) >= 13
    for recipe in recipes:
        build_config(recipe, {}, [], dataset_defaults=dataset_defaults)
    for grid in sorted(configs.glob("sweeps/*.yaml")):
        runs = expand(load_sweep(grid), "runs/x")
        if grid.name.startswith("study-"):  # dense once per seed + 7 sparse variants x 3 sparsities x 3 seeds
            assert len(runs) == 66, grid.name
            labels = {(r.cfg.sparse.method, r.cfg.sparse.grow) for r in runs}
            assert {("mest", "random"), ("mest", "gradient"), ("granet", ""), ("gmp", "")} <= labels
            assert len({r.run_dir for r in runs}) == 66


def test_eval_every_below_one_is_a_config_error():
    with pytest.raises(UserError, match=r"train.eval_every=0 must be >= 1 .*--set train.eval_every=1"):
        build_config(overrides=["train.eval_every=0"])


def test_loader_workers_default_to_the_cpus_available(monkeypatch, tmp_path: Path):
    """A recipe's (or the default's) workers are capped by the CPUs; a value the user sets is kept."""
    monkeypatch.setattr(device, "available_cpus", lambda: 1)
    recipe = lambda name: {"data": {"workers": 4}}  # noqa: E731
    assert build_config(dataset_defaults=recipe).data.workers == 1
    assert build_config().data.workers == 1
    assert build_config(dataset_defaults=recipe, overrides=["data.workers=3"]).data.workers == 3
    assert build_config(dataset_defaults=recipe, flags={"data.workers": 2}).data.workers == 2
    path = tmp_path / "recipe.yaml"
    path.write_text("data:\n  workers: 4\n")
    assert build_config(path, dataset_defaults=recipe).data.workers == 4
    monkeypatch.setattr(device, "available_cpus", lambda: 16)
    assert build_config(dataset_defaults=recipe).data.workers == 4
