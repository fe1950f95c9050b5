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
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

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


def _loss(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample negative log-likelihood of the true class under the averaged prediction."""
    probs = model(pixels)
    return -probs.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-12).log()


def _ascend(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
            step_size: float, start: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed-gradient ascent projected onto the eps-ball and [0, 1]; returns (pixels, final loss)."""
    x = clean if start is None else (clean + start).clamp(0, 1)
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(_loss(model, x, labels).sum(), x)
        x = x.detach() + step_size * grad.sign()
        x = torch.minimum(torch.maximum(x, clean - eps), clean + eps).clamp(0, 1)
    with torch.no_grad():
        return x.detach(), _loss(model, x, labels)


def fgsm(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """One step of size eps along the sign of the input gradient (Goodfellow et al., 2015)."""
    return _ascend(model, clean, labels, spec.eps, 1, spec.eps, None)[0]


def pgd(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent from uniform random starts in the eps-ball (Madry et al., 2018)."""
    best, best_loss = clean, None
    for _ in range(spec.restarts):
        noise = torch.rand(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
        x, loss = _ascend(model, clean, labels, spec.eps, spec.steps, spec.step_size, (2 * noise - 1) * spec.eps)
        if best_loss is None:
            best, best_loss = x, loss
            continue
        better = loss > best_loss
        best = torch.where(better.view(-1, *([1] * (x.dim() - 1))), x, best)
        best_loss = torch.maximum(loss, best_loss)
    return best


Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor, AttackSpec, "torch.Generator | None"], torch.Tensor]
ATTACKS: dict[str, Attack] = {"fgsm": fgsm, "pgd": pgd}


def attack(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, spec: AttackSpec,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Adversarial pixels for ``clean`` ([0, 1]); ``model`` maps pixels to probabilities (PixelModel).

    Only the input is differentiated: parameters get no ``.grad``, and the model's train/eval
    mode is left as the caller set it (evaluation wants eval mode).
    """
    return ATTACKS[spec.name](model, clean.detach(), labels.to(clean.device).long(), spec, generator)


@dataclass
class AdversarialAccuracy:
    clean: Accuracy
    attacked: Accuracy


def adversarial_accuracy(model: nn.Module, dataset: Dataset, mean: Sequence[float], std: Sequence[float],
                         spec: AttackSpec, class_names: list[str], device: torch.device, batch_size: int = 8,
                         workers: int = 0, progress: bool = True) -> AdversarialAccuracy:
    """Clean and attacked accuracy over a normalised test set (samples the loader skips are counted)."""
    was_training = model.training
    model.eval()
    pixel_model = PixelModel(model, mean, std)
    generator = torch.Generator(device=device).manual_seed(spec.seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_skipping)
    clean, attacked = AccuracyCounter(len(class_names)), AccuracyCounter(len(class_names))
    try:
        for x, labels, _, skipped in tqdm(loader, desc=f"{spec.name} {spec.key()}", leave=False,
                                          disable=None if progress else True):
            clean.skipped += skipped
            attacked.skipped += skipped
            if x is None:
                continue
            pixels = to_pixels(x.to(device), mean, std)
            adversarial = attack(pixel_model, pixels, labels, spec, generator)
            with torch.no_grad():
                clean.update(pixel_model(pixels), labels)
                attacked.update(pixel_model(adversarial), labels)
    finally:
        model.train(was_training)
    return AdversarialAccuracy(clean.result(class_names), attacked.result(class_names))

