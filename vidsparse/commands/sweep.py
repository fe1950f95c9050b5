"""``vidsparse sweep``: train, evaluate and report a grid of runs, or print the commands for a scheduler."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="a grid of runs (methods x sparsities x seeds ...) and its report",
                                   description=__doc__ + " Finished runs are skipped, interrupted ones resumed.")
    parser.add_argument("--grid", required=True, metavar="FILE.yaml", help="sweep file (see configs/sweeps/)")
    parser.add_argument("--out-root", metavar="DIR",
                        help="where the run directories and report/ go (default runs/<grid file name>)")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print one command per line (train, eval, report) instead of running them")
    parser.add_argument("--shard", metavar="I/N", type=parse_shard,
                        help="run only every N-th run starting at the I-th (1-based), e.g. 1/2 and 2/2 on two "
                             "machines or cores; no report (run 'vidsparse report' once all shards are done)")
    parser.set_defaults(func=run)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index, count = 0, 0
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r}: write I/N with 1 <= I <= N, e.g. --shard 1/2")
    return index, count


def run(args: argparse.Namespace) -> int:
    from vidsparse.workflows.sweep import commands, expand, load_sweep, run_sweep

    spec = load_sweep(args.grid)
    out_root = Path(args.out_root) if args.out_root else Path("runs") / Path(args.grid).stem
    runs = expand(spec, out_root)
    if args.shard:
        index, count = args.shard
        runs = runs[index - 1 :: count]
        spec.report = False
    if args.print_only:
        print("\n".join(commands(spec, runs, out_root)))
        return 0
    outcome = run_sweep(spec, runs, out_root)
    print(f"{len(runs)} runs: {len(outcome.trained)} trained, {len(outcome.skipped)} already trained, "
          f"{len(outcome.evaluated)} evaluated" + (f"; report: {outcome.report}" if outcome.report else ""))
    return 0
