"""Temporal corruptions of Schiappa et al. (S): exact reorderings and repeats of whole frames.

Each corruption is an *index plan* ``plan(num_frames, param, generator) -> LongTensor``: the
output is ``x[plan(T)]``, so no pixel is ever changed and tests can check the plan against the
definition directly. They are meant for the whole decoded video, before clip sampling (as in
the reference). The ``*_reference`` twins reproduce the on-the-fly evaluation code of (S)
where it differs from the offline generator; two of them change the number of frames.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from corruptions.tables_video import FreezeCount

IndexPlan = Callable[[int, Any, torch.Generator], torch.Tensor]


def _randperm(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randperm(n, generator=generator, device=generator.device).cpu()


def sampling_plan(num_frames: int, rate: int, generator: torch.Generator) -> torch.Tensor:
    """Stutter: keep every ``rate``-th frame and show it ``rate`` times (length kept)."""
    return torch.arange(num_frames) // rate * rate


def reverse_sampling_plan(num_frames: int, rate: int, generator: torch.Generator) -> torch.Tensor:
    """(S) offline generator: keep every ``rate``-th frame, reverse them, repeat each ``rate`` times.

    The first T frames of that sequence are shown. Reversing before repeating (not the
    stutter reversed) matters when T is not a multiple of ``rate``: the last kept frame opens
    with a full ``rate`` repeats and frame 0 is cut short at the end, as in the generator.
    """
    kept = torch.arange(0, num_frames, rate).flip(0)
    return kept.repeat_interleave(rate)[:num_frames]


def sampling_reference_plan(num_frames: int, rate: int, generator: torch.Generator) -> torch.Tensor:
    """(S) on-the-fly code: every ``rate``-th frame, not repeated; the video gets shorter."""
    return torch.arange(0, num_frames, rate)


def reverse_sampling_reference_plan(num_frames: int, rate: int, generator: torch.Generator) -> torch.Tensor:
    return sampling_reference_plan(num_frames, rate, generator).flip(0)


def _segments(num_frames: int, length: int) -> list[torch.Tensor]:
    """Consecutive index runs of ``length`` frames; the last one may be shorter."""
    return list(torch.arange(num_frames).split(length))


def jumble_plan(num_frames: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """Shuffle the frames inside each consecutive segment of ``length`` frames."""
    return torch.cat([seg[_randperm(len(seg), generator)] for seg in _segments(num_frames, length)])


def box_jumble_plan(num_frames: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """Shuffle the order of the consecutive segments of ``length`` frames, each kept intact."""
    segments = _segments(num_frames, length)
    return torch.cat([segments[i] for i in _randperm(len(segments), generator).tolist()])


def _freeze_anchors(num_frames: int, count: FreezeCount, generator: torch.Generator) -> torch.Tensor:
    return _randperm(num_frames, generator)[: count.anchors(num_frames)].sort().values


def _hold(num_frames: int, anchors: torch.Tensor) -> torch.Tensor:
    """Frame i shows the latest anchor <= i (the first anchor before any anchor is reached)."""
    is_anchor = torch.zeros(num_frames, dtype=torch.long)
    is_anchor[anchors] = 1
    owner = (is_anchor.cumsum(0) - 1).clamp(min=0)
    return anchors[owner]


def freeze_plan(num_frames: int, count: FreezeCount, generator: torch.Generator) -> torch.Tensor:
    """k random anchor frames, each held until the next anchor; the length is kept."""
    return _hold(num_frames, _freeze_anchors(num_frames, count, generator))


def freeze_reference_plan(num_frames: int, count: FreezeCount, generator: torch.Generator) -> torch.Tensor:
    """(S) on-the-fly code: as freeze, but the frames before the first anchor are dropped."""
    anchors = _freeze_anchors(num_frames, count, generator)
    return _hold(num_frames, anchors)[int(anchors[0]):]


def _indexing(plan: IndexPlan) -> Callable[..., torch.Tensor]:
    """Turn an index plan into a corruption with the package's function contract."""

    def corrupt(x: torch.Tensor, param: Any, generator: torch.Generator, *, coherent: bool = False) -> torch.Tensor:
        return x[plan(x.shape[0], param, generator).to(x.device)]

    corrupt.__name__ = plan.__name__.removesuffix("_plan")
    corrupt.__doc__ = plan.__doc__
    corrupt.plan = plan  # type: ignore[attr-defined]
    return corrupt


PLANS: dict[str, IndexPlan] = {
    "sampling": sampling_plan,
    "reverse_sampling": reverse_sampling_plan,
    "jumble": jumble_plan,
    "box_jumble": box_jumble_plan,
    "freeze": freeze_plan,
    "sampling_reference": sampling_reference_plan,
    "reverse_sampling_reference": reverse_sampling_reference_plan,
    "freeze_reference": freeze_reference_plan,
}

FUNCTIONS: dict[str, Callable[..., torch.Tensor]] = {name: _indexing(plan) for name, plan in PLANS.items()}
