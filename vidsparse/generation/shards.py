"""``vidsparse corrupt --merge``: join the records of N array tasks (``--shard I/N``) into one set.

Each task writes its own outputs into the shared ``OUT`` and records them in its own
``manifest.shard-I-of-N.jsonl`` (and ``failures.shard-I-of-N.jsonl``), so no two tasks ever
write one file. The merge, given the job's own arguments, plans the whole job, checks that
every shard left a manifest, that every output is either recorded with a file that still
matches its checksum or listed as failed, and that the shards recorded nothing the job does
not make; then it writes ``manifest.jsonl`` and ``failures.jsonl`` exactly as one job would
(rows in the job's order), removes the shard records and any temporary file a killed task
left. The result equals a single job's output byte for byte (tested).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from vidsparse.core.io import read_jsonl
from vidsparse.data.corrupted import FAILURES
from vidsparse.errors import UserError
from vidsparse.generation.config import JobConfig, Summary
from vidsparse.generation.job import check_job, preload, say
from vidsparse.generation.manifest import Manifest, remove_stale_temporaries, shard_files, write_failures


def merge_shards(cfg: JobConfig, report: Callable[[str], None] = say) -> Summary:
    """Verify and join the shards' manifests in ``cfg.out`` (``cfg`` = the shards' arguments)."""
    cfg = dataclasses.replace(cfg, shard=None)
    writer = check_job(cfg)
    preload(cfg.corruptions)
    manifests = shard_files(cfg.out)
    if not manifests:
        raise UserError(f"no shard manifests (manifest.shard-I-of-N.jsonl) in {cfg.out}; "
                        f"run 'vidsparse corrupt ... --shard I/N' for every I first")
    counts = sorted({n for _, n in manifests})
    if len(counts) > 1:
        raise UserError(f"{cfg.out} holds manifests of shard counts {counts}; keep those of one --shard I/N split")
    n = counts[0]
    absent = [f"{i}/{n}" for i in range(n) if (i, n) not in manifests]
    if absent:
        raise UserError(f"no manifest of shard(s) {', '.join(absent)} in {cfg.out}: run them (again) before merging")
    manifest = Manifest(cfg.out)  # a single run's rows, if the set was begun without shards
    for path in manifests.values():
        manifest.take(path)
    failed: dict[str, dict] = {}
    for path in shard_files(cfg.out, FAILURES).values():
        failed.update({r["output"]: r for r in read_jsonl(path)[0] if isinstance(r, dict) and "output" in r})
    summary = Summary()
    tasks = writer.plan(cfg, manifest, summary)
    missing = [o for task in tasks for o in task.targets if o not in failed]
    if missing:
        raise UserError(f"{len(missing)} of {len(summary.outputs)} outputs are neither recorded with a matching file "
                        f"nor failed (e.g. {missing[0]}): run their shard again, or the job without --shard to make "
                        f"them; were the shards run with these arguments?")
    foreign = sorted(set(manifest.rows) - set(summary.outputs))
    if foreign:
        raise UserError(f"the shard manifests record {len(foreign)} outputs this job does not make (e.g. {foreign[0]}); "
                        f"merge with the arguments the shards were run with")
    writer.prepare(cfg)
    manifest.compact(summary.outputs)
    position = {output: i for i, output in enumerate(summary.outputs)}
    failures = sorted((failed[o] for task in tasks for o in task.targets), key=lambda r: position[r["output"]])
    write_failures(cfg.out, failures)
    for path in [*manifests.values(), *shard_files(cfg.out, FAILURES).values()]:
        path.unlink()
    removed = remove_stale_temporaries(cfg.out)
    report(f"merged {n} shards: {len(manifest.rows)} outputs verified"
           + (f", {removed} temporary files of killed tasks removed" if removed else ""))
    summary.skipped = len(summary.outputs) - len(failures)
    summary.failed = [{"source": f["source"], "output": f["output"], "error": f["error"]} for f in failures]
    return summary
