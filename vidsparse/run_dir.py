"""RunDir: the one owner of a run directory's file names.

A run directory is what ``vidsparse train`` makes and every later command reads or extends::

    config.yaml           the fully resolved RunConfig (written once, at the start)
    last.pt, last.prev.pt  the resumable checkpoint and its predecessor
    best.pt               the best checkpoint at the target density
    metrics.csv           one row per epoch
    sparsity.json         the sparsifier's per-layer report
    eval.json, eval.csv   every evaluation result, with the settings that made it
    fourier.png           radius-accuracy curves (``vidsparse eval --fourier``)
    .eval-partial*.jsonl  predictions of an unfinished evaluation (one per rank)
    scalars.csv           every tracked scalar, one row per (step, tag) (``--log``, always)
    tracking.json         which trackers the run logs to, their run ids, the last committed step
    tensorboard/, wandb/, mlruns/  the TensorBoard, W&B (offline) and MLflow logs (``--log``)

An export folder (``vidsparse export``) is a run directory of its own kind: config.yaml,
eval.json, ``model.safetensors`` (the "exported" checkpoint) and a ``README.md`` model card.

No other module spells these names. It sits just above ``core`` (below ``config``, which reads
and writes ``config.yaml`` through it), so every layer may use it.
"""

from __future__ import annotations

import json
from pathlib import Path

from vidsparse.core.checkpoint import previous_path
from vidsparse.errors import UserError

CHECKPOINTS = ("best", "last")
EXPORTED = "exported"  # the checkpoint of an export folder: model.safetensors


class RunDir:
    """Paths inside one run directory; ``RunDir(path).eval_json`` etc. Nothing is created."""

    CONFIG = "config.yaml"
    METRICS = "metrics.csv"
    SPARSITY = "sparsity.json"
    EVAL = "eval.json"
    EVAL_CSV = "eval.csv"
    FOURIER = "fourier.png"
    PARTIAL = ".eval-partial.jsonl"
    PARTIAL_GLOB = ".eval-partial*"
    SCALARS = "scalars.csv"
    TRACKING = "tracking.json"
    TENSORBOARD = "tensorboard"
    MLRUNS = "mlruns"
    WANDB = "wandb"  # W&B names this folder itself under the directory it is given
    EXPORTED_WEIGHTS = "model.safetensors"
    MODEL_CARD = "README.md"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ----- files -------------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def sparsity(self) -> Path:
        return self.path / self.SPARSITY

    @property
    def eval_json(self) -> Path:
        return self.path / self.EVAL

    @property
    def eval_csv(self) -> Path:
        return self.path / self.EVAL_CSV

    @property
    def fourier(self) -> Path:
        return self.path / self.FOURIER

    @property
    def exported(self) -> Path:
        return self.path / self.EXPORTED_WEIGHTS

    @property
    def model_card(self) -> Path:
        return self.path / self.MODEL_CARD

    # ----- checkpoints -------------------------------------------------------------------
    @property
    def scalars(self) -> Path:
        return self.path / self.SCALARS

    @property
    def tracking(self) -> Path:
        return self.path / self.TRACKING

    @property
    def tensorboard(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def mlruns(self) -> Path:
        return self.path / self.MLRUNS

    @property
    def wandb(self) -> Path:
        return self.path / self.WANDB

    def checkpoint(self, name: str) -> Path:
        """``best`` or ``last`` -> its .pt file."""
        if name not in CHECKPOINTS:
            raise UserError(f"unknown checkpoint {name!r}; valid: {', '.join(CHECKPOINTS)}")
        return self.path / f"{name}.pt"

    @property
    def best(self) -> Path:
        return self.checkpoint("best")

    @property
    def last(self) -> Path:
        return self.checkpoint("last")

    def has_last(self) -> bool:
        """A resumable checkpoint exists (``last.pt`` or the ``last.prev.pt`` it replaced)."""
        return self.last.is_file() or previous_path(self.last).is_file()

    def find_checkpoint(self, wanted: str = "best") -> tuple[str, Path]:
        """(name, path) of the checkpoint to load: ``wanted``, or ``last`` when ``best`` does not exist
        (a run stopped before reaching its target density has no best.pt)."""
        if not self.path.is_dir():
            raise UserError(f"run directory not found: {self.path}")
        if wanted == EXPORTED:
            if self.exported.is_file():
                return EXPORTED, self.exported
            raise UserError(f"no {self.EXPORTED_WEIGHTS} in {self.path}; make it with 'vidsparse export RUN_DIR --out DIR'")
        for name in (wanted, "last") if wanted == "best" else (wanted,):
            if self.checkpoint(name).is_file():
                return name, self.checkpoint(name)
        raise UserError(f"no checkpoint in {self.path} (best.pt/last.pt); train it first with 'vidsparse train'")

    # ----- evaluation --------------------------------------------------------------------
    def partial_log(self, rank: int) -> Path:
        """Where rank ``rank`` logs the predictions of an unfinished evaluation."""
        return self.path / (self.PARTIAL if rank == 0 else f".eval-partial.rank{rank}.jsonl")

    def partial_logs(self) -> list[Path]:
        return sorted(self.path.glob(self.PARTIAL_GLOB))

    def read_eval(self) -> dict | None:
        """The parsed eval.json; None when the run has not been evaluated."""
        return json.loads(self.eval_json.read_text()) if self.eval_json.is_file() else None
