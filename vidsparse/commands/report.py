"""``vidsparse report``: compare evaluated runs (seeds aggregated) in tables and plots."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="tables and plots across evaluated runs", description=__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories evaluated by 'vidsparse eval'")
    parser.add_argument("--out", required=True, metavar="DIR", help="where report.md, report.csv and the PNGs go")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vidsparse.reporting.report import build_report, summary_rows
    from vidsparse.core.tables import format_table

    result = build_report(args.runs, args.out)
    print(format_table(*summary_rows(result.groups)))
    print(f"wrote {result.markdown}, {result.csv}" + "".join(f", {p}" for p in result.plots.values()))
    return 0
