"""Model registry in the style of timm: ``@register_model`` + ``create_model`` + ``list_models``.

A model entry declares the input it expects (frames, resolution, normalisation) so data
transforms can be derived from it. Overrides left unset (None) never change a model's own
defaults, and ``NAME-tiny`` is the CPU-test configuration of ``NAME``.

Every builder has the same signature, so the training loop never needs to know a model:

    builder(num_classes, size="", width=None, dropout=None) -> nn.Module

``size`` is "" (the published configuration) or "tiny"; ``width`` is the model's base width
(channels of the first stage of a CNN, embedding dimension of a transformer) with the rest
of the network scaled from it as in the original design; ``dropout`` is the classifier
dropout.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar

from torch import nn

from vidsparse.errors import UserError, did_you_mean

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)  # torchvision's video ResNets
KINETICS_STD = (0.22803, 0.22145, 0.216989)
VIDEO_MEAN = (0.45, 0.45, 0.45)  # pytorchvideo, TimeSformer, MViT
VIDEO_STD = (0.225, 0.225, 0.225)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)

SIZES = ("", "tiny")
FAMILIES = ("3dcnn", "video-transformer", "image-cnn", "image-transformer")
T = TypeVar("T")


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: clip length (1 for image models), square crop, normalisation.

    ``tiny`` is (frames, size) of the tiny configuration; ``fixed`` says the model accepts
    only exactly this input (others adapt to any clip length and crop above a minimum).
    """

    frames: int
    size: int
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    tiny: tuple[int, int] | None = None
    fixed: bool = False

    def for_size(self, size: str = "") -> "InputSpec":
        """The input of one configuration ("" = standard, "tiny")."""
        if size == "tiny" and self.tiny is not None:
            return replace(self, frames=self.tiny[0], size=self.tiny[1], tiny=None)
        return self

    def shape(self, batch: int = 1) -> tuple[int, ...]:
        """Input tensor shape: [B, C, T, H, W] for video models, [B, C, H, W] for images."""
        if self.frames == 1:
            return (batch, 3, self.size, self.size)
        return (batch, 3, self.frames, self.size, self.size)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str  # one of FAMILIES
    builder: Callable[..., nn.Module]
    input: InputSpec
    description: str = ""

    @property
    def is_video(self) -> bool:
        return self.family in ("3dcnn", "video-transformer")


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, family: str, input: InputSpec, description: str = ""):
    """Register ``builder(num_classes, size="", width=None, dropout=None)`` under `name`."""
    if family not in FAMILIES:
        raise ValueError(f"model {name!r}: unknown family {family!r}; use one of {FAMILIES}")

    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        summary = (description or (builder.__doc__ or "").strip().splitlines()[0]).rstrip(".")
        MODELS[name] = ModelEntry(name, family, builder, input, summary)
        return builder

    return wrap


def _split_tiny(name: str) -> tuple[str, dict[str, Any]]:
    if name not in MODELS and name.endswith("-tiny") and name[: -len("-tiny")] in MODELS:
        return name[: -len("-tiny")], {"size": "tiny"}
    return name, {}


def get_model_entry(name: str) -> ModelEntry:
    base, _ = _split_tiny(name)
    if base not in MODELS:
        raise did_you_mean(name, list(MODELS), "model")
    return MODELS[base]


def model_input(name: str, size: str = "") -> InputSpec:
    """The input a model configuration expects (``NAME-tiny`` implies size="tiny")."""
    _, implied = _split_tiny(name)
    return get_model_entry(name).input.for_size(size or implied.get("size", ""))


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
    """Build a registered model; overrides that are None or "" are left to the model."""
    entry = get_model_entry(name)
    _, implied = _split_tiny(name)
    kwargs = {**implied, **{k: v for k, v in overrides.items() if v is not None and v != ""}}
    return entry.builder(num_classes=num_classes, **kwargs)


def model_from_config(model_cfg: Any, num_classes: int) -> nn.Module:
    """The model a run's ``model:`` section describes (ModelConfig: 0 / "" / < 0 = the model's default)."""
    return create_model(model_cfg.name, num_classes, size=model_cfg.size, width=model_cfg.width or None,
                        dropout=model_cfg.dropout if model_cfg.dropout >= 0 else None)


def list_models(pattern: str = "*") -> list[str]:
    return sorted(n for n in MODELS if fnmatch.fnmatch(n, pattern))


def pick_size(size: str, standard: T, tiny: T) -> T:
    """The configuration for `size`, with a one-line error for anything else."""
    if size not in SIZES:
        raise UserError(f"unknown model size {size!r}; use model.size=tiny or leave it empty")
    return tiny if size == "tiny" else standard


def check_positive(name: str, value: int | float | None) -> None:
    if value is not None and value <= 0:
        raise UserError(f"model.{name}={value} must be positive; leave it unset for the model's default")
