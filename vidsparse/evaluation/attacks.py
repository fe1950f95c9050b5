"""L-infinity adversarial attacks (FGSM, PGD) in pixel space, and adversarial accuracy of a test set.

Attacks perturb the [0, 1] pixels a camera would deliver, not the normalised tensor the model
reads, so ``eps = 8/255`` means 8 grey levels whatever the model's mean/std. ``PixelModel``
puts the normalisation inside the differentiated function.

Inputs follow ``evaluate.predict_views``: images [B, C, H, W], clips [B, C, T, H, W] (every frame
is perturbed) or multi-view clips [B, V, C, T, H, W]. With several views each view gets its own
perturbation (within eps of its own clean pixels) and the attack maximises the loss of the
*averaged* prediction, i.e. it attacks exactly the decision the evaluation scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from vidsparse.core.device import autocast
from vidsparse.core.distributed import World, joined_world, shard_indices
from vidsparse.data.video.dataset import collate_skipping
from vidsparse.errors import UserError
from vidsparse.evaluation.accuracy import Accuracy, AccuracyCounter, predict_views


def channel_dim(x: torch.Tensor) -> int:
    """Where the colour channels are in predict_views' layouts (dim 2 for multi-view clips)."""
    return 2 if x.dim() == 6 else 1


def _per_channel(values: Sequence[float], x: torch.Tensor) -> torch.Tensor:
    dim = channel_dim(x)
    return torch.as_tensor(values, dtype=x.dtype, device=x.device).view(-1, *([1] * (x.dim() - dim - 1)))


def to_pixels(x_norm: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo the test transform's normalisation; clamped because float rounding can leave [0, 1]."""
    return (x_norm * _per_channel(std, x_norm) + _per_channel(mean, x_norm)).clamp(0, 1)


class PixelModel(nn.Module):
    """The run's model as a function of [0, 1] pixels, returning view-averaged class probabilities."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model, self.mean, self.std = model, tuple(mean), tuple(std)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels - _per_channel(self.mean, pixels)) / _per_channel(self.std, pixels)
        return predict_views(self.model, x)

    def view_probs(self, clips: torch.Tensor) -> torch.Tensor:
        """Class probabilities of single views ([N, C, ...] pixels), not averaged."""
        x = (clips - _per_channel(self.mean, clips)) / _per_channel(self.std, clips)
        return self.model(x).float().softmax(-1)


@dataclass(frozen=True)
class AttackSpec:
    """One attack setting; ``key`` names its entry in eval.json (6 significant digits)."""

    name: str  # fgsm | pgd
    eps: float  # L-infinity radius in [0, 1] pixel units
    steps: int = 10  # PGD only
    step_size: float = 2 / 255  # PGD only
    restarts: int = 1  # PGD only: random starts; per sample the highest-loss one is kept
    seed: int = 0  # PGD random start

    def __post_init__(self) -> None:
        if self.name not in ATTACKS:
            raise UserError(f"unknown attack {self.name!r}; valid: {', '.join(ATTACKS)}")
        if not self.eps >= 0:
            raise UserError(f"--eps must be >= 0 (e.g. 8/255), got {self.eps}")
        if self.steps < 1 or self.restarts < 1:
            raise UserError(f"--steps and --attack-restarts must be >= 1, got {self.steps} and {self.restarts}")
        if not self.step_size > 0:
            raise UserError(f"--step-size must be > 0 (e.g. 2/255), got {self.step_size}")

    def key(self) -> str:
        if self.name == "fgsm":
            return f"eps={self.eps:.6g}"
        return f"eps={self.eps:.6g},steps={self.steps},step={self.step_size:.6g},restarts={self.restarts}"


DEFAULT_CHUNK_VIEWS = 16  # clips differentiated at once (UCF101's 8 x 30 test views would be 240)


def _nll(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample negative log-likelihood of the true class."""
    return -probs.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-12).log()


