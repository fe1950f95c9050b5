"""``vidsparse corrupt``: write corrupted copies of a dataset, or a preview grid of one frame.

    vidsparse corrupt --dataset ucf101 --data-root /data/UCF101 --out /data/UCF101-P --corruptions all
    vidsparse corrupt --preview video.avi --out grid.png [--preset mini-kinetics-c]

Before the work starts it prints the plan and an estimate of the set's size and the time left,
measured on the first video; --dry-run prints just those and writes nothing. Video outputs are
coded at x264 CRF 17 (visually lossless, a fraction of the bytes); --lossless stores them
exactly. On a cluster, N array tasks each run the job with --shard I/N (I = 0..N-1) into one
--out, and then one run with the same arguments and --merge verifies and joins their manifests
(scripts/slurm_corrupt_array.sh).

An interrupted job (Ctrl-C, SIGTERM, even SIGKILL) resumes when run again with the same
arguments: finished outputs are verified and kept, and the result equals an uninterrupted run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corruptions.selection import CORRUPTIONS_HELP, SEVERITIES_HELP
from vidsparse.errors import UserError
from vidsparse.generation.config import DEFAULT_CRF


def output_crf(crf: int | None, lossless: bool) -> int | None:
    """The CRF of video outputs, None = lossless (``--crf 0`` is the old spelling of --lossless)."""
    if lossless and crf not in (None, 0):
        raise UserError("--lossless and --crf N exclude each other")
    if crf is not None and not 0 <= crf <= 51:
        raise UserError(f"--crf must be 0-51 (x264's range), got {crf}")
    return None if lossless or crf == 0 else (DEFAULT_CRF if crf is None else crf)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "corrupt", help="write corrupted copies of a dataset (or --preview one frame)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--dataset", help="ucf101, hmdb51, folder, synthetic, cifar10, cifar100, tinyimagenet, imagenet "
                          "(every dataset with a writer: 'vidsparse list datasets')")
    add("--data-root", metavar="PATH", help="dataset location (synthetic: generated there if missing; default: cache)")
    add("--out", metavar="PATH", help="output folder (or the PNG file with --preview)")
    add("--corruptions", default="all", metavar="SPEC", help=CORRUPTIONS_HELP + " (default: all)")
    add("--severities", default="1-5", metavar="LIST", help=SEVERITIES_HELP)
    add("--preset", help="ucf101-p (videos' default), hmdb51-p, mini-kinetics-c, imagenet-c, tinyimagenet-c, "
                         "cifar-c, extra")
    add("--variant", default="fixed", choices=["fixed", "reference"],
        help="fixed (default: known reference defects corrected) or reference")
    add("--workers", type=int, default=0, help="worker processes (0/1 = in-process)")
    add("--seed", type=int, default=0, help="base seed; each (video, corruption, severity) derives its own")
    add("--limit", type=int, help="only the first N videos/images (a quick trial)")
    add("--crf", type=int, metavar="N",
        help=f"video outputs: x264 CRF N, 4:4:4 (default {DEFAULT_CRF}: visually lossless, see docs/corruptions.md)")
    add("--lossless", action="store_true",
        help="video outputs: lossless RGB (read back bit-identical to the corruption; about 8x the bytes)")
    add("--dry-run", action="store_true", help="print the plan and the size/time estimate; write nothing")
    add("--shard", metavar="I/N", help="do only this array task's share: every N-th video, I = 0..N-1")
    add("--merge", action="store_true",
        help="after the N --shard tasks: verify and join their manifests (same arguments, no --shard)")
    add("--preview", metavar="FILE", help="write one frame of FILE under every corruption x severity to --out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.out:
        raise UserError("--out PATH is required (an output folder, or a .png with --preview)")
    if args.preview:
        return _run_preview(args)
    from vidsparse.core.graceful_stop import Terminated, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            return _run_job(args)
    except Terminated as stop:
        print(f"vidsparse corrupt: {stop}", file=sys.stderr)
        return stop.exit_code


def _run_preview(args: argparse.Namespace) -> int:
    from corruptions.selection import select
    from vidsparse.generation.preview import default_preset, load_clip, preview

    source, out = Path(args.preview), Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out for --preview must be a .png file, got {out}")
    selection = None
    if args.corruptions != "all" or args.preset:
        fallback = args.preset or default_preset(source, load_clip(source, max_frames=1)[0])
        selection, _ = select(args.corruptions or "all", args.preset, fallback)
    paths = preview(source, out, selection, preset=args.preset, variant=args.variant, seed=args.seed)
    print(f"preview written to {', '.join(map(str, paths))}")
    return 0


def _resolve_root(dataset: str, data_root: str | None) -> Path:
    if dataset != "synthetic":
        if not data_root:
            raise UserError(f"--dataset {dataset} needs --data-root PATH")
        return Path(data_root)
    if data_root and Path(data_root).is_dir() and any(Path(data_root).iterdir()):
        return Path(data_root)  # an existing (synthetic or any UCF101-layout) tree is used as it is
    from tqdm import tqdm

    from vidsparse.config import SyntheticConfig
    from vidsparse.data.video.synthetic import ensure_synthetic

    return ensure_synthetic(data_root or None, SyntheticConfig(), progress=lambda it, desc: tqdm(it, desc=desc))


def _run_job(args: argparse.Namespace) -> int:
    from corruptions.selection import parse_severities, select
    from vidsparse.data.registry import corruptible, get_dataset
    from vidsparse.errors import did_you_mean
    from vidsparse.generation.job import JobConfig, run_job
    from vidsparse.core.distributed import parse_shard
    from vidsparse.data.corrupted import MANIFEST
    from vidsparse.generation.manifest import shard_name
    from vidsparse.generation.shards import merge_shards

    if not args.dataset:
        raise UserError("--dataset NAME is required (or --preview FILE)")
    if args.dataset not in corruptible():
        raise did_you_mean(args.dataset, corruptible(), "dataset")
    if args.workers < 0 or (args.limit is not None and args.limit < 1):
        raise UserError("--workers must be >= 0 and --limit >= 1")
    if args.merge and (args.shard or args.dry_run):
        raise UserError("--merge joins the shards' work: give it the shards' arguments without --shard/--dry-run")
    selection, _ = select(args.corruptions or "all", args.preset, get_dataset(args.dataset).default_preset)
    cfg = JobConfig(
        dataset=args.dataset,
        data_root=_resolve_root(args.dataset, args.data_root),
        out=Path(args.out),
        corruptions=selection,
        severities=parse_severities(args.severities),
        variant=args.variant,
        seed=args.seed,
        workers=args.workers,
        limit=args.limit,
        crf=output_crf(args.crf, args.lossless),
        shard=parse_shard(args.shard),
        dry_run=args.dry_run,
    )
    summary = (merge_shards if args.merge else run_job)(cfg)
    if cfg.dry_run:
        print("vidsparse corrupt: dry run, nothing written")
        return 0
    record = cfg.out / shard_name(MANIFEST, cfg.shard)
    print(f"vidsparse corrupt: {summary.line()}; manifest: {record}")
    for failure in summary.failed[:10]:
        print(f"  failed {failure['output']}: {failure['error']}", file=sys.stderr)
    if len(summary.failed) > 10:
        print(f"  ... {len(summary.failed) - 10} more in {cfg.out / 'failures.jsonl'}", file=sys.stderr)
    return 1 if summary.failed and not summary.written and not summary.skipped else 0
