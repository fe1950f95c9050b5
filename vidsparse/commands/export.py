"""``vidsparse export``: a run as a shareable folder (safetensors with bit-packed masks, config,
results, model card); ``vidsparse eval --weights DIR`` evaluates it."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="a run as safetensors + config + eval.json + model card",
                                   description=__doc__)
    parser.add_argument("run", metavar="RUN_DIR", help="run directory made by 'vidsparse train'")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (created)")
    parser.add_argument("--checkpoint", choices=["best", "last"], default="best",
                        help="which checkpoint (best falls back to last)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidsparse.reporting.export import describe, export_run

    print(describe(export_run(args.run, args.out, args.checkpoint)))
    return 0
