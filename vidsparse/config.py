"""Run configuration: dataclasses, YAML recipes and dotted overrides.

Precedence, lowest to highest: dataclass defaults < the dataset's default recipe <
``--config FILE.yaml`` < explicit CLI flags < ``--set key.sub=value``. The fully resolved
config is saved as ``RUN_DIR/config.yaml`` so every run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping, get_type_hints

import yaml

from vidsparse.core.device import default_workers
from vidsparse.core.io import atomic_write_text
from vidsparse.errors import UserError, first_line
from vidsparse.run_dir import RunDir
from vidsparse.sparse.config import SparseConfig, resolve_defaults


@dataclass
class SyntheticConfig:
    """Size of the built-in synthetic action dataset (see vidsparse.data.video.synthetic)."""

    classes: int = 8
    train_per_class: int = 48
    test_per_class: int = 16
    frames: int = 24
    size: int = 64
    fps: int = 12
    seed: int = 0


@dataclass
class DataConfig:
    dataset: str = "synthetic"
    root: str = ""  # "" = the dataset's default location (synthetic: a cache directory)
    split: int = 1
    clip_len: int = 8  # frames per clip
    stride: int = 2  # temporal stride between sampled frames
    resize: int = 48  # short side before cropping
    crop: int = 40  # square crop fed to the model
    test_clips: int = 1  # multi-view testing: clips x crops, averaged per video
    test_crops: int = 1
    hflip: bool = False  # horizontal flip augmentation (off when direction is the label)
    workers: int = field(default_factory=lambda: default_workers(2))  # at most the CPUs available
    backend: str = "auto"  # auto | torchcodec | decord | pyav
    decode_cache_mb: int = 0  # keep decoded videos in memory up to this size, per loading process (small sets)
    single_frame: bool = False  # feed one frame repeated clip_len times (temporal-information control)
    subset: str = ""  # train on a subset: el2n-top:F | el2n-bottom:F | random:F ("" = all samples)
    scores: str = ""  # el2n.json from 'vidsparse hardness' (needed by el2n-* subsets)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class ModelConfig:
    name: str = "r3d_small"
    size: str = ""  # "" = the model's default; "tiny" = the CPU-test configuration
    width: int = 0  # 0 = the model's default base width (models that support it)
    dropout: float = -1.0  # < 0 = the model's default
    pretrained: str = ""  # local checkpoint path


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | adamw
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    schedule: str = "cosine"  # cosine | constant
    min_lr: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float = 0.0  # max gradient norm; 0 = off


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 16
    eval_batch_size: int = 16
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision, used on CUDA only
    out: str = ""  # run directory; "" = runs/<dataset>-<model>-<method>-s<sparsity>[-seed<N>]
    eval_every: int = 1
    deterministic: bool = False  # deterministic kernels: bit-repeatable runs, possibly slower on CUDA
    checkpoint_every_steps: int = 0  # also save last.pt every N optimizer steps (0 = at epoch ends only)
    log: str = "csv"  # trackers, comma-separated: csv (always), tensorboard, wandb, mlflow
    log_every: int = 10  # optimizer steps between loss / LR / throughput points
    channels_last: bool = False  # CUDA only: channels-last(-3d) weights, faster convolutions under AMP


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)

    def run_name(self) -> str:
        name = f"{self.data.dataset}-{self.model.name}-{self.sparse.method}"
        if self.sparse.method != "dense":
            name += f"-s{resolve_defaults(self.sparse).sparsity:g}"
        if self.train.seed:
            name += f"-seed{self.train.seed}"
        return name

    def run_dir(self) -> Path:
        return Path(self.train.out) if self.train.out else Path("runs") / self.run_name()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -------------------------------------------------------------------------------------------
# generic dataclass plumbing


def valid_keys(obj: Any, prefix: str = "") -> list[str]:
    """Every dotted leaf key of a (nested) dataclass instance."""
    keys = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            keys.extend(valid_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the field's declared type, with a one-line error.
    ``X | None`` fields (a default that depends on other keys) take null or an X."""
    args = getattr(annotation, "__args__", ())
    if type(None) in args:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null", "none")):
            return None
        annotation = next(a for a in args if a is not type(None))
    kind = annotation if isinstance(annotation, type) else str(annotation)
    try:
        if kind is bool or kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int or kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float or kind == "float":
            if isinstance(value, str) and "/" in value:  # allow 8/255
                num, den = value.split("/", 1)
                return float(num) / float(den)
            return float(value)
        if kind is str or kind == "str":
            return "" if value is None else str(value)
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise UserError(f"config key {key!r} expects {getattr(kind, '__name__', kind)}, got {value!r}")


def set_dotted(cfg: Any, key: str, value: Any) -> None:
    """Set ``a.b.c`` on nested dataclasses; unknown keys list the valid ones."""
    parts = key.split(".")
    target = cfg
    for i, part in enumerate(parts):
        names = {f.name: f for f in fields(target)}
        if part not in names:
            raise UserError(
                f"unknown config key {key!r}; valid keys: {', '.join(valid_keys(cfg))}"
            )
        if i == len(parts) - 1:
            if is_dataclass(getattr(target, part)):
                if not isinstance(value, Mapping):
                    raise UserError(f"config key {key!r} is a section; set one of its keys instead")
                merge_mapping(getattr(target, part), value, prefix=f"{key}.", root=cfg)
                return
            hints = get_type_hints(type(target))
            setattr(target, part, _coerce(value, hints[part], key))
        else:
            target = getattr(target, part)
            if not is_dataclass(target):
                raise UserError(f"config key {key!r}: {'.'.join(parts[:i + 1])} is not a section")


