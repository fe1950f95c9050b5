"""``vidsparse report``: compare evaluated runs (seeds aggregated) in tables and plots, or write
them in the community's formats (``--format robustbench``)."""

from __future__ import annotations

import argparse

FORMATS = ("vidsparse", "robustbench")


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="tables and plots across evaluated runs", description=__doc__)
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories evaluated by 'vidsparse eval'")
    parser.add_argument("--out", required=True, metavar="DIR", help="where report.md, report.csv and the PNGs go")
    parser.add_argument("--format", choices=FORMATS, default="vidsparse",
                        help="vidsparse (default): report.md, report.csv, plots; robustbench: per image run "
                             "RobustBench's model-info JSON + unaggregated CSV (headline: the 15 common "
                             "corruptions), video runs as rows of video_robustness.csv")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.format == "robustbench":
        from vidsparse.reporting.robustbench import HEADLINE_SET, write_robustbench

        written = write_robustbench(args.runs, args.out)
        if any(p.suffix == ".json" for p in written):
            print(f"image headline (corruptions_acc): {HEADLINE_SET}")
        print("wrote " + ", ".join(str(p) for p in written))
        return 0
    from vidsparse.core.tables import format_table
    from vidsparse.reporting.report import build_report
    from vidsparse.reporting.tables import summary_rows

    result = build_report(args.runs, args.out)
    print(format_table(*summary_rows(result.groups)))
    print(f"wrote {result.markdown}, {result.csv}" + "".join(f", {p}" for p in result.plots.values()))
    return 0
