"""Training subsets: ``el2n-top:F``, ``el2n-bottom:F`` and ``random:F`` (Xiao et al. 2024 data ratios).

Selection is a pure function of (n, spec, scores, seed) so a subset run can be repeated exactly;
``TrainSubset`` then exposes only the chosen samples to the training loop. Samples keep their
original index, so their augmentation stream is the same as in the full-data run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from vidsparse.errors import UserError

Scores = Sequence[float | None]


def _ranked(scores: Scores, hardest_first: bool) -> list[int]:
    """Indices by score (ties: lower index first); unscored samples (None) always go last."""
    sign = -1.0 if hardest_first else 1.0
    return sorted(range(len(scores)), key=lambda i: (scores[i] is None, sign * (scores[i] or 0.0), i))


def _by_score(hardest_first: bool) -> Callable[[int, int, Scores | None, int], list[int]]:
    def pick(n: int, k: int, scores: Scores | None, seed: int) -> list[int]:
        if scores is None:
            raise UserError("an el2n-* subset needs --scores PATH (the el2n.json from 'vidsparse hardness')")
        return _ranked(scores, hardest_first)[:k]

    return pick


def _random(n: int, k: int, scores: Scores | None, seed: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].tolist()


# rule name -> pick(n, k, scores, seed) -> k indices
SUBSET_RULES: dict[str, Callable[[int, int, Scores | None, int], list[int]]] = {
    "el2n-top": _by_score(hardest_first=True),  # the hardest samples
    "el2n-bottom": _by_score(hardest_first=False),  # the easiest samples
    "random": _random,
}


@dataclass(frozen=True)
class SubsetSpec:
    rule: str
    fraction: float

    @property
    def needs_scores(self) -> bool:
        return self.rule.startswith("el2n")


def parse_subset(spec: str) -> SubsetSpec:
    rule, sep, value = spec.partition(":")
    if rule not in SUBSET_RULES:
        raise UserError(f"--subset {spec!r}: unknown rule {rule!r}; use RULE:FRACTION with RULE one of "
                        f"{', '.join(SUBSET_RULES)} (e.g. el2n-top:0.5)")
    try:
        fraction = float(value) if sep else float("nan")
    except ValueError:
        fraction = float("nan")
    if not 0.0 < fraction <= 1.0:
        raise UserError(f"--subset {spec!r}: fraction must be in (0, 1], e.g. {rule}:0.5")
    return SubsetSpec(rule, fraction)


def subset_size(n: int, fraction: float) -> int:
    """round(fraction * n), halves rounded up (not Python's round-half-to-even)."""
    return int(fraction * n + 0.5)


def select_subset(n: int, spec: str, scores: Scores | None = None, seed: int = 0) -> list[int]:
    """Sorted indices of exactly round(fraction * n) of the n training samples."""
    parsed = parse_subset(spec)
    if scores is not None and len(scores) != n:
        raise UserError(f"--scores holds {len(scores)} scores but the training set has {n} samples; "
                        "recompute them with 'vidsparse hardness' on this dataset")
    k = subset_size(n, parsed.fraction)
    if k < 1:
        raise UserError(f"--subset {spec!r} keeps no sample of {n}; use a larger fraction")
    return sorted(SUBSET_RULES[parsed.rule](n, k, scores, seed))


def load_scores(path: str, dataset: str, labels: Sequence[int]) -> list[float | None]:
    """Scores from an el2n.json, checked against the dataset they will select from."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"--scores file not found: {file}; make it with 'vidsparse hardness'")
    try:
        data = json.loads(file.read_text())
        scores, made_for = data["scores"], data["dataset"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{file} is not an el2n.json from 'vidsparse hardness' (needs 'scores' and 'dataset')") from None
    if made_for != dataset:
        raise UserError(f"--scores {file} was made for dataset {made_for!r}, not {dataset!r}; "
                        "run 'vidsparse hardness' on this dataset")
    if len(scores) != len(labels) or ("labels" in data and list(data["labels"]) != list(labels)):
        raise UserError(f"--scores {file} covers {len(scores)} samples that do not match the {len(labels)} "
                        f"training samples of {dataset}; recompute with the same data settings")
    return scores


class TrainSubset(Dataset):
    """The chosen training samples; forwards the epoch seed so augmentation stays reproducible."""

    def __init__(self, base: Dataset, indices: list[int]) -> None:
        self.base = base
        self.indices = indices

    def set_epoch_seed(self, seed: int) -> None:
        self.base.set_epoch_seed(seed)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> list[int]:
        labels = self.base.labels
        return [labels[i] for i in self.indices]

    def __getitem__(self, index: int):
        return self.base[self.indices[index]]


def apply_subset(train: Dataset, data_cfg, seed: int) -> Dataset:
    """``data_cfg.subset`` ('' = all) applied to a training dataset."""
    if not data_cfg.subset:
        return train
    spec = parse_subset(data_cfg.subset)
    labels = train.labels
    scores = None
    if spec.needs_scores:
        if not data_cfg.scores:
            raise UserError(f"--subset {data_cfg.subset} needs --scores PATH (the el2n.json from 'vidsparse hardness')")
        scores = load_scores(data_cfg.scores, data_cfg.dataset, labels)
    return TrainSubset(train, select_subset(len(labels), data_cfg.subset, scores, seed))