def _views(x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(clips [B * V, ...], B, V): multi-view clips flattened; any other input is V = 1."""
    if x.dim() == 6:
        return x.flatten(0, 1), x.shape[0], x.shape[1]
    return x, x.shape[0], 1


def _chunked(model: nn.Module, x: torch.Tensor, chunk: int) -> bool:
    return bool(chunk) and hasattr(model, "view_probs") and x.shape[0] * (x.shape[1] if x.dim() == 6 else 1) > chunk


def averaged_probs(model: nn.Module, x: torch.Tensor, chunk: int = 0) -> torch.Tensor:
    """``model(x)`` (view-averaged probabilities), at most ``chunk`` clips at a time (0: all)."""
    if not _chunked(model, x, chunk):
        return model(x)
    flat, b, v = _views(x)
    probs = torch.cat([model.view_probs(flat[i : i + chunk]) for i in range(0, len(flat), chunk)])
    return probs.view(b, v, -1).mean(1)


def _loss_scale(x: torch.Tensor) -> float:
    """Under fp16 autocast small input gradients flush to zero and lose their sign; a constant
    scale keeps them (only the sign is used). 1 elsewhere, so CPU and bf16 numbers are unscaled."""
    fp16 = x.is_cuda and torch.is_autocast_enabled("cuda") and torch.get_autocast_dtype("cuda") == torch.float16
    return 1024.0 if fp16 else 1.0


def _input_gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, chunk: int) -> torch.Tensor:
    """d(sum of per-sample losses of the averaged prediction) / d(pixels), ``chunk`` clips per backward.

    Exact in chunks: the other views' probabilities are constants for this chunk's gradient, so
    one no-grad pass gives them and each chunk is re-run with grad, its own probabilities
    swapped into its samples' sums. Memory holds one chunk's activations, for one extra forward.
    """
    scale = _loss_scale(x)
    if not _chunked(model, x, chunk):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            return torch.autograd.grad(_nll(model(x), labels).sum() * scale, x)[0]
    flat, b, v = _views(x.detach())
    with torch.no_grad():
        probs = torch.cat([model.view_probs(flat[i : i + chunk]) for i in range(0, len(flat), chunk)])
    total = probs.view(b, v, -1).sum(1)
    samples = torch.arange(b, device=x.device)[:, None]
    grads = []
    for start in range(0, len(flat), chunk):
        part = flat[start : start + chunk].requires_grad_(True)
        owner = (torch.arange(start, start + len(part), device=x.device) // v)[None, :] == samples
        with torch.enable_grad():
            delta = owner.to(probs.dtype) @ (model.view_probs(part) - probs[start : start + len(part)])
            grads.append(torch.autograd.grad(_nll((total + delta) / v, labels).sum() * scale, part)[0])
    return torch.cat(grads).view_as(x)


def _ascend(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
            step_size: float, start: torch.Tensor | None, chunk: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed-gradient ascent projected onto the eps-ball and [0, 1]; returns (pixels, final loss)."""
    x = clean if start is None else (clean + start).clamp(0, 1)
    for _ in range(steps):
        grad = _input_gradient(model, x, labels, chunk)
        x = x.detach() + step_size * grad.sign()
        x = torch.minimum(torch.maximum(x, clean - eps), clean + eps).clamp(0, 1)
    with torch.no_grad():
        return x.detach(), _nll(averaged_probs(model, x, chunk), labels)


Generators = Union[torch.Generator, Sequence[torch.Generator], None]


def _uniform(like: torch.Tensor, generator: Generators) -> torch.Tensor:
    """U[0, 1) noise shaped like ``like``: from one generator, or one per sample (shard-invariant)."""
    if isinstance(generator, (list, tuple)):
        return torch.stack([torch.rand(like.shape[1:], generator=g, device=like.device, dtype=like.dtype)
                            for g in generator])
    return torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def fgsm(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
         generator: Generators = None, chunk: int = 0) -> torch.Tensor:
    """One step of size eps along the sign of the input gradient (Goodfellow et al., 2015)."""
    return _ascend(model, clean, labels, spec.eps, 1, spec.eps, None, chunk)[0]


def pgd(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
        generator: Generators = None, chunk: int = 0) -> torch.Tensor:
    """Projected gradient descent from uniform random starts in the eps-ball (Madry et al., 2018)."""
    best, best_loss = clean, None
    for _ in range(spec.restarts):
        noise = _uniform(clean, generator)
        x, loss = _ascend(model, clean, labels, spec.eps, spec.steps, spec.step_size, (2 * noise - 1) * spec.eps,
                          chunk)
        if best_loss is None:
            best, best_loss = x, loss
            continue
        better = loss > best_loss
        best = torch.where(better.view(-1, *([1] * (x.dim() - 1))), x, best)
        best_loss = torch.maximum(loss, best_loss)
    return best


Attack = Callable[..., torch.Tensor]
ATTACKS: dict[str, Attack] = {"fgsm": fgsm, "pgd": pgd}


def attack(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
           generator: Generators = None, chunk: int = 0) -> torch.Tensor:
    """Adversarial pixels for ``clean`` ([0, 1]); ``model`` maps pixels to probabilities (PixelModel).

    Only the input is differentiated: parameters get no ``.grad``, and the model's train/eval
    mode is left as the caller set it (evaluation wants eval mode). ``chunk`` > 0 bounds the
    clips differentiated at once (same gradients); ``generator`` may be one per sample.
    """
    return ATTACKS[spec.name](model, clean.detach(), labels.to(clean.device).long(), spec, generator, chunk)


def sample_seed(seed: int, index: int) -> int:
    """The PGD random start of dataset sample ``index``: independent of batching and sharding."""
    return seed * 1_000_003 + index


@dataclass
class AdversarialAccuracy:
    clean: Accuracy
    attacked: Accuracy


def adversarial_accuracy(model: nn.Module, dataset: Dataset, mean: Sequence[float], std: Sequence[float],
                         spec: AttackSpec, class_names: list[str], device: torch.device, batch_size: int = 8,
                         workers: int = 0, progress: bool = True, world: World | None = None,
                         chunk: int = DEFAULT_CHUNK_VIEWS) -> AdversarialAccuracy:
    """Clean and attacked accuracy over a normalised test set (samples the loader skips are counted).

    Sharded like the clean evaluation: in a process group each rank attacks its strided share
    and the counts are summed; random starts are seeded per sample, so any sharding and batch
    size give the numbers of one process. On CUDA the model runs under autocast.
    """
    world = joined_world() if world is None else world
    if world.is_distributed:
        dataset = Subset(dataset, shard_indices(len(dataset), world))
    was_training = model.training
    model.eval()
    pixel_model = PixelModel(model, mean, std)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_skipping, pin_memory=device.type == "cuda")
    clean, attacked = AccuracyCounter(len(class_names)), AccuracyCounter(len(class_names))
    try:
        for x, labels, indices, skipped in tqdm(loader, desc=f"{spec.name} {spec.key()}", leave=False,
                                                disable=None if progress and world.is_main else True):
            clean.skipped += skipped
            attacked.skipped += skipped
            if x is None:
                continue
            generators = [torch.Generator(device=device).manual_seed(sample_seed(spec.seed, int(i)))
                          for i in indices]
            with autocast(device):
                pixels = to_pixels(x.to(device, non_blocking=True), mean, std)
                adversarial = attack(pixel_model, pixels, labels, spec, generators, chunk)
                with torch.no_grad():
                    clean.update(averaged_probs(pixel_model, pixels, chunk), labels)
                    attacked.update(averaged_probs(pixel_model, adversarial, chunk), labels)
    finally:
        model.train(was_training)
    return AdversarialAccuracy(clean.summed(world).result(class_names), attacked.summed(world).result(class_names))
