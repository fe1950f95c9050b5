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
from typing import Any, Callable, Iterable, Iterator

import torch
from tqdm import tqdm

from corruptions.registry import functions
from corruptions.selection import Selected
from corruptions.weather import frost_source
from vidsparse.data.registry import corruptible, get_dataset
from vidsparse.errors import UserError, did_you_mean
from vidsparse.generation.config import JobConfig, Summary
from vidsparse.generation.images import array_tasks, corrupt_array, corrupt_folder, folder_tasks
from vidsparse.generation.manifest import Manifest, remove_stale_temporaries, write_failures
from vidsparse.generation.video import copy_metadata, corrupt_video, video_tasks


def _video_plan(cfg: JobConfig, manifest: Manifest, summary: Summary) -> list:
    tasks = video_tasks(cfg, manifest, summary)
    copy_metadata(cfg.data_root, (cfg.out / s.name / str(v) for s in cfg.corruptions for v in cfg.severities), cfg.out)
    return tasks


# DatasetSpec.writer -> (plan the pending tasks, do one task in a worker)
WRITERS: dict[str, tuple[Callable[[JobConfig, Manifest, Summary], list], Callable[[Any], list[dict]]]] = {
    "video": (_video_plan, corrupt_video),
    "npy": (array_tasks, corrupt_array),
    "folder": (folder_tasks, corrupt_folder),
}


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


def run_job(cfg: JobConfig) -> Summary:
    """Make every requested output that is not already done; return what happened."""
    if cfg.dataset not in corruptible():
        raise did_you_mean(cfg.dataset, corruptible(), "dataset")
    if not cfg.data_root.is_dir():
        raise UserError(f"data root not found: {cfg.data_root}")
    preload(cfg.corruptions)
    cfg.out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cfg.out)
    manifest, summary = Manifest(cfg.out), Summary()
    if manifest.damaged:
        manifest.compact()
    plan, worker = WRITERS[get_dataset(cfg.dataset).writer]
    tasks = plan(cfg, manifest, summary)
    failures = []

    total = sum(task.size for task in tasks)
    bar = tqdm(total=total, desc="corrupt", unit="output", disable=not cfg.progress or None, file=sys.stderr)
    try:
        with bar, closing(_results(worker, tasks, cfg.workers)) as results:
            for rows in results:
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
    write_failures(cfg.out, failures)
    summary.failed = [{"source": f["source"], "output": f["output"], "error": f["error"]} for f in failures]
    return summary
