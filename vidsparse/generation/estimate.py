"""What a ``vidsparse corrupt`` job will make and cost, said before it starts.

A full UCF101-P is 13,320 videos x 90 variants; a user should know before launching it whether
it takes hours or weeks and gigabytes or terabytes. The first pending task (one video with all
its outputs, one CIFAR corruption, one image class) is measured as it runs, and its time and
bytes per output are scaled to the whole job. ``--dry-run`` makes that first task in a
temporary folder and deletes it, so it writes nothing under ``--out``.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from vidsparse.generation.config import JobConfig, Summary


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_time(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def output_bytes(out: Path, rows: Sequence[dict]) -> int:
    """Bytes of the outputs ``rows`` record (a file, or a folder of images)."""
    total = 0
    for row in rows:
        path = out / row["output"]
        if path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            total += path.stat().st_size
    return total


def plan_line(cfg: JobConfig, summary: Summary, tasks: Sequence[Any]) -> str:
    shard = f" (shard {cfg.shard[0]}/{cfg.shard[1]}: every {cfg.shard[1]}-th work unit from the {cfg.shard[0]}-th)" if cfg.shard else ""
    pending = sum(len(task.targets) for task in tasks)
    return (f"plan: {summary.inputs} inputs, {len(summary.outputs)} outputs{shard}: {summary.skipped} already "
            f"done, {pending} to write in {len(tasks)} tasks")


def trial_run(work: Callable[[Any], list[dict]], task: Any) -> tuple[list[dict], float, int]:
    """Do ``task`` into a temporary folder, deleted after (``--dry-run``): its rows, seconds and
    the bytes its outputs took."""
    with tempfile.TemporaryDirectory(prefix="vidsparse-estimate-") as tmp:
        timer = Timer()
        rows = work(dataclasses.replace(task, out=Path(tmp)))
        seconds = timer.seconds()
        return rows, seconds, output_bytes(Path(tmp), [r for r in rows if "error" not in r])


def estimate_line(cfg: JobConfig, summary: Summary, tasks: Sequence[Any], rows: Sequence[dict], seconds: float,
                  size: int) -> str:
    """'estimate from the first task: ...': the job's total size and the time left, scaled
    from one task's rows (``size`` bytes of outputs made in ``seconds``) per output."""
    made = [r for r in rows if "error" not in r]
    if not made:
        return f"estimate: none (the first task failed: {rows[0]['error'] if rows else 'no output'})"
    per_output, per_second = size / len(made), seconds / len(rows)
    pending = sum(len(task.targets) for task in tasks)
    parallel = max(1, min(cfg.workers, os.cpu_count() or 1))
    left = per_second * (pending - len(rows)) / parallel
    coding = "lossless" if cfg.crf is None else f"CRF {cfg.crf}"
    return (f"estimate from the first task ({len(rows)} outputs in {seconds:.1f} s, {human_bytes(size)}; "
            f"video coding {coding}): the {len(summary.outputs)} outputs take about "
            f"{human_bytes(per_output * len(summary.outputs))}; the {pending} to write about "
            f"{human_time(per_second * pending / parallel)} with {parallel} worker(s)"
            + ("" if cfg.dry_run else f", {human_time(left)} from now"))
