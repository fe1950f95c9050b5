"""One run's trackers together (rank 0): open or reopen them, route scalars, commit at checkpoints.

RUN_DIR/tracking.json remembers which backends the run logs to, each backend's run id (W&B,
MLflow), the last step committed (made durable by a checkpoint) and the evaluation numbers
already sent. Rewinding backends (CSV, TensorBoard) get scalars at once and drop what follows the
checkpoint on resume; committing backends (W&B, MLflow) get them at ``commit``, which the loop
calls just before it writes last.pt.

A resumed run redoes the steps after its checkpoint, and the checkpoint's own step may get more
tags (a checkpoint taken after an epoch's last batch is followed by the epoch's row at the same
step). So duplicates are judged per (step, tag): a rewinding backend skips the tags it already
holds at the checkpoint's step (scalars.csv says which); a committing backend skips everything
before the committed step and the tags already committed at it. Even a kill between a commit
and its last.pt sends nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vidsparse.core.io import atomic_write_json
from vidsparse.errors import UserError, first_line
from vidsparse.run_dir import RunDir
from vidsparse.tracking.base import BACKENDS, Backend, Scalars, TrackedRun, eval_scalars, flatten, parse_backends
from vidsparse.tracking import csv_log, mlflow_log, tensorboard_log, wandb_log  # noqa: F401  (registers them)


@dataclass
class TrackingState:
    """RUN_DIR/tracking.json."""

    backends: list[str] = field(default_factory=list)
    run_ids: dict[str, str] = field(default_factory=dict)
    committed_step: int = -1
    committed_tags: list[str] = field(default_factory=list)  # the tags already committed at committed_step
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
            try:
                backend = BACKENDS[name](run)
            except Exception as err:  # a tracker's own failure (no network, bad URI): one line, others closed
                self.close()
                raise UserError(f"--log {name}: could not open the run's {name} log: {first_line(err)}") from err
            self.backends.append(backend)
            if backend.run_id:
                self.state.run_ids[name] = backend.run_id
        self.state.backends = [b.name for b in self.backends]
        self._pending: list[tuple[int, Scalars]] = []
        self.resume_step = resume_step
        self._held_at_resume = set(read_tags_at(self.files.scalars, resume_step)) if resume_step is not None else set()
        flat = flatten(params)
        for backend in self.backends:
            backend.log_params(flat)
        self.state.save(self.files.tracking)

    def log(self, step: int, scalars: Scalars) -> None:
        """Scalars at a global step: to rewinding backends now, to committing ones at ``commit``."""
        fresh = scalars
        if step == self.resume_step:
            fresh = {k: v for k, v in scalars.items() if k not in self._held_at_resume}
        for backend in self.backends:
            if backend.rewinds and fresh:
                backend.log_scalars(step, fresh)
        state = self.state
        if step == state.committed_step:
            scalars = {k: v for k, v in scalars.items() if k not in state.committed_tags}
        if step >= state.committed_step and scalars:
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
        state = self.state
        if step > state.committed_step:
            state.committed_step, state.committed_tags = step, []
        state.committed_tags = sorted(set(state.committed_tags).union(*(v for s, v in ready if s == step)))
        state.save(self.files.tracking)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        self.backends = []


def read_tags_at(path: Path, step: int) -> list[str]:
    """The tags scalars.csv holds at one step."""
    series = csv_log.read_scalars(path) if path.is_file() else {}
    return [tag for tag, points in series.items() if any(s == step for s, _ in points)]


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
