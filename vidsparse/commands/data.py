"""``vidsparse data synth|check|download``: make the synthetic dataset; report the files that
train/eval/corrupt would skip or adjust; fetch CIFAR-10/100."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="create the synthetic dataset, check a dataset or download CIFAR",
                                   description=__doc__)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    synth = actions.add_parser("synth", help="write the synthetic action dataset (UCF101 layout)")
    synth.add_argument("--out", required=True, metavar="PATH")
    synth.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="synthetic sizes, e.g. --set classes=4 --set frames=32 (keys of data.synthetic)")
    synth.set_defaults(func=run_synth)
    check = actions.add_parser(
        "check", help="list the videos and images train/eval/corrupt would skip (and why) or adjust",
        description="Read every video and image under --data-root as training would and report, per problem "
                    "kind, the files that are skipped and counted, and the files used with an adjustment "
                    "(looped, downscaled, ...), the reader each video gets, and whether random reads equal a "
                    "decode from the start. An image dataset layout at --data-root is also checked as a whole: CIFAR "
                    "python batches, CIFAR-10-C/100-C .npy stacks, Tiny-ImageNet's val annotations, -C folder trees. "
                    "Exit code 1 if any file would be skipped, a read was inexact or a layout has a problem. "
                    "Policies: docs/input-policies.md.")
    check.add_argument("--data-root", required=True, metavar="PATH")
    check.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"])
    check.add_argument("--dataset", metavar="NAME",
                       help="also parse this dataset's split files and report what they list but the disk lacks")
    check.add_argument("--split", type=int, default=1, help="split number for --dataset (default 1)")
    check.add_argument("--clip-len", type=int, default=16, help="frames per clip, to flag short videos (default 16)")
    check.add_argument("--stride", type=int, default=2, help="frame stride within a clip (default 2)")
    check.add_argument("--verify-reads", type=int, default=2, metavar="N",
                       help="random clips per video read through the chosen backend and compared with a decode "
                            "from the start (default 2; 0 skips the comparison)")
    check.add_argument("--verbose", action="store_true",
                       help="also print one line per video (reader, frames decoded vs declared, notes) and list "
                            "the files used with an adjustment (first few per kind)")
    check.set_defaults(func=run_check)
    remux = actions.add_parser(
        "remux", help="copy a dataset tree, rewriting packed-B-frame or unindexed videos by stream copy",
        description="Mirror --data-root into --out. Videos with DivX-packed B-frames (most UCF101/HMDB51 AVIs) are "
                    "unpacked and AVIs without an index get one, by stream copy (no re-encoding; every rewritten "
                    "video is checked to decode to the same frames); every other file is copied as it is. "
                    "Resumable: files already in --out are kept.")
    remux.add_argument("--data-root", required=True, metavar="PATH")
    remux.add_argument("--out", required=True, metavar="PATH")
    remux.set_defaults(func=run_remux)
    download = actions.add_parser("download", help="download and extract CIFAR-10 or CIFAR-100 (python version)")
    download.add_argument("dataset", choices=["cifar10", "cifar100"])
    download.add_argument("--out", required=True, metavar="PATH", help="data root (pass it as --data-root)")
    download.add_argument("--url", default=None, metavar="URL",
                          help="a mirror of the official archive (its md5 is still checked)")
    download.set_defaults(func=run_download)


def run_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vidsparse.config import SyntheticConfig, parse_set_arguments, set_dotted
    from vidsparse.data.video.synthetic import ensure_synthetic

    cfg = SyntheticConfig()
    for key, value in parse_set_arguments(args.set):
        set_dotted(cfg, key.removeprefix("data.synthetic."), value)
    root = ensure_synthetic(args.out, cfg, progress=lambda it, desc: tqdm(it, desc=desc))
    videos = sum(1 for _ in root.rglob("*.mp4"))
    print(f"synthetic dataset: {videos} videos, {cfg.classes} classes at {root}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from vidsparse.data.image.readers import download_cifar

    folder = download_cifar(args.dataset, args.out, url=args.url)
    print(f"{args.dataset} ready at {folder}; train with --dataset {args.dataset} --data-root {args.out}")
    return 0


NOTE_EXAMPLES = 5  # files listed per note kind


def run_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vidsparse.data.build import describe_missing
    from vidsparse.data.check import check_file, data_files, split_missing
    from vidsparse.data.image.layouts import check_layouts
    from vidsparse.data.video.clips import clip_span
    from vidsparse.errors import UserError

    root = Path(args.data_root)
    if not root.is_dir():
        raise UserError(f"data root not found: {root}")
    if args.clip_len < 1 or args.stride < 1:
        raise UserError("--clip-len and --stride must be at least 1")
    missing, missing_names = split_missing(args.dataset, root, args.split) if args.dataset else (0, [])
    layouts = check_layouts(root)  # CIFAR pickles, -C .npy stacks, Tiny-ImageNet annotations, -C trees
    files = data_files(root)
    if not files and not layouts:
        raise UserError(f"no video or image files, CIFAR batches or -C .npy stacks under {root}")
    if args.verify_reads < 0:
        raise UserError("--verify-reads must be 0 or more")
    span = clip_span(args.clip_len, args.stride)
    reports = [check_file(path, span, args.backend, args.verify_reads)
               for path in tqdm(files, desc="checking", disable=None)]
    layout_problems = _print_layouts(layouts)
    tally = _print_report(reports, args.verbose) if reports else None
    if missing:
        print(f"{describe_missing(missing, missing_names, f'samples listed by the {args.dataset} split files')}; "
              "train and eval skip them")
    return 1 if (tally and tally.problems) or layout_problems or missing or any(r.inexact for r in reports) else 0


def _print_layouts(layouts: list) -> int:
    """Facts and problems of each dataset layout found; returns the number of problems."""
    for report in layouts:
        print(f"{report.layout} at {report.root}:")
        for fact in report.facts:
            print(f"  {fact}")
        for problem in report.problems:
            print(f"  PROBLEM {problem}")
    return sum(len(r.problems) for r in layouts)


def run_remux(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vidsparse.data.repair import remux_tree

    summary = remux_tree(Path(args.data_root), Path(args.out),
                         progress=lambda it: tqdm(it, desc="remuxing", disable=None))
    for path, reason in summary.failed:
        print(f"NOT REMUXED {path}: {reason}")
    print(f"{len(summary.remuxed)} videos rewritten by stream copy, {summary.copied} files copied unchanged "
          f"({len(summary.failed)} could not be rewritten) into {args.out}")
    return 1 if summary.failed else 0


def _print_report(reports: list, verbose: bool):
    """Problem files one per line, then counts per problem and per note kind; returns the Tally."""
    from vidsparse.data.check import NOTES, PROBLEMS, Tally, is_video

    for report in reports:
        if report.problem:
            print(f"UNDECODABLE [{report.problem}] {report.message}")
        if report.inexact:
            print(f"INEXACT {report.path}: {report.inexact}; read it with --set data.backend=pyav and report the file")
        elif verbose and is_video(report) and not report.problem:
            print(f"VIDEO {report.describe()}")
    tally = Tally.of(reports)
    for note in tally.notes if verbose else ():
        noted = [r.path for r in reports if note in r.notes]
        for path in noted[:NOTE_EXAMPLES]:
            print(f"NOTE [{note}] {path}")
        if len(noted) > NOTE_EXAMPLES:
            print(f"NOTE [{note}] ... and {len(noted) - NOTE_EXAMPLES} more")
    for kind, count in sorted(tally.problems.items()):
        print(f"  {count:>6}  skipped  {kind:<17} {PROBLEMS[kind]}")
    for note, count in sorted(tally.notes.items()):
        print(f"  {count:>6}  used     {note:<17} {NOTES[note]}")
    if tally.notes and not verbose:
        print("  (--verbose lists the files used with an adjustment)")
    readers = Counter(r.reader for r in reports if r.reader)
    if readers:
        print("  read with: " + ", ".join(f"{name} {count}" for name, count in sorted(readers.items())))
    for label, verb, bad_word, group in (("videos", "decode", "undecodable", [r for r in reports if is_video(r)]),
                                         ("images", "read", "unreadable", [r for r in reports if not is_video(r)])):
        bad = sum(1 for r in group if r.problem)
        if group:
            print(f"{len(group) - bad} of {len(group)} {label} {verb}; {bad} {bad_word}")
    return tally
