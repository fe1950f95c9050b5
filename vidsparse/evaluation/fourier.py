"""Frequency analysis: accuracy when the model sees only low or only high spatial frequencies.

Each frame is filtered on its own with a 2-D FFT over (H, W) and a centred disc in the
shifted spectrum: low-pass keeps the frequencies at distance <= radius from DC, high-pass
keeps the rest, so low(r) + high(r) is the input again. The radius is in frequency-index
units of the model's input crop (0 = DC only; ``max_radius(size)`` reaches the corners).

Filtering acts on the *normalised* model input (after mean/std), i.e. on what the network
sees. Low-pass results are identical to filtering [0, 1] frames and normalising afterwards
(the DC term is kept); a high-pass input has zero mean per channel, which corresponds to
the dataset's mean colour rather than to black.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vidsparse.core.device import autocast
from vidsparse.data.video.dataset import collate_skipping
from vidsparse.evaluation.accuracy import AccuracyCounter, predict_views

KINDS = ("low_pass", "high_pass")


def max_radius(height: int, width: int | None = None) -> float:
    """Distance from DC to the farthest frequency of an H x W spectrum."""
    width = width or height
    return math.hypot(height // 2, width // 2)


def default_radii(size: int) -> list[float]:
    """Powers of two below the corner radius, then the corner: about log2(size) + 2 points."""
    top = max_radius(size)
    radii, r = [0.0], 1.0
    while r < top:
        radii.append(r)
        r *= 2
    return radii + [round(top, 3)]


def frequency_distance(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """[H, W] distance of each shifted-spectrum entry from the DC term (at H//2, W//2)."""
    ys = torch.arange(height, device=device, dtype=torch.float32) - height // 2
    xs = torch.arange(width, device=device, dtype=torch.float32) - width // 2
    return torch.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)


def filter_frequencies(x: torch.Tensor, radius: float, kind: str) -> torch.Tensor:
    """Low- or high-pass every 2-D slice over the last two dims of ``x`` (float)."""
    if kind not in KINDS:
        raise ValueError(f"unknown filter {kind!r}; valid: {', '.join(KINDS)}")
    h, w = x.shape[-2:]
    keep = frequency_distance(h, w, x.device) <= radius
    if kind == "high_pass":
        keep = ~keep
    spectrum = torch.fft.fftshift(torch.fft.fft2(x.float()), dim=(-2, -1))
    spectrum = spectrum * keep
    out = torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real
    return out.to(x.dtype)


@torch.no_grad()
def fourier_curves(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    device: torch.device,
    radii: list[float],
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = True,
) -> dict:
    """Top-1 at every (filter, radius): {"low_pass": {"r": top1}, "high_pass": {...}, "n": N}.

    The clean inputs are decoded once; every filtered variant of a batch is predicted from it.
    """
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_skipping, pin_memory=device.type == "cuda")
    counters = {(kind, r): AccuracyCounter(num_classes) for kind in KINDS for r in radii}
    skipped = 0
    for clips, labels, _, bad in tqdm(loader, desc="fourier", leave=False, disable=None if progress else True):
        skipped += bad
        if clips is None:
            continue
        clips = clips.to(device, non_blocking=True)
        for (kind, r), counter in counters.items():
            with autocast(device):  # the filter itself runs in fp32 (filter_frequencies casts)
                counter.update(predict_views(model, filter_frequencies(clips, r, kind)), labels)
    result: dict = {kind: {} for kind in KINDS}
    n = 0
    for (kind, r), counter in counters.items():
        acc = counter.result([str(i) for i in range(num_classes)])
        result[kind][format_radius(r)] = acc.top1
        n = acc.n
    result.update(n=n, skipped=skipped)
    return result


def format_radius(r: float) -> str:
    """JSON key of a radius: '4' for whole numbers, '22.627' otherwise."""
    return str(int(r)) if float(r).is_integer() else f"{r:g}"
