"""Write corrupted copies of a dataset: ``OUT/<corruption>/<severity>/...`` plus ``manifest.jsonl``.

The dataset's ``DatasetSpec.writer`` picks how (``WRITERS``): ``video`` (ucf101, hmdb51,
folder, synthetic: ``generation.video``), ``npy`` (CIFAR: ``generation.images``) or ``folder``
(ImageNet, Tiny-ImageNet: ``generation.images``). This module plans the outputs, runs them
in worker processes and keeps the manifest (``generation.manifest``).

Every output is written to a temporary name and renamed, and recorded in the manifest with its
sha256; a re-run skips outputs whose file still matches the manifest and redoes the rest, so a
job interrupted at any point (Ctrl-C, SIGTERM, even SIGKILL) and run again ends with the same
files as an uninterrupted one: the manifest is rewritten in the job's own output order, and
temporary files a killed run left behind are deleted. A video or image that fails is logged
and counted, never fatal.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
from tqdm import tqdm

from corruptions.registry import functions
from corruptions.selection import Selected
from corruptions.weather import frost_source
from vidsparse.core.graceful_stop import raise_if_terminated
from vidsparse.data.registry import corruptible, get_dataset
from vidsparse.errors import UserError, did_you_mean
from vidsparse.generation.config import JobConfig, Summary
from vidsparse.generation.estimate import Timer, estimate_line, output_bytes, plan_line, trial_run
from vidsparse.generation.images import array_tasks, corrupt_array, corrupt_folder, folder_tasks, prepare_array_out
from vidsparse.generation.manifest import Manifest, remove_stale_temporaries, write_failures
from vidsparse.generation.video import corrupt_video, prepare_video_out, video_tasks


@dataclass(frozen=True)
class Writer:
    """How one kind of dataset is written (``DatasetSpec.writer`` names it)."""

    plan: Callable[[JobConfig, Manifest, Summary], list]  # this shard's pending tasks; writes nothing
    prepare: Callable[[JobConfig], None]  # side files every copy needs (split lists, labels.npy)
    work: Callable[[Any], list[dict]]  # one task, in a worker: one manifest (or failure) row per output


def _nothing(cfg: JobConfig) -> None:
    """Image folders need no side files."""


WRITERS: dict[str, Writer] = {
    "video": Writer(video_tasks, prepare_video_out, corrupt_video),
    "npy": Writer(array_tasks, prepare_array_out, corrupt_array),
    "folder": Writer(folder_tasks, _nothing, corrupt_folder),
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _worker_init() -> None:
    torch.set_num_threads(1)  # parallelism comes from the processes


def _results(worker: Callable[[Any], list[dict]], tasks: list, workers: int) -> Iterator[list[dict]]:
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small per-frame ops: extra threads only contend (5x slower on a busy CPU)
        try:
            for task in tasks:
                yield worker(task)
        finally:
            torch.set_num_threads(threads)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
    try:
        futures = [pool.submit(worker, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:  # interrupted: drop the queued tasks instead of running them all first
        pool.shutdown(wait=True, cancel_futures=True)


def preload(selection: Iterable[Selected] | None = None) -> None:
    """Import every corruption family and decode the frost photographs once, before workers
    fork, so each worker inherits them instead of paying the cost again.
    ``selection`` None = assume frost is used."""
    functions()
    if selection is None or any(s.name == "frost" for s in selection):
        frost_source()


def check_job(cfg: JobConfig) -> Writer:
    """Fail early on a job that cannot run; return its writer."""
    if cfg.dataset not in corruptible():
        raise did_you_mean(cfg.dataset, corruptible(), "dataset")
    if not cfg.data_root.is_dir():
        raise UserError(f"data root not found: {cfg.data_root}")
    if cfg.shard is not None and not 0 <= cfg.shard[0] < cfg.shard[1]:
        raise UserError(f"--shard I/N needs 0 <= I < N, got {cfg.shard[0]}/{cfg.shard[1]}")
    return WRITERS[get_dataset(cfg.dataset).writer]


def run_job(cfg: JobConfig, report: Callable[[str], None] = say) -> Summary:
    """Make every requested output (of this shard) that is not already done; return what happened.

    Before the rest, the first pending task runs alone and ``report`` gets the estimate of the
    whole job's size and time from it. ``cfg.dry_run``: the plan and that estimate only (the
    first task is made in a temporary folder, deleted after), nothing written under ``cfg.out``.
    """
    writer = check_job(cfg)
    preload(cfg.corruptions)
    manifest, summary = Manifest(cfg.out, cfg.shard), Summary()
    tasks = writer.plan(cfg, manifest, summary)
    report(plan_line(cfg, summary, tasks))
    if cfg.dry_run:
        if tasks:
            report(estimate_line(cfg, summary, tasks, *trial_run(writer.work, tasks[0])))
        return summary
    cfg.out.mkdir(parents=True, exist_ok=True)
    if cfg.shard is None:  # array tasks leave this to --merge: another task may be writing its own
        remove_stale_temporaries(cfg.out)
    if manifest.damaged:
        manifest.compact()
    writer.prepare(cfg)
    failures = []

    total = sum(task.size for task in tasks)
    bar = tqdm(total=total, desc="corrupt", unit="output", disable=not cfg.progress or None, file=sys.stderr)
    timer = Timer()
    try:
        with bar, closing(_results(writer.work, tasks[:1], 0)) as first, \
                closing(_results(writer.work, tasks[1:], cfg.workers)) as rest:
            for k, rows in enumerate(_chain(first, rest)):
                raise_if_terminated()  # a SIGTERM swallowed while the worker pool was forking
                if k == 0 and len(tasks) > 1:
                    seconds = timer.seconds()
                    made = [r for r in rows if "error" not in r]
                    report(estimate_line(cfg, summary, tasks, rows, seconds, output_bytes(cfg.out, made)))
                for row in rows:
                    if "error" in row:
                        failures.append(row)
                        bar.write(f"failed: {row['output']}: {row['error']}", file=sys.stderr)
                    else:
                        manifest.add(row)
                        summary.written += 1
                bar.update(len(rows))
    finally:  # interrupted too: what is finished stays recorded, in the job's order
        manifest.compact(summary.outputs)
    write_failures(cfg.out, failures, cfg.shard)
    summary.failed = [{"source": f["source"], "output": f["output"], "error": f["error"]} for f in failures]
    return summary


def _chain(*parts: Iterator[list[dict]]) -> Iterator[list[dict]]:
    for part in parts:
        yield from part
