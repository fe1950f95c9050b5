"""RUN_DIR/metrics.csv: one row per epoch, written atomically after each."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from vidsparse.core.io import atomic_write_text

METRIC_FIELDS = ["epoch", "train_loss", "train_acc", "test_top1", "test_top5", "lr", "time_s", "skipped"]


class MetricsLog:
    """metrics.csv with one row per epoch; columns grow when the sparsifier adds metrics."""

    def __init__(self, path: Path | None, rows: list[dict[str, Any]] | None = None) -> None:
        """``path=None`` keeps the rows in memory only (ranks other than 0)."""
        self.path = path
        self.rows = rows or []

    @classmethod
    def load(cls, path: Path, upto_epoch: int) -> "MetricsLog":
        rows = []
        if path.is_file():
            with path.open() as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["epoch"]) <= upto_epoch]
        return cls(path, rows)

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.path is not None:
            atomic_write_text(self.path, self.to_csv())

    def to_csv(self) -> str:
        fields = list(METRIC_FIELDS)
        for r in self.rows:
            fields.extend(k for k in r if k not in fields)
        lines = [",".join(fields)]
        for r in self.rows:
            lines.append(",".join(_fmt(r.get(k, "")) for k in fields))
        return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
