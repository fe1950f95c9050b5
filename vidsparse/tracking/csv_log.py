"""``--log csv`` (always on): RUN_DIR/scalars.csv, one row per (step, tag, value).

Long format, so columns never change as tags appear (per-layer densities, a new corruption).
Rows are appended and flushed as they come; a resumed run first rewrites the file without the
rows after its checkpoint. Hyper-parameters are config.yaml and evaluation results eval.csv, so
this backend logs neither again.
"""

from __future__ import annotations

import csv
from typing import Any

from vidsparse.core.io import atomic_write_text
from vidsparse.run_dir import RunDir
from vidsparse.tracking.base import Backend, Scalars, TrackedRun, register_backend

HEADER = ["step", "tag", "value"]


@register_backend
class CsvBackend(Backend):
    name = "csv"
    logs_eval = False

    def __init__(self, run: TrackedRun) -> None:
        path = RunDir(run.run_dir).scalars
        kept: list[list[str]] = []
        if run.resume_step is not None and path.is_file():
            with path.open(newline="") as fh:
                kept = [row for row in csv.reader(fh) if row and row[0] != "step"
                        and int(row[0]) <= run.resume_step]
        lines = [",".join(HEADER)] + [",".join(row) for row in kept]
        atomic_write_text(path, "\n".join(lines) + "\n")
        self._file = path.open("a", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")

    def log_params(self, params: dict[str, Any]) -> None:
        """config.yaml already holds them."""

    def log_scalars(self, step: int, scalars: Scalars) -> None:
        self._writer.writerows([step, tag, f"{value:.8g}"] for tag, value in scalars.items())
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_scalars(path) -> dict[str, list[tuple[int, float]]]:
    """scalars.csv -> tag -> [(step, value), ...] in file order (for plots and tests)."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            series.setdefault(row["tag"], []).append((int(row["step"]), float(row["value"])))
    return series
