"""What the training loop reports to the experiment trackers (``vidsparse.tracking``), on rank 0.

Every ``train.log_every`` optimizer steps: ``train/loss`` (mean over the interval, rank 0's
batches), ``train/lr`` (the rate the last step used) and ``train/samples_per_s`` (all ranks).
After each topology update, and at step 0 for the starting masks: ``sparse/density`` overall,
``sparse/layer_density/<weight>`` per layer (not ``sparse/density/...``: MLflow's file store keeps
one file per metric, so a tag cannot also be the folder of others), ``sparse/mask_churn``
(weights whose mask flipped, over all maskable weights) and ``sparse/drop_fraction`` (the
fraction of active weights swapped, for drop-and-grow methods). Per epoch: every numeric column of metrics.csv as ``epoch/<column>``.
The x axis is always the global step (optimizer steps done).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vidsparse.config import RunConfig
from vidsparse.sparse import Sparsifier
from vidsparse.tracking import RunTracker


class TrainTracking:
    """The loop's view of the trackers; ``TrainTracking(None)`` (ranks other than 0) does nothing."""

    def __init__(self, tracker: RunTracker | None, every: int = 1, world_size: int = 1) -> None:
        self.tracker, self.every, self.world_size = tracker, every, world_size
        self._loss_sum, self._samples = 0.0, 0
        self._since = time.perf_counter()

    @classmethod
    def open(cls, cfg: RunConfig, run_dir: Path, resume_step: int | None, world_size: int,
             sparsifier: Sparsifier) -> "TrainTracking":
        """Rank 0: open (or, resuming, reopen at the checkpoint's step) the configured trackers."""
        tracking = cls(RunTracker(run_dir, cfg.train.log, cfg.to_dict(), resume_step), cfg.train.log_every,
                       world_size)
        if resume_step is None:
            tracking.log(0, topology_scalars(sparsifier, None))
        return tracking

    def log(self, step: int, scalars: dict[str, float]) -> None:
        if self.tracker is not None and scalars:
            self.tracker.log(step, scalars)

    def after_step(self, step: int, loss: float, samples: int, lr: float, sparsifier: Sparsifier) -> None:
        """Called after every optimizer step; ``step`` counts the steps done, this one included."""
        if self.tracker is None:
            return
        self._loss_sum += loss * samples
        self._samples += samples
        update = sparsifier.last_update
        if update is not None and update.step == step - 1:
            self.log(step, topology_scalars(sparsifier, update.changed, sparsifier.drop_fraction_at(update.step)))
        if step % self.every == 0:
            now = time.perf_counter()
            self.log(step, {"train/loss": self._loss_sum / max(self._samples, 1), "train/lr": lr,
                            "train/samples_per_s": self._samples * self.world_size / max(now - self._since, 1e-9)})
            self._loss_sum, self._samples, self._since = 0.0, 0, now

    def epoch(self, step: int, row: dict[str, Any]) -> None:
        """The epoch's metrics.csv row."""
        self.log(step, {f"epoch/{k}": float(v) for k, v in row.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})

    def commit(self, step: int) -> None:
        """Just before last.pt is written at ``step``."""
        if self.tracker is not None:
            self.tracker.commit(step)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None


def topology_scalars(sparsifier: Sparsifier, changed: int | None, drop_fraction: float | None = None
                     ) -> dict[str, float]:
    """Densities (overall and per layer) after a mask change, its churn and drop fraction."""
    totals = sparsifier.density_totals()
    out = {"sparse/density": totals["density"]}
    out.update({f"sparse/layer_density/{t.name}": t.active / t.numel for t in sparsifier.tensors})
    if changed is not None:
        out["sparse/mask_churn"] = changed / totals["params"]
    if drop_fraction is not None:
        out["sparse/drop_fraction"] = drop_fraction
    return out
