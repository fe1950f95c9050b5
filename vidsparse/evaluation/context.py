"""What every evaluator gets: the request, the loaded run, the decisions made, and eval.json."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vidsparse.config import load_run_config
from vidsparse.core.checkpoint import load_checkpoint
from vidsparse.core.distributed import World, current_world
from vidsparse.errors import UserError
from vidsparse.evaluation.attacks import AttackSpec
from vidsparse.evaluation.cells import CLEAN_CELL, Cell
from vidsparse.evaluation.on_device import resolve_corrupt_on
from vidsparse.evaluation.results import EvalFile, Setting
from vidsparse.models import model_from_config
from vidsparse.run_dir import EXPORTED, RunDir
from vidsparse.sparse.packing import load_packed


def say(message: str) -> None:
    if current_world().is_main:
        print(message, file=sys.stderr)


def warn(message: str) -> None:
    say(f"warning: {message}")


@dataclass
class EvalRequest:
    run_dir: Path
    views: tuple[int, int] | None = None  # None = the run's test views
    checkpoint: str = "best"
    device: str = "auto"
    corruptions: str | None = None  # all | PRESET | FAMILY | common15 | NAME,... (corruptions.selection); None = clean
    severities: str | None = None  # "1-5" | "1,3,5"
    preset: str | None = None  # None = the dataset's DatasetSpec.default_preset
    variant: str = "fixed"
    seed: int = 0
    coherent: bool | None = None
    corrupted_root: Path | None = None  # a set made by 'vidsparse corrupt'; None = on the fly
    published_jpeg: bool = False  # images on the fly: JPEG-save each corrupted image as the published -C files
    baseline: Path | None = None  # a run whose errors normalise CE
    fourier: bool = False
    radii: list[float] | None = None
    batch_size: int | None = None
    workers: int | None = None
    corrupt_on: str = "auto"  # auto | device | workers (evaluation.on_device)
    attack: AttackSpec | None = None  # adversarial accuracy besides the rest; None = no attack
    shard: tuple[int, int] | None = None  # (I, N): an array task's share of the on-the-fly samples, no eval.json
    progress: bool = True


@dataclass
class Context:
    """What every evaluator gets: the loaded run and the decisions already made."""

    request: EvalRequest
    cfg: object
    model: torch.nn.Module
    state: dict
    device: torch.device
    classes: list[str]
    names: list[str]
    severities: list[int]
    preset: str
    results: EvalFile
    world: World = field(default_factory=World)
    missing: list[str] = field(default_factory=list)  # requested cells without a result
    checkpoint: str = "best"  # the checkpoint loaded: "last" when the run has no best.pt

    @property
    def progress(self) -> bool:
        return self.request.progress and self.world.is_main

    @property
    def batch_size(self) -> int:
        return self.request.batch_size or self.cfg.train.eval_batch_size

    @property
    def workers(self) -> int:
        return self.cfg.data.workers if self.request.workers is None else self.request.workers

    @property
    def corrupt_on(self) -> str:
        """Where on-the-fly variants are made: ``device`` (batched, the model's device) or ``workers``."""
        return resolve_corrupt_on(self.request.corrupt_on, self.device)

    def cells(self) -> list[Cell]:
        return [CLEAN_CELL] + [Cell(n, s) for n in self.names for s in self.severities]

    def setting(self, views: str) -> Setting:
        req = self.request
        return Setting(views, self.checkpoint, self.state.get("epoch"), self.preset, req.variant, req.seed,
                       req.coherent)

    def pending(self, setting: Setting) -> list[Cell]:
        """Drop results made with other settings; return the cells still to evaluate."""
        dropped = self.results.drop_stale(setting, corruption_settings=bool(self.names))
        if dropped:
            warn(f"dropped {dropped} earlier results of {self.results.path} made with other settings "
                  f"(views, checkpoint, preset, variant or seed)")
        todo = [c for c in self.cells() if not self.results.has(c, setting)]
        reused = len(self.cells()) - len(todo)
        if reused:
            say(f"reusing {reused} finished results from {self.results.path}")
        return todo

    def save(self, families: dict[str, str] | None = None) -> None:
        """Rewrite eval.json and eval.csv (rank 0 only: every rank holds the same results)."""
        if self.world.is_main and self.request.shard is None:  # shards: the merge writes it
            self.results.write(families)

    def record(self, cell: Cell, acc, setting: Setting, error: str = "", **extra) -> None:
        """Store one cell's accuracy (or report it missing) and rewrite eval.json."""
        label = "clean" if cell.is_clean else f"{cell.corruption} severity {cell.severity}"
        if acc is None or acc.n == 0:
            self.missing.append("clean" if cell.is_clean else f"{cell.corruption}/{cell.severity}")
            warn(f"{label}: no result" + (f" ({error})" if error else ""))
            return
        if acc.skipped:
            warn(f"{label}: {acc.skipped} samples skipped" + (f" (first error: {error})" if error else ""))
        self.results.put(cell, acc, setting, **extra)
        self.save()


def load_run_model(run_dir, checkpoint: str = "best", device: torch.device | str = "cpu"):
    """Rebuild a run's model from its config.yaml and load its ``checkpoint`` (``best`` falls back
    to ``last``: ``RunDir.find_checkpoint``; ``exported`` is an export folder's model.safetensors)."""
    if not Path(run_dir).is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    name, path = RunDir(run_dir).find_checkpoint(checkpoint)
    cfg = load_run_config(run_dir)
    state = _load_exported(path, device) if name == EXPORTED else load_checkpoint(path, inference=True)
    model = model_from_config(cfg.model, len(state["classes"]))
    model.load_state_dict(state["model"])
    return cfg, model.to(device).eval(), state


def _load_exported(path: Path, device: torch.device | str) -> dict:
    """An export folder's weights in the shape of a checkpoint (model, classes, epoch)."""
    weights, _, info = load_packed(path, device)
    return {"model": weights, "classes": info.get("classes") or [], "epoch": info.get("epoch")}
