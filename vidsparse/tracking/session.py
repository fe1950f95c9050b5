"""One run's trackers together (rank 0): open or reopen them, route scalars, commit at checkpoints.

RUN_DIR/tracking.json remembers which backends the run logs to, each backend's run id (W&B,
MLflow), the last step committed (made durable by a checkpoint) and the evaluation numbers
already sent. Rewinding backends (CSV, TensorBoard) get scalars at once and drop what follows the
checkpoint on resume; committing backends (W&B, MLflow) get them at ``commit``, which the loop
calls just before it writes last.pt. A resumed run drops scalars at or below the committed step
for them, so even a kill between the commit and last.pt sends no step twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vidsparse.core.io import atomic_write_json
from vidsparse.run_dir import RunDir
from vidsparse.tracking.base import BACKENDS, Backend, Scalars, TrackedRun, eval_scalars, flatten, parse_backends
from vidsparse.tracking import csv_log, mlflow_log, tensorboard_log, wandb_log  # noqa: F401  (registers them)


@dataclass
class TrackingState:
    """RUN_DIR/tracking.json."""

    backends: list[str] = field(default_factory=list)
    run_ids: dict[str, str] = field(default_factory=dict)
    committed_step: int = -1
    eval_sent: Scalars = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "TrackingState":
        return cls(**json.loads(path.read_text())) if path.is_file() else cls()

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))


class RunTracker:
    """The trackers of one training run on rank 0; other ranks have none."""

    def __init__(self, run_dir: Path, spec: str, params: dict[str, Any], resume_step: int | None) -> None:
        self.files = RunDir(run_dir)
        self.state = TrackingState.load(self.files.tracking) if resume_step is not None else TrackingState()
        self.backends: list[Backend] = []
        for name in parse_backends(spec):
            run = TrackedRun(Path(run_dir), Path(run_dir).resolve().name, resume_step, self.state.run_ids.get(name))
            backend = BACKENDS[name](run)
            self.backends.append(backend)
            if backend.run_id:
                self.state.run_ids[name] = backend.run_id
        self.state.backends = [b.name for b in self.backends]
        self._pending: list[tuple[int, Scalars]] = []
        flat = flatten(params)
        for backend in self.backends:
            backend.log_params(flat)
        self.state.save(self.files.tracking)

    def log(self, step: int, scalars: Scalars) -> None:
        """Scalars at a global step: to rewinding backends now, to committing ones at ``commit``."""
        for backend in self.backends:
            if backend.rewinds:
                backend.log_scalars(step, scalars)
        if step > self.state.committed_step:
            self._pending.append((step, dict(scalars)))

    def commit(self, step: int) -> None:
        """A checkpoint at ``step`` is about to be written: everything up to it becomes final."""
        ready = [(s, v) for s, v in self._pending if s <= step]
        self._pending = [(s, v) for s, v in self._pending if s > step]
        for backend in self.backends:
            if not backend.rewinds:
                merged: dict[int, Scalars] = {}
                for s, values in ready:  # one call per step: W&B wants each step once, in order
                    merged.setdefault(s, {}).update(values)
                for s in sorted(merged):
                    backend.log_scalars(s, merged[s])
            backend.flush()
        self.state.committed_step = max(self.state.committed_step, step)
        self.state.save(self.files.tracking)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        self.backends = []


def attach_eval(run_dir: Path, data: dict[str, Any]) -> list[str]:
    """``vidsparse eval``: add eval.json's numbers to the trackers the run was trained with, at
    its last committed step. Committing backends get only numbers that changed since the last
    attach (MLflow would otherwise keep a second point per metric); returns the backends used."""
    files = RunDir(run_dir)
    state = TrackingState.load(files.tracking)
    scalars = eval_scalars(data)
    if not state.backends or not scalars:
        return []
    step = max(state.committed_step, 0)
    changed = {k: v for k, v in scalars.items() if state.eval_sent.get(k) != v}
    used = []
    for name in parse_backends(",".join(state.backends)):
        backend = BACKENDS[name]
        values = scalars if backend.rewinds else changed
        if values and backend.logs_eval:
            run = TrackedRun(Path(run_dir), Path(run_dir).resolve().name, step, state.run_ids.get(name))
            backend.attach_eval(run, step, values)
            used.append(name)
    state.eval_sent.update(scalars)
    state.save(files.tracking)
    return used
