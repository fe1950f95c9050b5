"""Model statistics for ``vidsparse list models`` and docs/models.md: parameters, the share
the sparse engine masks, and GFLOPs at the standard input.

Counting convention (fvcore): one multiply-add is one FLOP; convolutions, linear layers,
matrix products and attention (including PyTorch's fused ``scaled_dot_product_attention``,
which fvcore does not know and is counted here as its two matrix products) are counted;
normalisation counts as fvcore does; elementwise operations (activations, additions,
softmax) are not. One clip (batch 1), one view.

GFLOPs of 30 full-size models take minutes on a CPU, so they are cached in
``model_stats.json`` next to this file (``scripts/gen_models_doc.py`` writes it).
Parameter counts are recomputed cheaply on PyTorch's meta device to notice stale entries.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from vidsparse.core.flop_count import flop_analysis
from vidsparse.core.io import atomic_write_json
from vidsparse.models.registry import MODELS, create_model, get_model_entry
from vidsparse.sparse.targets import find_sparse_tensors

STATS_PATH = Path(__file__).with_name("model_stats.json")
NUM_CLASSES = 400  # Kinetics-400 heads for video models
IMAGE_CLASSES = {"image-cnn": 1000, "image-transformer": 1000}  # ImageNet heads
CIFAR_CLASSES = 10


@dataclass(frozen=True)
class ModelStats:
    name: str
    family: str
    frames: int
    size: int
    num_classes: int
    params: int
    maskable: int  # parameters the sparse engine selects
    gflops: float | None  # None = not computed yet

    @property
    def maskable_share(self) -> float:
        return self.maskable / self.params if self.params else 0.0


def stats_classes(name: str) -> int:
    """Classifier size the statistics assume: Kinetics-400, ImageNet-1k or CIFAR-10."""
    entry = get_model_entry(name)
    if entry.input.size <= 32 and not entry.is_video:
        return CIFAR_CLASSES
    return IMAGE_CLASSES.get(entry.family, NUM_CLASSES)


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(all parameters, parameters the sparse engine masks)."""
    params = sum(p.numel() for p in model.parameters())
    maskable = sum(t.numel for t in find_sparse_tensors(model))
    return params, maskable


def count_gflops(model: nn.Module, example: torch.Tensor) -> float:
    """Forward GFLOPs of one sample (eval mode, no gradient)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(flop_analysis(model, example[:1]).total()) / 1e9
    finally:
        model.train(was_training)


def compute_stats(name: str, flops: bool = True) -> ModelStats:
    """Statistics of a model's standard configuration (a full build only when flops=True)."""
    entry = get_model_entry(name)
    classes = stats_classes(name)
    if flops:
        model = create_model(name, classes)
        gflops: float | None = count_gflops(model, torch.randn(entry.input.shape()))
    else:
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            model = create_model(name, classes)
        gflops = None
    params, maskable = parameter_counts(model)
    return ModelStats(entry.name, entry.family, entry.input.frames, entry.input.size, classes, params, maskable,
                      gflops)


def load_cache(path: Path | None = None) -> dict[str, ModelStats]:
    path = path or STATS_PATH
    if not path.is_file():
        return {}
    return {name: ModelStats(**row) for name, row in json.loads(path.read_text())["models"].items()}


def save_cache(stats: dict[str, ModelStats], path: Path | None = None) -> None:
    path = path or STATS_PATH
    rows = {name: asdict(stats[name]) for name in sorted(stats)}
    atomic_write_json(path, {"convention": "fvcore: 1 multiply-add = 1 FLOP; batch 1 at the standard input",
                             "models": rows})


def is_current(cached: ModelStats, fresh: ModelStats) -> bool:
    """A cached row still describes the registered model (same input, same parameters)."""
    keys = ("family", "frames", "size", "num_classes", "params", "maskable")
    return all(getattr(cached, k) == getattr(fresh, k) for k in keys)


def model_table(path: Path | None = None) -> list[ModelStats]:
    """One row per registered model: cached GFLOPs where the cache is current, else None."""
    cache = load_cache(path)
    rows = []
    for name in sorted(MODELS):
        fresh = compute_stats(name, flops=False)
        cached = cache.get(name)
        rows.append(cached if cached is not None and cached.gflops is not None and is_current(cached, fresh)
                    else fresh)
    return rows
