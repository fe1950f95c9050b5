"""``--log tensorboard``: event files in RUN_DIR/tensorboard (``tensorboard --logdir runs``).

A resumed run opens the writer with ``purge_step`` = checkpoint step + 1: TensorBoard then
discards the events the killed session wrote after the checkpoint, so no step appears twice.
The configuration goes to the HParams dashboard. Evaluation results go to the ``eval`` sub-run
(RUN_DIR/tensorboard/eval), purged at the same step each time, so a later ``vidsparse eval``
replaces the earlier numbers instead of adding a second point.
"""

from __future__ import annotations

from typing import Any

from vidsparse.run_dir import RunDir
from vidsparse.tracking.base import Backend, Scalars, TrackedRun, register_backend

# Tags the HParams dashboard shows next to the configuration.
HPARAM_METRICS = ("epoch/test_top1", "epoch/train_acc", "eval/clean/top1", "eval/summary/mpc")


def _writer(logdir, purge_step: int | None):
    from torch.utils.tensorboard import SummaryWriter  # optional: tensorboard (loaded only for --log tensorboard)

    return SummaryWriter(str(logdir), purge_step=purge_step)


@register_backend
class TensorBoardBackend(Backend):
    name = "tensorboard"
    module = "tensorboard"  # a default dependency: missing only in a broken install

    def __init__(self, run: TrackedRun) -> None:
        self.logdir = RunDir(run.run_dir).tensorboard
        self.resumed = run.resume_step is not None
        self._writer = _writer(self.logdir, run.resume_step + 1 if self.resumed else None)

    def log_params(self, params: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams  # optional: tensorboard

        for summary in hparams(params, {tag: 0.0 for tag in HPARAM_METRICS}):
            self._writer.file_writer.add_summary(summary)

    def log_scalars(self, step: int, scalars: Scalars) -> None:
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, value, step)

    @classmethod
    def attach_eval(cls, run: TrackedRun, step: int, scalars: Scalars) -> None:
        """Only the ``eval`` sub-run is opened: the training events stay untouched."""
        writer = _writer(RunDir(run.run_dir).tensorboard / "eval", purge_step=step)
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
        writer.close()

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
