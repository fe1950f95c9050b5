"""``vidsparse fidelity``: measure every corruption against its reference code; write docs/fidelity.md."""

from __future__ import annotations

import argparse
import sys

from vidsparse.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "fidelity", help="compare corruptions and method defaults with the papers' reference code",
        description="Run every comparison (corruptions x presets x severities against Hendrycks' scripts, "
                    "imagecorruptions, the UCF101-P and Mini-Kinetics-C generators; sparse-method defaults "
                    "against the papers) on scikit-image photographs and clips filmed over them, and write "
                    "the report. Needs the test extra (pip install -e '.[test]'). A few minutes on a 2-core CPU.",
    )
    parser.add_argument("--out", default="docs/fidelity.md", help="report path (default docs/fidelity.md)")
    parser.add_argument("--quick", action="store_true", help="fewer photographs and draws (what the tests run)")
    parser.add_argument("--only", default="", help="comma-separated check names (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from vidsparse.fidelity.report import write_report
        from vidsparse.fidelity.rows import CHECKS, Options
    except ImportError as err:
        raise UserError(f"vidsparse fidelity needs the reference libraries ({err.name} is missing); "
                        "install them with pip install -e '.[test]'") from None
    names = [n for n in args.only.split(",") if n] or None
    unknown = sorted(set(names or ()) - set(CHECKS))
    if unknown:
        raise UserError(f"unknown check(s) {', '.join(unknown)}; valid: {', '.join(CHECKS)}")
    options = Options.for_tests() if args.quick else Options()
    counts = write_report(args.out, options, names, progress=lambda name: print(f"  {name}", file=sys.stderr))
    print(f"{args.out}: {sum(counts.values())} rows: {counts['matches']} match, {counts['deliberate']} deliberate, "
          f"{counts['DIFFERS']} differ, {counts['not compared']} not compared")
    return 0
