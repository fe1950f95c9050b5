"""``vidsparse data synth|check|download``: make the synthetic dataset; find undecodable videos;
fetch CIFAR-10/100."""

from __future__ import annotations

import argparse
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
    check = actions.add_parser("check", help="list videos that cannot be decoded")
    check.add_argument("--data-root", required=True, metavar="PATH")
    check.add_argument("--backend", default="auto", choices=["auto", "decord", "pyav"])
    check.set_defaults(func=run_check)
    download = actions.add_parser("download", help="download and extract CIFAR-10 or CIFAR-100 (python version)")
    download.add_argument("dataset", choices=["cifar10", "cifar100"])
    download.add_argument("--out", required=True, metavar="PATH", help="data root (pass it as --data-root)")
    download.add_argument("--url", default=None, metavar="URL",
                          help="a mirror of the official archive (its md5 is still checked)")
    download.set_defaults(func=run_download)


def run_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vidsparse.config import SyntheticConfig, parse_set_arguments, set_dotted
    from vidsparse.data.synthetic import ensure_synthetic

    cfg = SyntheticConfig()
    for key, value in parse_set_arguments(args.set):
        set_dotted(cfg, key.removeprefix("data.synthetic."), value)
    root = ensure_synthetic(args.out, cfg, progress=lambda it, desc: tqdm(it, desc=desc))
    videos = sum(1 for _ in root.rglob("*.mp4"))
    print(f"synthetic dataset: {videos} videos, {cfg.classes} classes at {root}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    from vidsparse.data.images import download_cifar

    folder = download_cifar(args.dataset, args.out, url=args.url)
    print(f"{args.dataset} ready at {folder}; train with --dataset {args.dataset} --data-root {args.out}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vidsparse.data.video_io import VIDEO_EXTENSIONS, VideoDecodeError, read_clip
    from vidsparse.errors import UserError

    root = Path(args.data_root)
    if not root.is_dir():
        raise UserError(f"data root not found: {root}")
    videos = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
    if not videos:
        raise UserError(f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {root}")
    bad: list[tuple[Path, str]] = []
    for path in tqdm(videos, desc="checking", disable=None):
        try:
            read_clip(path, lambda n: [0, n - 1], args.backend)
        except VideoDecodeError as err:
            bad.append((path, str(err)))
    for path, reason in bad:
        print(f"UNDECODABLE {path}: {reason}")
    print(f"{len(videos) - len(bad)} of {len(videos)} videos decode; {len(bad)} undecodable")
    return 1 if bad else 0