def merge_mapping(cfg: Any, values: Mapping[str, Any], prefix: str = "", root: Any = None) -> None:
    """Apply a nested mapping (from YAML) onto a dataclass, validating every key."""
    root = root if root is not None else cfg
    for key, value in values.items():
        full = f"{prefix}{key}"
        sub = getattr(cfg, key, None) if isinstance(key, str) else None
        if isinstance(value, Mapping) and is_dataclass(sub):
            merge_mapping(sub, value, prefix=f"{full}.", root=root)
        else:
            set_dotted(root, full, value)


def parse_set_arguments(pairs: list[str] | None) -> list[tuple[str, Any]]:
    """Parse ``key=value`` strings; values are read as YAML scalars (1e-3, true, [1, 2])."""
    parsed = []
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"--set expects key=value, got {pair!r} (e.g. --set optim.lr=0.01)")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parsed.append((key.strip(), raw if isinstance(value, (dict, list)) else value))
    return parsed


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"cannot parse config file {path}: {first_line(err)}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of sections (data:, model:, ...)")
    return data


def build_config(
    yaml_path: str | os.PathLike | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: list[str] | None = None,
    dataset_defaults: Any = None,
) -> RunConfig:
    """Resolve a RunConfig from recipe file, CLI flags (dotted keys, None = not given) and --set.

    ``dataset_defaults(name) -> mapping`` supplies the dataset's default recipe; the dataset
    name is looked up with the same precedence as everything else so its defaults go first.
    """
    file_values = load_yaml(yaml_path) if yaml_path else {}
    flag_values = {k: v for k, v in (flags or {}).items() if v is not None}
    set_values = parse_set_arguments(overrides)

    dataset = "synthetic"
    if isinstance(file_values.get("data"), Mapping) and "dataset" in file_values["data"]:
        dataset = str(file_values["data"]["dataset"])
    dataset = str(flag_values.get("data.dataset", dataset))
    for key, value in set_values:
        if key == "data.dataset":
            dataset = str(value)

    cfg = RunConfig()
    recipe = dataset_defaults(dataset) if dataset_defaults is not None else {}
    merge_mapping(cfg, recipe)
    merge_mapping(cfg, file_values)
    for key, value in flag_values.items():
        set_dotted(cfg, key, value)
    for key, value in set_values:
        set_dotted(cfg, key, value)
    given = {*_dotted_keys(file_values), *_dotted_keys(dict(flag_values)), *_dotted_keys(dict(set_values))}
    recipe_model = recipe.get("model", {})
    if _base_model(cfg.model.name) != _base_model(recipe_model.get("name", cfg.model.name)):
        # The dataset recipe's model settings (its width) describe its own model, not the one chosen.
        for key in recipe_model:
            if key != "name" and f"model.{key}" not in given:
                set_dotted(cfg, f"model.{key}", getattr(ModelConfig(), key))
    if "data.workers" not in given:  # a recipe's wish (or the default), capped by the CPUs available
        cfg.data.workers = default_workers(cfg.data.workers)
    resolve_defaults(cfg.sparse)  # e.g. a sparse method's default sparsity (run names show it)
    check_values(cfg)
    return cfg


def _base_model(name: str) -> str:
    """A model name without the ``-tiny`` suffix: the tiny configuration is the same model."""
    return name.removesuffix("-tiny")


def _dotted_keys(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        keys += _dotted_keys(value, f"{prefix}{key}.") if isinstance(value, Mapping) else [f"{prefix}{key}"]
    return keys


def check_values(cfg: RunConfig) -> None:
    """Refuse values no run can use before anything starts: one line naming the key and the fix."""
    if cfg.train.eval_every < 1:
        raise UserError(f"train.eval_every={cfg.train.eval_every} must be >= 1 (evaluate every N epochs; the last "
                        "epoch is always evaluated): set e.g. --set train.eval_every=1")
    if cfg.train.checkpoint_every_steps < 0:
        raise UserError(f"train.checkpoint_every_steps={cfg.train.checkpoint_every_steps} must be >= 0 "
                        "(0 = checkpoint at epoch ends only)")
    if cfg.train.log_every < 1:
        raise UserError(f"train.log_every={cfg.train.log_every} must be >= 1 (optimizer steps between logged points)")
    if cfg.data.decode_cache_mb < 0:
        raise UserError(f"data.decode_cache_mb={cfg.data.decode_cache_mb} must be >= 0 (0 = decode every read)")


def config_from_dict(values: Mapping[str, Any]) -> RunConfig:
    cfg = RunConfig()
    merge_mapping(cfg, values)
    resolve_defaults(cfg.sparse)
    return cfg


def save_config(cfg: RunConfig, path: str | os.PathLike) -> None:
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def load_run_config(run_dir: str | os.PathLike) -> RunConfig:
    path = RunDir(run_dir).config
    if not path.is_file():
        raise UserError(f"no config.yaml in {run_dir}; is it a run directory made by 'vidsparse train'?")
    return config_from_dict(load_yaml(path))


def replace(cfg: Any, **changes: Any) -> Any:
    return dataclasses.replace(cfg, **changes)
