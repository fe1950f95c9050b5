"""The one interface every experiment tracker implements, and the registry of backends.

A backend receives plain data only: flat hyper-parameters, scalars keyed by a slash-separated
tag at an integer global step (optimizer steps done), and the evaluation numbers. It never sees
the training loop, so adding a tracker is one module with ``@register_backend``.

Two kinds of backend differ in how a resumed run avoids duplicate steps: a *rewinding* backend
(``rewinds = True``: CSV, TensorBoard) receives scalars as they are made and, when the run
resumes from a checkpoint at step S, discards everything it holds after S; a *committing*
backend (W&B, MLflow: neither can delete logged points) receives scalars only once a
checkpoint has made their step durable, so it never holds a step the run will redo.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from vidsparse.errors import UserError, did_you_mean

Scalars = dict[str, float]


@dataclass(frozen=True)
class TrackedRun:
    """What a backend needs to open (or reopen) the run's log."""

    run_dir: Path
    name: str  # the run's display name (the run directory's name)
    resume_step: int | None  # None: a fresh run; else the checkpoint step a resumed run continues from
    run_id: str | None  # the backend's id from an earlier session of this run (W&B, MLflow), if any


class Backend(ABC):
    """One tracker (CSV, TensorBoard, W&B, MLflow); opened on rank 0 only."""

    name: ClassVar[str] = ""
    module: ClassVar[str] = ""  # the Python package it needs ("" = none beyond the defaults)
    extra: ClassVar[str] = ""  # the vidsparse extra that installs it ("" = a default dependency)
    rewinds: ClassVar[bool] = True  # see the module docstring
    logs_eval: ClassVar[bool] = True  # False: evaluation results are already on disk in its format
    run_id: str | None = None  # set by backends whose runs have an id to reopen

    @abstractmethod
    def __init__(self, run: TrackedRun) -> None:
        """Open the log; a resumed rewinding backend drops what it holds after ``run.resume_step``."""

    @abstractmethod
    def log_params(self, params: dict[str, Any]) -> None:
        """The resolved configuration, flat (``optim.lr``: 0.1)."""

    @abstractmethod
    def log_scalars(self, step: int, scalars: Scalars) -> None:
        """Scalars at one global step."""

    def log_eval(self, step: int, scalars: Scalars) -> None:
        """Evaluation results (``eval/...``) attached to the run at its last training step."""

    @classmethod
    def attach_eval(cls, run: TrackedRun, step: int, scalars: Scalars) -> None:
        """``vidsparse eval``: reopen the run's log (``run.run_id``), add the results, close it."""
        backend = cls(run)
        try:
            backend.log_eval(step, scalars)
        finally:
            backend.close()

    def flush(self) -> None:
        """Make what was logged durable (the run may be killed right after)."""

    def close(self) -> None:
        """Release files and processes."""


BACKENDS: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available to ``--log`` under its ``name``."""
    BACKENDS[cls.name] = cls
    return cls


def parse_backends(spec: str) -> list[str]:
    """``--log csv,tensorboard`` -> backend names, csv always first; one-line errors for unknown or
    uninstalled ones, so a run fails before any data is read."""
    names = ["csv"]
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name or name in names:
            continue
        if name not in BACKENDS:
            raise did_you_mean(name, sorted(BACKENDS), "--log backend")
        names.append(name)
    for name in names:
        backend = BACKENDS[name]
        if backend.module and importlib.util.find_spec(backend.module) is None:
            how = f"pip install 'vidsparse[{backend.extra}]'" if backend.extra else f"pip install {backend.module}"
            raise UserError(f"--log {name} needs the {backend.module!r} package: {how}")
    return names


def flatten(data: dict[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys; lists and None become strings (trackers take
    numbers, strings and booleans only)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name, sep))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def eval_scalars(data: dict[str, Any]) -> Scalars:
    """eval.json -> ``eval/...`` scalars: clean top-1/top-5, every corruption x severity cell, and
    the numeric leaves of the summary (mPC, rPC, per-family means, ...)."""
    out: Scalars = {}
    for metric in ("top1", "top5"):
        if isinstance(data.get("clean", {}).get(metric), (int, float)):
            out[f"eval/clean/{metric}"] = float(data["clean"][metric])
    for name, severities in data.get("corruptions", {}).items():
        for severity, entry in severities.items():
            for metric in ("top1", "top5"):
                if isinstance(entry.get(metric), (int, float)):
                    out[f"eval/{name}/{severity}/{metric}"] = float(entry[metric])
    for key, value in flatten(data.get("summary") or {}, sep="/").items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"eval/summary/{key}"] = float(value)
    return out
