"""What a ``vidsparse corrupt`` job makes (``JobConfig``) and what it did (``Summary``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from corruptions.selection import Selected

# x264 CRF of video outputs unless --lossless: visually lossless (measured against lossless on
# real-ish clips in docs/corruptions.md, scripts/measure_output_coding.py).
DEFAULT_CRF = 17


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
    crf: int | None = DEFAULT_CRF  # video outputs: None = lossless
    progress: bool = True
    shard: tuple[int, int] | None = None  # (I, N): this array task's share of the work units
    dry_run: bool = False  # plan + estimate only, write nothing

    def owns(self, unit: int) -> bool:
        """Whether work unit ``unit`` (a video; a CIFAR corruption; an image class at one
        corruption x severity), counted in the job's own order, is this shard's: every N-th,
        so the split depends on the plan alone, never on what is already done."""
        return self.shard is None or unit % self.shard[1] == self.shard[0]


@dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    inputs: int = 0
    outputs: list[str] = field(default_factory=list)  # every output of the job, in its order

    def line(self) -> str:
        """The one-line result the command prints."""
        return (f"{self.written} outputs written, {self.skipped} already done, "
                f"{len(self.failed)} failed ({self.inputs} inputs)")
