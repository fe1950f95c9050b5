"""What a ``vidsparse corrupt`` job makes (``JobConfig``) and what it did (``Summary``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corruptions.selection import Selected


@dataclass
class JobConfig:
    dataset: str
    data_root: Path
    out: Path
    corruptions: list[Selected]
    severities: list[int]
    variant: str = "fixed"
    seed: int = 0
    workers: int = 0
    limit: int | None = None
    crf: int = 0  # 0 = lossless video outputs
    progress: bool = True


@dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    inputs: int = 0
    outputs: list[str] = field(default_factory=list)  # every output of the job, in its order

    def line(self) -> str:
        return (f"{self.written} outputs written, {self.skipped} already done, "
                f"{len(self.failed)} failed ({self.inputs} inputs)")
