"""``vidsparse hardness``: EL2N scores of every training sample from K short runs."""

from __future__ import annotations

import argparse

from vidsparse.commands.train import add_config_arguments, config_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "hardness", help="score training samples by EL2N (for el2n-top/bottom subsets)",
        description="Train K short runs (seeds SEED..SEED+K-1, --epochs each) and write OUT/el2n.json "
                    "and OUT/el2n_hist.png; pass the json to 'vidsparse train --subset el2n-top:0.5 --scores'. "
                    "--out is the hardness folder (runs go to OUT/runs/seedN); rerunning resumes.",
    )
    add_config_arguments(parser)
    parser.add_argument("--runs", type=int, default=4, help="independently seeded runs to average (default 4)")
    parser.add_argument("--squared", action="store_true",
                        help="square the norm, as Xiao et al.'s code does (default: plain L2 norm, Paul et al.)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidsparse.workflows.hardness import compute_hardness

    cfg = config_from_args(args)
    out = cfg.train.out
    result = compute_hardness(cfg, runs=args.runs, epochs=cfg.train.epochs, out=out, squared=args.squared)
    print(f"scores: {result.out_dir / 'el2n.json'}; histogram: {result.out_dir / 'el2n_hist.png'}")
    return 0
