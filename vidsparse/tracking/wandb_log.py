"""``--log wandb`` (``pip install 'vidsparse[wandb]'``): a Weights & Biases run in RUN_DIR/wandb.

Offline unless ``WANDB_MODE`` says otherwise or ``WANDB_API_KEY`` is set: a cluster node without
network never hangs asking for a key; ``wandb sync RUN_DIR/wandb/offline-run-*`` uploads later.
The run id is kept in tracking.json, so a resumed run and ``vidsparse eval`` reopen the same W&B
run (``resume="allow"``). W&B cannot delete logged points, so it is a committing backend: it
receives each step once a checkpoint has made it durable. Evaluation results go to the run's
summary. Project: ``WANDB_PROJECT`` (default ``vidsparse``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from vidsparse.tracking.base import Backend, Scalars, TrackedRun, register_backend


def _wait_for_a_new_folder(run_dir: Path, run_id: str | None) -> None:
    """W&B names a session's folder by its start second and the run id, so a resume started in
    the same second as the previous session would reuse that folder and replace its history
    file: wait (under a second) until the name is new."""
    if not run_id:
        return
    while any((run_dir / "wandb").glob(f"*-{time.strftime('%Y%m%d_%H%M%S')}-{run_id}")):
        time.sleep(0.05)


@register_backend
class WandbBackend(Backend):
    name = "wandb"
    module = "wandb"
    extra = "wandb"
    rewinds = False

    def __init__(self, run: TrackedRun) -> None:
        import wandb  # optional: wandb

        mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
        _wait_for_a_new_folder(Path(run.run_dir), run.run_id)
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT", "vidsparse"), dir=str(run.run_dir),
                               id=run.run_id, name=run.name, resume="allow", mode=mode,
                               settings=wandb.Settings(quiet=True, console="off"))
        self.run_id = self._run.id

    def log_params(self, params: dict[str, Any]) -> None:
        self._run.config.update(params, allow_val_change=True)

    def log_scalars(self, step: int, scalars: Scalars) -> None:
        self._run.log(dict(scalars), step=step)

    def log_eval(self, step: int, scalars: Scalars) -> None:
        self._run.summary.update(dict(scalars))

    def close(self) -> None:
        self._run.finish()
